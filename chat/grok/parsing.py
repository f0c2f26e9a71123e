"""Turn upstream JSON (streamed events or whole objects) into the typed events.

Both parsers are fed one SSE ``data`` payload at a time and return the events it
produced. State is keyed by item id, because xAI interleaves items (parallel server-side
searches) and finishes them out of order.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import GrokError
from .events import Citation, Completed, Event, Failed, FunctionCall, ReasoningDelta, Started, TextDelta, ToolProgress
from .usage import Usage

# Output item types that xAI executes itself; they only report progress.
SERVER_TOOL_ITEMS = {
    "web_search_call": "web_search",
    "x_search_call": "x_search",
    "custom_tool_call": "x_search",
    "code_interpreter_call": "code_interpreter",
    "file_search_call": "file_search",
    "mcp_call": "mcp",
    "image_generation_call": "image_generation",
}


def _malformed(data: str) -> GrokError:
    return GrokError(
        message="Grok sent a reply the app could not read (malformed stream event).",
        code="malformed_event",
        retryable=True,
        upstream_message=data[:200],
    )


def _load(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise _malformed(data) from None
    if not isinstance(value, dict):
        raise _malformed(data)
    return value


def _tool_detail(item: dict[str, Any]) -> str:
    action = item.get("action")
    if isinstance(action, dict) and action.get("query"):
        return str(action["query"])
    for key in ("arguments", "input"):
        raw = item.get(key)
        if raw:
            try:
                query = json.loads(raw).get("query")
            except (ValueError, AttributeError):
                query = None
            return str(query or raw)[:200]
    return ""


def _error_from_payload(raw: dict[str, Any] | None, fallback: str) -> GrokError:
    raw = raw or {}
    upstream = str(raw.get("message") or raw.get("error") or fallback)
    return GrokError(
        message=f"Grok could not finish the reply: {upstream}",
        code=str(raw.get("code") or "response_failed"),
        retryable=True,
        upstream_message=upstream,
    )


def completed_from_response(obj: dict[str, Any]) -> Completed:
    """A whole Responses object (non-streamed, retrieved, or the last stream event)."""
    texts: list[str] = []
    reasoning: list[str] = []
    citations: list[Citation] = []
    calls: list[FunctionCall] = []
    for item in obj.get("output") or []:
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    texts.append(part.get("text") or "")
                    citations.extend(_citation(a) for a in part.get("annotations") or [] if a.get("url"))
        elif kind == "reasoning":
            reasoning.extend(s.get("text") or "" for s in item.get("summary") or [])
        elif kind == "function_call":
            calls.append(
                FunctionCall(
                    item.get("call_id") or "", item.get("name") or "", item.get("arguments") or "", item.get("id") or ""
                )
            )
    incomplete = obj.get("incomplete_details") or {}
    return Completed(
        response_id=str(obj.get("id") or ""),
        model=str(obj.get("model") or ""),
        text="".join(texts),
        reasoning="".join(reasoning),
        usage=Usage.from_responses(obj.get("usage")),
        citations=tuple(_dedupe(citations)),
        function_calls=tuple(calls),
        status=str(obj.get("status") or "completed"),
        incomplete_reason=incomplete.get("reason") if isinstance(incomplete, dict) else None,
    )


def completed_from_chat(obj: dict[str, Any]) -> Completed:
    choice = (obj.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    calls = tuple(
        FunctionCall(
            c.get("id") or "",
            (c.get("function") or {}).get("name") or "",
            (c.get("function") or {}).get("arguments") or "",
        )
        for c in message.get("tool_calls") or []
    )
    return Completed(
        response_id=str(obj.get("id") or ""),
        model=str(obj.get("model") or ""),
        text=message.get("content") or "",
        reasoning=message.get("reasoning_content") or message.get("reasoning") or "",
        usage=Usage.from_chat(obj.get("usage")),
        citations=tuple(Citation(url) for url in obj.get("citations") or []),
        function_calls=calls,
        finish_reason=choice.get("finish_reason") or ("tool_calls" if calls else None),
    )


def _citation(raw: dict[str, Any]) -> Citation:
    return Citation(url=str(raw.get("url")), title=raw.get("title"))


def _dedupe(citations: list[Citation]) -> list[Citation]:
    seen: set[str] = set()
    unique = []
    for citation in citations:
        if citation.url not in seen:
            seen.add(citation.url)
            unique.append(citation)
    return unique


class ResponsesStreamParser:
    """Events of ``POST /v1/responses`` with ``stream: true``."""

    def __init__(self) -> None:
        self.done = False
        self._response_id = ""
        self._model = ""
        self._text: dict[str, list[str]] = {}
        self._reasoning: list[str] = []
        self._citations: list[Citation] = []
        self._calls: dict[str, FunctionCall] = {}
        self._arguments: dict[str, list[str]] = {}

    def feed(self, data: str) -> list[Event]:
        if data.strip() == "[DONE]":
            if not self.done:
                raise GrokError(
                    message="Grok ended the reply without finishing it.", code="stream_incomplete", retryable=True
                )
            return []
        event = _load(data)
        kind = event.get("type", "")
        handler = getattr(self, "_on_" + kind.replace("response.", "").replace(".", "_"), None)
        if handler is not None:
            return handler(event)
        if (
            kind.endswith(
                (".in_progress", ".searching", ".interpreting", ".executing", ".generating", ".completed", ".failed")
            )
            and "_call" in kind
        ):
            status = kind.rsplit(".", 1)[1]
            tool = kind.split(".")[1].removesuffix("_call")
            return [ToolProgress(event.get("item_id", ""), tool, status)]
        return []

    def _on_created(self, event: dict[str, Any]) -> list[Event]:
        response = event.get("response") or {}
        self._response_id = str(response.get("id") or "")
        self._model = str(response.get("model") or "")
        return [Started(self._response_id, self._model)]

    def _on_output_text_delta(self, event: dict[str, Any]) -> list[Event]:
        item_id = event.get("item_id", "")
        delta = event.get("delta") or ""
        self._text.setdefault(item_id, []).append(delta)
        return [TextDelta(delta, item_id)] if delta else []

    def _on_reasoning_summary_text_delta(self, event: dict[str, Any]) -> list[Event]:
        delta = event.get("delta") or ""
        self._reasoning.append(delta)
        return [ReasoningDelta(delta, event.get("item_id", ""))] if delta else []

    _on_reasoning_text_delta = _on_reasoning_summary_text_delta

    def _on_output_text_annotation_added(self, event: dict[str, Any]) -> list[Event]:
        annotation = event.get("annotation") or {}
        url = annotation.get("url")
        if not url or any(c.url == url for c in self._citations):
            return []
        citation = _citation(annotation)
        self._citations.append(citation)
        return [citation]

    def _on_output_item_added(self, event: dict[str, Any]) -> list[Event]:
        item = event.get("item") or {}
        tool = SERVER_TOOL_ITEMS.get(item.get("type", ""))
        if tool:
            name = item.get("name") or tool
            return [ToolProgress(item.get("id", ""), name, item.get("status") or "in_progress", _tool_detail(item))]
        return []

    def _on_output_item_done(self, event: dict[str, Any]) -> list[Event]:
        item = event.get("item") or {}
        kind = item.get("type", "")
        item_id = item.get("id", "")
        if kind in SERVER_TOOL_ITEMS:
            name = item.get("name") or SERVER_TOOL_ITEMS[kind]
            return [ToolProgress(item_id, name, item.get("status") or "completed", _tool_detail(item))]
        if kind == "function_call":
            arguments = item.get("arguments") or "".join(self._arguments.get(item_id, []))
            call = FunctionCall(item.get("call_id") or "", item.get("name") or "", arguments, item_id)
            self._calls[item_id] = call
            return [call]
        return []

    def _on_function_call_arguments_delta(self, event: dict[str, Any]) -> list[Event]:
        self._arguments.setdefault(event.get("item_id", ""), []).append(event.get("delta") or "")
        return []

    def _on_completed(self, event: dict[str, Any]) -> list[Event]:
        self.done = True
        final = completed_from_response(event.get("response") or {})
        # Trust what was streamed when the final object leaves parts out.
        text = final.text or "".join("".join(parts) for parts in self._text.values())
        citations = final.citations or tuple(self._citations)
        calls = final.function_calls or tuple(self._calls.values())
        return [
            Completed(
                response_id=final.response_id or self._response_id,
                model=final.model or self._model,
                text=text,
                reasoning=final.reasoning or "".join(self._reasoning),
                usage=final.usage,
                citations=citations,
                function_calls=calls,
                status=final.status,
                incomplete_reason=final.incomplete_reason,
            )
        ]

    _on_incomplete = _on_completed
    _on_done = _on_completed

    def _on_failed(self, event: dict[str, Any]) -> list[Event]:
        self.done = True
        response = event.get("response") or {}
        return [Failed(_error_from_payload(response.get("error"), "the response failed"))]

    def _on_error(self, event: dict[str, Any]) -> list[Event]:
        self.done = True
        return [Failed(_error_from_payload(event, "stream error"))]

    def finish(self) -> list[Event]:
        """Called when the stream closes; a stream that never completed is an error."""
        if self.done:
            return []
        raise GrokError(
            message="The connection to Grok closed before the reply was complete.",
            code="stream_incomplete",
            retryable=True,
        )


class ChatStreamParser:
    """Chunks of ``POST /v1/chat/completions`` with ``stream: true``."""

    def __init__(self) -> None:
        self.done = False
        self._id = ""
        self._model = ""
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._tools: dict[int, dict[str, Any]] = {}
        self._usage: dict[str, Any] | None = None
        self._citations: list[str] = []
        self._finish: str | None = None

    def feed(self, data: str) -> list[Event]:
        if data.strip() == "[DONE]":
            return self._complete()
        chunk = _load(data)
        if "choices" not in chunk and ("error" in chunk or "code" in chunk):
            self.done = True
            return [
                Failed(_error_from_payload({"message": chunk.get("error"), "code": chunk.get("code")}, "stream error"))
            ]
        events: list[Event] = []
        if not self._id:
            self._id = str(chunk.get("id") or "")
            self._model = str(chunk.get("model") or "")
            events.append(Started(self._id, self._model))
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            # xAI says reasoning_content; OpenRouter says reasoning.
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                self._reasoning.append(reasoning)
                events.append(ReasoningDelta(reasoning))
            if delta.get("content"):
                self._text.append(delta["content"])
                events.append(TextDelta(delta["content"]))
            for call in delta.get("tool_calls") or []:
                slot = self._tools.setdefault(int(call.get("index", 0)), {"id": "", "name": "", "arguments": []})
                function = call.get("function") or {}
                slot["id"] = call.get("id") or slot["id"]
                slot["name"] = function.get("name") or slot["name"]
                slot["arguments"].append(function.get("arguments") or "")
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        if chunk.get("citations"):
            self._citations = list(chunk["citations"])
        return events

    def _complete(self) -> list[Event]:
        self.done = True
        calls = tuple(
            FunctionCall(slot["id"], slot["name"], "".join(slot["arguments"]))
            for _, slot in sorted(self._tools.items())
        )
        citations = tuple(Citation(url) for url in self._citations)
        return [
            *citations,
            *calls,
            Completed(
                response_id=self._id,
                model=self._model,
                text="".join(self._text),
                reasoning="".join(self._reasoning),
                usage=Usage.from_chat(self._usage),
                citations=citations,
                function_calls=calls,
                finish_reason=self._finish or ("tool_calls" if calls else None),
            ),
        ]

    def finish(self) -> list[Event]:
        if self.done:
            return []
        if self._finish:  # some gateways close without [DONE]
            return self._complete()
        raise GrokError(
            message="The connection to Grok closed before the reply was complete.",
            code="stream_incomplete",
            retryable=True,
        )
