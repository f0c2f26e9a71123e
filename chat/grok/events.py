"""The typed events the rest of the application sees, whichever endpoint produced them.

A stream yields ``Started`` first, then any mix of deltas, tool progress, citations and
function calls, and ends with exactly one ``Completed`` or ``Failed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import GrokError
from .usage import Usage


@dataclass(frozen=True)
class Started:
    response_id: str
    model: str


@dataclass(frozen=True)
class TextDelta:
    text: str
    item_id: str = ""


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the reasoning summary (Responses) or raw reasoning (chat ``reasoning_content``)."""

    text: str
    item_id: str = ""


@dataclass(frozen=True)
class ToolProgress:
    """A server-side tool (search, code) that xAI runs itself: informational only."""

    item_id: str
    tool: str
    status: str
    detail: str = ""


@dataclass(frozen=True)
class Citation:
    url: str
    title: str | None = None


@dataclass(frozen=True)
class FunctionCall:
    """A client-side function the model wants called; only these need local execution."""

    call_id: str
    name: str
    arguments: str
    item_id: str = ""


@dataclass(frozen=True)
class Completed:
    response_id: str
    model: str
    text: str
    reasoning: str = ""
    usage: Usage = field(default_factory=Usage)
    citations: tuple[Citation, ...] = ()
    function_calls: tuple[FunctionCall, ...] = ()
    status: str = "completed"
    incomplete_reason: str | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Failed:
    error: GrokError


Event = Started | TextDelta | ReasoningDelta | ToolProgress | Citation | FunctionCall | Completed | Failed
