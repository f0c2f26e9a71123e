"""``/v1/messages``: the Anthropic-compatible endpoint, streamed and not."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .common import (
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
from .config import Directive
from .generate import Context, Plan, image_tokens, plan_reply
from .stream import Frame, SSEResponse


def _context(body: dict[str, Any]) -> Context:
    context = Context()
    system = body.get("system")
    if isinstance(system, list):
        system = "\n".join(str(block.get("text", "")) for block in system if isinstance(block, dict))
    if system:
        context.items.append(("system", str(system)))
    messages = require(body, "messages", list)
    if not messages:
        raise invalid("messages must contain at least one message.")
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant"):
            raise invalid(f"Invalid role '{role}'.")
        if isinstance(content, list):
            texts = []
            for block in content:
                kind = block.get("type")
                if kind == "text":
                    texts.append(str(block.get("text", "")))
                elif kind == "image":
                    source = block.get("source") or {}
                    url = source.get("url") or f"data:{source.get('media_type')};base64,{source.get('data', '')}"
                    context.image_tokens += image_tokens(url)
                elif kind == "tool_result":
                    role = "tool"
                    texts.append(
                        json.dumps(block.get("content"))
                        if not isinstance(block.get("content"), str)
                        else block["content"]
                    )
            content = "\n".join(texts)
        context.items.append((role, str(content or "")))
    return context


def _tools(body: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    tools = [
        {"type": "function", "name": t.get("name"), "parameters": t.get("input_schema") or {}}
        for t in body.get("tools") or []
    ]
    choice = body.get("tool_choice") or {}
    mapped = {"any": "required", "none": "none"}.get(choice.get("type"), None)
    if choice.get("type") == "tool":
        mapped = {"name": choice.get("name")}
    return tools, mapped


def _blocks(plan: Plan) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if plan.reasoning:
        blocks.append({"type": "thinking", "thinking": "".join(plan.reasoning), "signature": "sim-signature"})
    if plan.function_calls:
        blocks += [
            {
                "type": "tool_use",
                "id": f"toolu_{c['call_id'][5:]}",
                "name": c["name"],
                "input": json.loads(c["arguments"]),
            }
            for c in plan.function_calls
        ]
    else:
        blocks.append({"type": "text", "text": "".join(plan.text)})
    return blocks


def _stop_reason(plan: Plan) -> str:
    return "tool_use" if plan.function_calls else ("max_tokens" if plan.status == "incomplete" else "end_turn")


def _frames(message: dict[str, Any], plan: Plan, event_lines: bool) -> list[Frame]:
    frames: list[Frame] = []

    def add(kind: str, paced: bool = False, **fields: Any) -> None:
        frames.append(Frame({"type": kind, **fields}, paced=paced, event=kind if event_lines else None))

    opening = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    add("message_start", message=opening)
    for index, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "thinking":
            add("content_block_start", index=index, content_block={"type": "thinking", "thinking": "", "signature": ""})
            for token in plan.reasoning:
                add("content_block_delta", paced=True, index=index, delta={"type": "thinking_delta", "thinking": token})
            add("content_block_delta", index=index, delta={"type": "signature_delta", "signature": block["signature"]})
        elif kind == "text":
            add("content_block_start", index=index, content_block={"type": "text", "text": ""})
            if index == 0:
                add("ping")
            for token in plan.text:
                add("content_block_delta", paced=True, index=index, delta={"type": "text_delta", "text": token})
        else:
            add("content_block_start", index=index, content_block={**block, "input": {}})
            add(
                "content_block_delta",
                index=index,
                delta={"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
            )
        add("content_block_stop", index=index)
    add(
        "message_delta",
        delta={"stop_reason": message["stop_reason"], "stop_sequence": None},
        usage={"output_tokens": message["usage"]["output_tokens"]},
    )
    add("message_stop")
    return frames


async def create(request: Request, dialect: str) -> Response:
    sim = sim_of(request)
    authenticate(request, dialect)
    body = await read_json(request)
    spec = resolve_model(require(body, "model", str), dialect)
    max_tokens = require(body, "max_tokens", int)
    # xAI documents stop_sequences with reasoning models here, unlike chat's `stop`.
    check_parameters(spec, {k: v for k, v in body.items() if k != "stop_sequences"}, None, effort_field="")
    context = _context(body)
    request.state.prompt = context.last_user_text
    directive = Directive.parse(context.last_user_text).with_defaults(sim.config)
    failure = await inject_failure(request, directive, body)
    if failure is not None:
        return failure
    tools, choice = _tools(body)
    plan = plan_reply(
        spec=spec,
        context=context,
        directive=directive,
        effort=None,
        tools=tools,
        tool_choice=choice,
        schema=None,
        json_object=False,
        max_output_tokens=max_tokens,
        salt="messages",
    )
    mid = f"msg_{uuid.uuid4().hex}"
    message = {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "content": _blocks(plan),
        "model": spec.id,
        "stop_reason": _stop_reason(plan),
        "stop_sequence": None,
        "usage": {
            "input_tokens": context.input_tokens(),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": plan.output_tokens,
        },
    }
    if not body.get("stream"):
        await wait_like_generation(directive, plan.output_tokens)
        return JSONResponse(message)
    return SSEResponse(
        _frames(message, plan, sim.config.event_lines), directive=directive, state=sim.state, trace_id=mid
    )
