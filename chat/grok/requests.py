"""Request shapes for the two text APIs, built into JSON bodies in one place each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "developer", "user", "assistant"]


@dataclass(frozen=True)
class ImageInput:
    """An image by ``https://`` URL or ``data:image/...;base64,`` URL."""

    url: str
    detail: Literal["auto", "low", "high"] = "auto"


@dataclass(frozen=True)
class Message:
    role: Role
    text: str
    images: tuple[ImageInput, ...] = ()

    def as_responses_item(self) -> dict[str, Any]:
        if not self.images:
            return {"role": self.role, "content": self.text}
        parts: list[dict[str, Any]] = [
            {"type": "input_image", "image_url": image.url, "detail": image.detail} for image in self.images
        ]
        parts.append({"type": "input_text", "text": self.text})
        return {"role": self.role, "content": parts}

    def as_chat_message(self) -> dict[str, Any]:
        role = "system" if self.role == "developer" else self.role
        if not self.images:
            return {"role": role, "content": self.text}
        parts: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": image.url, "detail": image.detail}} for image in self.images
        ]
        parts.append({"type": "text", "text": self.text})
        return {"role": role, "content": parts}


def function_tool(name: str, parameters: dict[str, Any], description: str = "") -> dict[str, Any]:
    """A client-side function tool in the Responses shape."""
    return {"type": "function", "name": name, "description": description, "parameters": parameters}


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


@dataclass(frozen=True)
class ResponsesRequest:
    model: str
    input: str | tuple[Message | dict[str, Any], ...]
    instructions: str | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, Any] | None = None
    text_format: dict[str, Any] | None = None  # e.g. {"type": "json_schema", "name": ..., "schema": ...}
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self, *, stream: bool) -> dict[str, Any]:
        if isinstance(self.input, str):
            input_value: Any = self.input
        else:
            input_value = [item.as_responses_item() if isinstance(item, Message) else item for item in self.input]
        reasoning = None
        if self.reasoning_effort or self.reasoning_summary:
            reasoning = _drop_none({"effort": self.reasoning_effort, "summary": self.reasoning_summary})
        body = _drop_none(
            {
                "model": self.model,
                "input": input_value,
                "instructions": self.instructions,
                "previous_response_id": self.previous_response_id,
                "store": self.store,
                "max_output_tokens": self.max_output_tokens,
                "temperature": self.temperature,
                "top_p": self.top_p,
                "reasoning": reasoning,
                "tools": list(self.tools) or None,
                "tool_choice": self.tool_choice,
                "text": {"format": self.text_format} if self.text_format else None,
            }
        )
        if stream:
            body["stream"] = True
        body.update(self.extra)
        return body


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[Message | dict[str, Any], ...]
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    reasoning_effort: str | None = None
    tools: tuple[dict[str, Any], ...] = ()  # chat shape: {"type": "function", "function": {...}}
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self, *, stream: bool = False, deferred: bool = False) -> dict[str, Any]:
        body = _drop_none(
            {
                "model": self.model,
                "messages": [m.as_chat_message() if isinstance(m, Message) else m for m in self.messages],
                "max_completion_tokens": self.max_completion_tokens,
                "temperature": self.temperature,
                "top_p": self.top_p,
                "reasoning_effort": self.reasoning_effort,
                "tools": list(self.tools) or None,
                "tool_choice": self.tool_choice,
                "response_format": self.response_format,
            }
        )
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if deferred:
            body["deferred"] = True
        body.update(self.extra)
        return body


@dataclass(frozen=True)
class ImageRequest:
    model: str
    prompt: str
    n: int = 1
    response_format: Literal["url", "b64_json"] = "url"
    aspect_ratio: str | None = None
    resolution: str | None = None

    def body(self) -> dict[str, Any]:
        return _drop_none(
            {
                "model": self.model,
                "prompt": self.prompt,
                "n": self.n,
                "response_format": self.response_format,
                "aspect_ratio": self.aspect_ratio,
                "resolution": self.resolution,
            }
        )
