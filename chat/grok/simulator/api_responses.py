"""``/v1/responses``: create (streamed or not), retrieve, delete, chaining, replay."""

from __future__ import annotations

import copy
import json
import random
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..models import ModelSpec
from . import tokenizer
from .common import (
    NOT_FOUND,
    SimError,
    authenticate,
    check_parameters,
    inject_failure,
    invalid,
    read_json,
    require,
    resolve_model,
    sim_of,
    wait_like_generation,
)
from .config import Directive, strip_directive
from .generate import Context, Plan, cost_ticks, image_tokens, plan_reply
from .state import StoredResponse
from .stream import Frame, SSEResponse, replay_frames

# Vertex AI stores a response only when asked; OpenRouter's Responses API never does.
STORE_OFF_BY_DEFAULT = frozenset({"vertex", "openrouter"})
STATELESS = frozenset({"openrouter"})


def add_input(context: Context, value: Any) -> None:
    """Flatten Responses ``input`` (a string or a list of items) into the context."""
    if isinstance(value, str):
        context.items.append(("user", value))
        return
    if not isinstance(value, list):
        raise invalid("input must be a string or a list of input items.")
    for item in value:
        if not isinstance(item, dict):
            raise invalid("Each input item must be an object.")
        kind = item.get("type", "message")
        if kind == "function_call_output":
            context.items.append(("tool", str(item.get("output", ""))))
        elif kind == "function_call":
            context.items.append(("assistant", f"{item.get('name')}({item.get('arguments')})"))
        elif kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise invalid(f"Invalid role '{role}' in input message.")
            context.items.append(("system" if role == "developer" else role, _content_text(context, item)))
        # reasoning and other replayed output items add nothing the simulator reads


def _content_text(context: Context, item: dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise invalid("Each message must have at least one content element.")
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            texts.append(str(part.get("text", "")))
        elif kind == "input_image":
            if part.get("detail", "auto") not in ("auto", "low", "high"):
                raise invalid("input_image.detail must be one of auto, low, high.")
            context.image_tokens += image_tokens(str(part.get("image_url", "")))
        elif kind == "input_file":
            texts.append(f"[file {part.get('file_id') or part.get('filename')}]")
        else:
            raise invalid(f"Unsupported content part type '{kind}'.")
    return "\n".join(texts)


def _usage(spec: ModelSpec, context: Context, plan: Plan, calls_tokens: int) -> dict[str, Any]:
    input_tokens = context.input_tokens()
    cached = context.cached_tokens()
    output = len(plan.text) + len(plan.reasoning) + calls_tokens
    details = {
        "web_search_calls": 0,
        "x_search_calls": 0,
        "code_interpreter_calls": 0,
        "file_search_calls": 0,
        "mcp_calls": 0,
        "document_search_calls": 0,
        "image_generation_calls": 0,
    }
    for tool in plan.server_tools:
        details[f"{tool}_calls"] += 1
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": len(plan.reasoning)},
        "total_tokens": input_tokens + output,
        "num_sources_used": len(plan.citations),
        "num_server_side_tools_used": len(plan.server_tools),
        "cost_in_usd_ticks": cost_ticks(
            spec, input_tokens=input_tokens, cached=cached, output_tokens=output, server_tools=len(plan.server_tools)
        ),
        "server_side_tool_usage_details": details,
    }


def _server_tool_item(kind: str, rid: str, index: int, query: str, rng: random.Random) -> dict[str, Any]:
    if kind == "x_search":
        call = f"xs_call_{rng.randint(10_000_000, 99_999_999)}"
        return {
            "call_id": call,
            "input": json.dumps({"query": query, "limit": 20, "mode": "Latest"}),
            "name": "x_keyword_search",
            "type": "custom_tool_call",
            "id": f"ctc_{rid}_{call}",
            "status": "completed",
        }
    if kind == "code_interpreter":
        return {
            "arguments": json.dumps({"code": f"print({len(query)})"}),
            "call_id": "",
            "name": "code_execution",
            "type": "code_interpreter_call",
            "id": f"fc_{rid}_{index}",
            "status": "completed",
        }
    return {
        "arguments": json.dumps({"query": query, "num_results": 5}),
        "call_id": "",
        "name": "web_search",
        "type": "web_search_call",
        "id": f"fc_{rid}_{index}",
        "status": "completed",
    }


def _output(rid: str, plan: Plan, query: str) -> list[dict[str, Any]]:
    rng = random.Random(rid)
    items: list[dict[str, Any]] = []
    if plan.reasoning:
        items.append(
            {
                "id": f"rs_{rid}",
                "summary": [{"text": "".join(plan.reasoning), "type": "summary_text"}],
                "type": "reasoning",
                "status": "completed",
            }
        )
    for index, kind in enumerate(plan.server_tools):
        items.append(_server_tool_item(kind, rid, index, query, rng))
    for index, call in enumerate(plan.function_calls):
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{rid}_{index}",
                "call_id": call["call_id"],
                "name": call["name"],
                "arguments": call["arguments"],
                "status": "completed",
            }
        )
    if not plan.function_calls:
        part = {
            "type": "output_text",
            "text": "".join(plan.text),
            "logprobs": [],
            "annotations": [{"type": "url_citation", "url": url} for url in plan.citations],
        }
        items.append(
            {"content": [part], "id": f"msg_{rid}", "role": "assistant", "type": "message", "status": plan.status}
        )
    return items


def response_object(
    *,
    rid: str,
    spec: ModelSpec,
    body: dict[str, Any],
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    status: str,
    store: bool,
    created_at: int,
) -> dict[str, Any]:
    reasoning = body.get("reasoning") or {}
    text = body.get("text") or {"format": {"type": "text"}}
    return {
        "created_at": created_at,
        "id": rid,
        "max_output_tokens": body.get("max_output_tokens"),
        "model": spec.id,
        "object": "response",
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "temperature": body.get("temperature", 1),
        "text": text,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1),
        "usage": usage,
        "user": body.get("user"),
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "status": status,
        "store": store,
        "metadata": body.get("metadata") or {},
        "background": False,
        "service_tier": "default",
        "truncation": "disabled",
        "top_logprobs": 0,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "max_tool_calls": None,
        "safety_identifier": None,
        "error": None,
        "instructions": body.get("instructions"),
        "completed_at": int(time.time()) if status != "in_progress" else None,
    }


class _Events:
    """Builds the event list, numbering ``sequence_number`` from 0."""

    def __init__(self, event_lines: bool) -> None:
        self.frames: list[Frame] = []
        self.event_lines = event_lines

    def add(self, kind: str, paced: bool = False, **fields: Any) -> None:
        payload = {"sequence_number": len(self.frames), "type": kind, **fields}
        self.frames.append(Frame(payload, paced=paced, event=kind if self.event_lines else None))


def stream_frames(final: dict[str, Any], plan: Plan, *, event_lines: bool, done_marker: bool) -> list[Frame]:
    events = _Events(event_lines)
    opening = {
        **copy.deepcopy(final),
        "status": "in_progress",
        "output": [],
        "usage": None,
        "completed_at": None,
        "incomplete_details": None,
    }
    events.add("response.created", response=opening)
    events.add("response.in_progress", response=opening)
    for index, item in enumerate(final["output"]):
        item_id, kind = item["id"], item["type"]
        if kind == "reasoning":
            summary = item["summary"][0]["text"]
            events.add(
                "response.output_item.added", item={**item, "summary": [], "status": "in_progress"}, output_index=index
            )
            events.add(
                "response.reasoning_summary_part.added",
                item_id=item_id,
                output_index=index,
                part={"text": "", "type": "summary_text"},
                summary_index=0,
            )
            for token in plan.reasoning:
                events.add(
                    "response.reasoning_summary_text.delta",
                    paced=True,
                    delta=token,
                    item_id=item_id,
                    output_index=index,
                    summary_index=0,
                )
            events.add(
                "response.reasoning_summary_text.done",
                item_id=item_id,
                output_index=index,
                summary_index=0,
                text=summary,
            )
            events.add(
                "response.reasoning_summary_part.done",
                item_id=item_id,
                output_index=index,
                part={"text": summary, "type": "summary_text"},
                summary_index=0,
            )
        elif kind == "message":
            part = item["content"][0]
            events.add(
                "response.output_item.added", item={**item, "content": [], "status": "in_progress"}, output_index=index
            )
            events.add(
                "response.content_part.added",
                content_index=0,
                item_id=item_id,
                output_index=index,
                part={"type": "output_text", "text": "", "logprobs": [], "annotations": []},
            )
            for token in plan.text:
                events.add(
                    "response.output_text.delta",
                    paced=True,
                    content_index=0,
                    delta=token,
                    item_id=item_id,
                    output_index=index,
                    logprobs=[],
                )
            for n, annotation in enumerate(part["annotations"]):
                events.add(
                    "response.output_text.annotation.added",
                    annotation=annotation,
                    annotation_index=n,
                    content_index=0,
                    item_id=item_id,
                    output_index=index,
                )
            events.add(
                "response.output_text.done",
                content_index=0,
                item_id=item_id,
                output_index=index,
                text=part["text"],
                logprobs=[],
            )
            events.add("response.content_part.done", content_index=0, item_id=item_id, output_index=index, part=part)
        elif kind == "custom_tool_call":
            events.add(
                "response.output_item.added", item={**item, "input": "", "status": "in_progress"}, output_index=index
            )
            events.add(
                "response.custom_tool_call_input.delta", item_id=item_id, output_index=index, delta=item["input"]
            )
            events.add("response.custom_tool_call_input.done", item_id=item_id, output_index=index, input=item["input"])
        else:  # web_search_call, code_interpreter_call, function_call arrive whole
            events.add("response.output_item.added", item=item, output_index=index)
        events.add("response.output_item.done", item=item, output_index=index)
    events.add("response.incomplete" if final["status"] == "incomplete" else "response.completed", response=final)
    if done_marker:
        events.frames.append(Frame("[DONE]"))
    return events.frames


async def create(request: Request, dialect: str) -> Response:
    sim = sim_of(request)
    authenticate(request, dialect)
    body = await read_json(request)
    spec = resolve_model(require(body, "model", str), dialect)
    require(body, "input", (str, list))
    previous = body.get("previous_response_id")
    if previous and dialect in STATELESS:
        raise invalid("previous_response_id is not supported: this Responses API is stateless.")
    instructions = body.get("instructions")
    if previous and instructions:
        raise invalid("instructions cannot be used together with previous_response_id.")
    effort = (body.get("reasoning") or {}).get("effort")
    check_parameters(spec, body, effort, effort_field="reasoning.effort")

    context = Context()
    if previous:
        stored = sim.state.responses.get(previous)
        if stored is None:
            raise SimError(404, NOT_FOUND, f"Response with id '{previous}' not found.")
        context.items = list(stored.context)
        context.cached_items = len(context.items)
    if instructions:
        context.items.append(("system", str(instructions)))
    add_input(context, body["input"])
    request.state.prompt = context.last_user_text
    directive = Directive.parse(context.last_user_text).with_defaults(sim.config)
    failure = await inject_failure(request, directive, body)
    if failure is not None:
        return failure
    stream = bool(body.get("stream"))
    if directive.replay:
        frames = replay_frames(directive.replay, event_lines=sim.config.event_lines)
        return SSEResponse(frames, directive=directive, state=sim.state, trace_id=f"replay-{uuid.uuid4()}")

    text_format = (body.get("text") or {}).get("format") or {}
    plan = plan_reply(
        spec=spec,
        context=context,
        directive=directive,
        effort=effort,
        tools=body.get("tools") or [],
        tool_choice=body.get("tool_choice"),
        schema=text_format.get("schema") if text_format.get("type") == "json_schema" else None,
        json_object=text_format.get("type") == "json_object",
        max_output_tokens=body.get("max_output_tokens"),
    )
    rid = str(uuid.uuid4())
    calls_tokens = sum(tokenizer.count(c["arguments"]) for c in plan.function_calls)
    store = bool(body.get("store", dialect not in STORE_OFF_BY_DEFAULT)) and dialect not in STATELESS
    final = response_object(
        rid=rid,
        spec=spec,
        body=body,
        output=_output(rid, plan, strip_directive(context.last_user_text)[:80]),
        usage=_usage(spec, context, plan, calls_tokens),
        status=plan.status,
        store=store,
        created_at=int(time.time()),
    )
    reply = "".join(plan.text) or " ".join(f"{c['name']}({c['arguments']})" for c in plan.function_calls)

    def keep() -> None:
        if store:
            sim.state.responses[rid] = StoredResponse(final, [*context.items, ("assistant", reply)])

    if not stream:
        await wait_like_generation(directive, plan.output_tokens)
        keep()
        return JSONResponse(final)
    frames = stream_frames(final, plan, event_lines=sim.config.event_lines, done_marker=sim.config.done_marker)
    return SSEResponse(frames, directive=directive, state=sim.state, trace_id=rid, on_complete=keep)


async def retrieve(request: Request, dialect: str) -> Response:
    authenticate(request, dialect)
    stored = sim_of(request).state.responses.get(request.path_params["response_id"])
    if stored is None:
        raise SimError(404, NOT_FOUND, "Response not found.")
    return JSONResponse(stored.body)


async def delete(request: Request, dialect: str) -> Response:
    authenticate(request, dialect)
    response_id = request.path_params["response_id"]
    if sim_of(request).state.responses.pop(response_id, None) is None:
        raise SimError(404, NOT_FOUND, "Response not found.")
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})
