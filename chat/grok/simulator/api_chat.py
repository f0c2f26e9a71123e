"""``/v1/chat/completions`` (streamed, whole, deferred) and deferred-completion polling."""

from __future__ import annotations

import asyncio
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
from .config import Directive
from .generate import Context, Plan, cost_ticks, image_tokens, plan_reply
from .state import Deferred
from .stream import Frame, SSEResponse, replay_frames

FINGERPRINT = "fp_sim0000001"


def chat_context(messages: list[Any]) -> Context:
    if not messages:
        raise invalid("messages must contain at least one message.")
    context = Context()
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise SimError(
                422,
                "",
                "Failed to deserialize the JSON body into the target type: messages: missing field `role`",
                plain=True,
            )
        role = message["role"]
        if role not in ("system", "user", "assistant", "tool", "function", "developer"):
            raise invalid(f"Invalid role '{role}'.")
        content = message.get("content")
        if isinstance(content, list):
            texts = []
            for part in content:
                if part.get("type") == "text":
                    texts.append(str(part.get("text", "")))
                elif part.get("type") == "image_url":
                    context.image_tokens += image_tokens(str((part.get("image_url") or {}).get("url", "")))
            content = "\n".join(texts)
        if not content and not message.get("tool_calls") and not isinstance(message.get("content"), list):
            raise invalid("Each message must have at least one content element.")
        role = {"function": "tool", "developer": "system"}.get(role, role)
        context.items.append((role, str(content or "")))
    return context


def chat_usage(spec: ModelSpec, context: Context, plan: Plan) -> dict[str, Any]:
    prompt = context.input_tokens()
    completion = len(plan.text) + sum(tokenizer.count(c["arguments"]) for c in plan.function_calls)
    reasoning = len(plan.reasoning)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion + reasoning,
        "prompt_tokens_details": {
            "text_tokens": prompt - context.image_tokens,
            "audio_tokens": 0,
            "image_tokens": context.image_tokens,
            "cached_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
        "num_sources_used": 0,
        "cost_in_usd_ticks": cost_ticks(
            spec, input_tokens=prompt, cached=0, output_tokens=completion + reasoning, server_tools=0
        ),
    }


def _tool_calls(plan: Plan) -> list[dict[str, Any]]:
    return [
        {"id": c["call_id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
        for c in plan.function_calls
    ]


def _finish_reason(plan: Plan) -> str:
    return "tool_calls" if plan.function_calls else ("length" if plan.status == "incomplete" else "stop")


def _reasoning_field(dialect: str) -> str:
    """OpenRouter returns reasoning text as ``reasoning``; xAI as ``reasoning_content``."""
    return "reasoning" if dialect == "openrouter" else "reasoning_content"


def completion_object(
    cid: str, spec: ModelSpec, plan: Plan, usage: dict[str, Any], dialect: str = "xai"
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(plan.text), "refusal": None}
    if spec.raw_reasoning and plan.reasoning:
        message[_reasoning_field(dialect)] = "".join(plan.reasoning)
    if plan.function_calls:
        message["tool_calls"] = _tool_calls(plan)
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": spec.id,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(plan)}],
        "usage": usage,
        "system_fingerprint": FINGERPRINT,
    }


def chunk_frames(
    cid: str, spec: ModelSpec, plan: Plan, usage: dict[str, Any] | None, dialect: str = "xai"
) -> list[Frame]:
    frames: list[Frame] = []

    def chunk(choices: list[dict[str, Any]], paced: bool = False, **extra: Any) -> None:
        payload = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": spec.id,
            "choices": choices,
            **extra,
            "system_fingerprint": FINGERPRINT,
        }
        frames.append(Frame(payload, paced=paced, stamp_created=True))

    deltas: list[dict[str, Any]] = []
    if spec.raw_reasoning:
        deltas += [{_reasoning_field(dialect): token} for token in plan.reasoning]
    deltas += [{"content": token} for token in plan.text]
    if plan.function_calls:
        deltas.append({"tool_calls": [{**call, "index": n} for n, call in enumerate(_tool_calls(plan))]})
    if not deltas:
        deltas.append({"content": ""})
    deltas[0] = {**deltas[0], "role": "assistant"}  # xAI sends the role with the first token
    for delta in deltas:
        chunk([{"index": 0, "delta": delta}], paced="tool_calls" not in delta)
    chunk([{"index": 0, "delta": {}, "finish_reason": _finish_reason(plan)}])
    if usage is not None:
        chunk([], usage=usage)
    frames.append(Frame("[DONE]"))
    return frames


async def create(request: Request, dialect: str) -> Response:
    sim = sim_of(request)
    authenticate(request, dialect)
    body = await read_json(request)
    spec = resolve_model(require(body, "model", str), dialect)
    context = chat_context(require(body, "messages", list))
    effort = body.get("reasoning_effort")
    if dialect == "openrouter":  # its normalised form; a top-level reasoning_effort is not its
        effort = (body.get("reasoning") or {}).get("effort")
    check_parameters(spec, body, effort, effort_field="reasoning_effort")
    stream, deferred = bool(body.get("stream")), bool(body.get("deferred"))
    if stream and deferred:
        raise invalid("deferred cannot be combined with stream.")
    request.state.prompt = context.last_user_text
    directive = Directive.parse(context.last_user_text).with_defaults(sim.config)
    failure = await inject_failure(request, directive, body)
    if failure is not None:
        return failure
    if directive.replay:
        frames = replay_frames(directive.replay, event_lines=False)
        return SSEResponse(frames, directive=directive, state=sim.state, trace_id=f"replay-{uuid.uuid4()}")

    response_format = body.get("response_format") or {}
    schema = (
        (response_format.get("json_schema") or {}).get("schema")
        if response_format.get("type") == "json_schema"
        else None
    )
    plan = plan_reply(
        spec=spec,
        context=context,
        directive=directive,
        effort=effort,
        tools=body.get("tools") or [],
        tool_choice=body.get("tool_choice"),
        schema=schema,
        json_object=response_format.get("type") == "json_object",
        max_output_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        salt="chat",
    )
    cid = str(uuid.uuid4())
    usage = chat_usage(spec, context, plan)
    if deferred:
        delay = (directive.defer_ms if directive.defer_ms is not None else sim.config.deferred_delay_ms) / 1000
        sim.state.deferred[cid] = Deferred(
            completion_object(cid, spec, plan, usage, dialect), asyncio.get_running_loop().time() + delay
        )
        return JSONResponse({"request_id": cid})
    if not stream:
        await wait_like_generation(directive, plan.output_tokens)
        return JSONResponse(completion_object(cid, spec, plan, usage, dialect))
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    frames = chunk_frames(cid, spec, plan, usage if include_usage else None, dialect)
    return SSEResponse(frames, directive=directive, state=sim.state, trace_id=cid)


async def deferred_poll(request: Request, dialect: str) -> Response:
    authenticate(request, dialect)
    state = sim_of(request).state
    request_id = request.path_params["request_id"]
    job = state.deferred.get(request_id)
    if job is None:
        raise SimError(404, NOT_FOUND, f"Deferred completion '{request_id}' not found, expired or already fetched.")
    if asyncio.get_running_loop().time() < job.ready_at:
        return Response(status_code=202)
    del state.deferred[request_id]  # a result is read exactly once
    return JSONResponse(job.completion)
