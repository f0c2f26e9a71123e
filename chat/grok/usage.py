"""One usage shape for both upstream APIs.

Responses counts reasoning inside ``output_tokens``; chat completions does not
(``total = prompt + completion + reasoning``). Here ``output_tokens`` is always the
visible output only and ``reasoning_tokens`` is separate, so
``total_tokens = input_tokens + output_tokens + reasoning_tokens`` for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

TICKS_PER_USD = 10_000_000_000


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    image_tokens: int = 0
    sources_used: int = 0
    server_side_tool_calls: int = 0
    cost_ticks: int | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.reasoning_tokens

    @property
    def billed_output_tokens(self) -> int:
        """Reasoning is billed at the output price."""
        return self.output_tokens + self.reasoning_tokens

    @property
    def cost_usd(self) -> Decimal | None:
        if self.cost_ticks is None:
            return None
        return Decimal(self.cost_ticks) / TICKS_PER_USD

    @classmethod
    def from_responses(cls, raw: dict | None) -> Usage:
        if not raw:
            return cls()
        reasoning = _int((raw.get("output_tokens_details") or {}).get("reasoning_tokens"))
        return cls(
            input_tokens=_int(raw.get("input_tokens")),
            cached_input_tokens=_int((raw.get("input_tokens_details") or {}).get("cached_tokens")),
            output_tokens=max(0, _int(raw.get("output_tokens")) - reasoning),
            reasoning_tokens=reasoning,
            image_tokens=_int((raw.get("input_tokens_details") or {}).get("image_tokens")),
            sources_used=_int(raw.get("num_sources_used")),
            server_side_tool_calls=_int(raw.get("num_server_side_tools_used")),
            cost_ticks=_optional_int(raw.get("cost_in_usd_ticks")),
        )

    @classmethod
    def from_chat(cls, raw: dict | None) -> Usage:
        if not raw:
            return cls()
        prompt_details = raw.get("prompt_tokens_details") or {}
        completion_details = raw.get("completion_tokens_details") or {}
        return cls(
            input_tokens=_int(raw.get("prompt_tokens")),
            cached_input_tokens=_int(prompt_details.get("cached_tokens")),
            output_tokens=_int(raw.get("completion_tokens")),
            reasoning_tokens=_int(completion_details.get("reasoning_tokens")),
            image_tokens=_int(prompt_details.get("image_tokens")),
            sources_used=_int(raw.get("num_sources_used")),
            server_side_tool_calls=_int(raw.get("num_server_side_tools_used")),
            cost_ticks=_optional_int(raw.get("cost_in_usd_ticks")),
        )


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def _optional_int(value: object) -> int | None:
    return None if value is None else _int(value)
