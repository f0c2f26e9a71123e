"""Deterministic replies: the same whole input gives the same reply, and any change to
the input (an earlier turn, the instructions, the model) changes it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

from ..models import ModelSpec
from . import tokenizer
from .config import Directive, strip_directive

WORDS = (
    "the grok model answers questions about systems latency streams tokens team budget reply context "
    "careful simple design measure cache queue worker socket frame browser server quota cost usage "
    "reason search source answer detail example clear short long fast steady local remote"
).split()

EFFORT_REASONING = {"none": 0, "low": 12, "medium": 24, "high": 40, "xhigh": 64}

SERVER_TOOL_PRICE_TICKS = 50_000_000  # $5 per 1,000 calls


@dataclass
class Context:
    """A conversation flattened to (role, text) pairs, plus what the text alone misses."""

    items: list[tuple[str, str]] = field(default_factory=list)
    image_tokens: int = 0
    cached_items: int = 0  # leading items that came from a stored response (prompt cache hit)

    @property
    def last_user_text(self) -> str:
        for role, text in reversed(self.items):
            if role == "user":
                return text
        return ""

    @property
    def last_role(self) -> str:
        return self.items[-1][0] if self.items else ""

    def digest(self, *parts: Any) -> str:
        blob = json.dumps([self.items, self.image_tokens, *parts], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def input_tokens(self) -> int:
        return sum(tokenizer.count(text) for _, text in self.items) + self.image_tokens

    def cached_tokens(self) -> int:
        return sum(tokenizer.count(text) for _, text in self.items[: self.cached_items])


def image_tokens(url: str) -> int:
    """xAI's rule: 448-pixel tiles, (tiles + 1) * 256 tokens, at most 6 tiles."""
    tiles = 6
    if url.startswith("data:image/"):
        try:
            from PIL import Image

            raw = base64.b64decode(url.split(",", 1)[1])
            width, height = Image.open(io.BytesIO(raw)).size
            tiles = min(6, math.ceil(width / 448) * math.ceil(height / 448))
        except Exception:  # an unreadable image is still billed at the maximum
            tiles = 6
    return (tiles + 1) * 256


@dataclass
class Plan:
    reasoning: list[str]
    text: list[str]
    function_calls: list[dict[str, Any]]
    citations: list[str]
    server_tools: list[str]  # web_search / x_search / code_interpreter, one call each
    status: str = "completed"

    @property
    def output_tokens(self) -> int:
        return len(self.text) + len(self.reasoning)


def _words(rng: random.Random, count: int) -> list[str]:
    """Sentences of vocabulary words; a paragraph break rides on the next word's token,
    exactly as the tokenizer would split the joined text."""
    tokens: list[str] = []
    lead = ""
    while len(tokens) < count:
        for i in range(rng.randint(6, 14)):
            word = rng.choice(WORDS)
            tokens.append((lead or (" " if tokens else "")) + (word.capitalize() if i == 0 else word))
            lead = ""
        tokens.append(".")
        if rng.random() < 0.2:
            lead = "\n\n"
    return tokens[:count]


def _sized(prefix: str, rng: random.Random, count: int) -> list[str]:
    head = tokenizer.tokenize(prefix)
    if count <= len(head):
        return head[:count]
    body = _words(rng, count - len(head))
    if body and not body[0].startswith(" "):
        body[0] = " " + body[0]
    return head + body


def example_for_schema(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: example_for_schema(sub) for name, sub in props.items()}
    if kind == "array":
        return [example_for_schema(schema.get("items") or {"type": "string"})]
    return {"string": "sim", "number": 1.5, "integer": 1, "boolean": True, "null": None}.get(kind, "sim")


def _wanted_function(tools: list[dict[str, Any]], tool_choice: Any, text: str) -> dict[str, Any] | None:
    functions = [t for t in tools if t.get("type") == "function"]
    if not functions or tool_choice == "none":
        return None
    named = (
        tool_choice.get("name") or (tool_choice.get("function") or {}).get("name")
        if isinstance(tool_choice, dict)
        else None
    )
    for tool in functions:
        name = tool.get("name") or (tool.get("function") or {}).get("name")
        if name == named or (named is None and name and name in text):
            return tool
    return functions[0] if tool_choice == "required" else None


def plan_reply(
    *,
    spec: ModelSpec,
    context: Context,
    directive: Directive,
    effort: str | None,
    tools: list[dict[str, Any]],
    tool_choice: Any,
    schema: dict[str, Any] | None,
    json_object: bool,
    max_output_tokens: int | None,
    salt: str = "",
) -> Plan:
    digest = context.digest(spec.id, effort, salt)
    rng = random.Random(digest)
    turn = sum(1 for role, _ in context.items if role == "user")
    user_text = strip_directive(context.last_user_text)

    reasoning: list[str] = []
    if spec.reasoning and (effort or spec.default_effort) != "none":
        size = directive.reasoning_tokens
        if size is None:
            size = EFFORT_REASONING.get(effort or spec.default_effort or "low", 16)
        reasoning = _sized(f"Considering turn {turn}:", random.Random(digest + "r"), size)

    tool_types = {t.get("type") for t in tools}
    server_tools = [kind for kind in ("web_search", "x_search", "code_interpreter") if kind in tool_types]
    citations: list[str] = []
    if "web_search" in server_tools:
        citations += [f"https://example.com/grok-sim/{digest[:8]}/{n}" for n in range(1, 4)]
    if "x_search" in server_tools:
        citations += [f"https://x.com/i/status/{int(digest[:12], 16) + n}" for n in range(1, 3)]

    function = None if context.last_role == "tool" else _wanted_function(tools, tool_choice, user_text)
    if function is not None:
        params = function.get("parameters") or (function.get("function") or {}).get("parameters") or {}
        name = function.get("name") or (function.get("function") or {}).get("name")
        call = {
            "call_id": f"call_{rng.randint(10_000_000, 99_999_999)}",
            "name": name,
            "arguments": json.dumps(example_for_schema({"type": "object", **params}), separators=(",", ":")),
        }
        return Plan(reasoning, [], [call], [], server_tools)

    if directive.echo:
        text = tokenizer.tokenize(user_text)
    elif schema is not None or json_object:
        value = example_for_schema(schema or {"type": "object", "properties": {"answer": {"type": "string"}}})
        text = tokenizer.tokenize(json.dumps(value))
    else:
        lead = "Based on the tool result," if context.last_role == "tool" else f"Reply to turn {turn}"
        text = _sized(f"{lead} ({digest[:8]}).", rng, directive.tokens or 0)

    status = "completed"
    if max_output_tokens is not None and len(reasoning) + len(text) > max_output_tokens:
        reasoning = reasoning[:max_output_tokens]
        text = text[: max(0, max_output_tokens - len(reasoning))]
        status = "incomplete"
    return Plan(reasoning, text, [], citations, server_tools, status)


def cost_ticks(spec: ModelSpec, *, input_tokens: int, cached: int, output_tokens: int, server_tools: int) -> int:
    """Listing prices are cents per 100M tokens, which is exactly ticks (1e-10 USD) per token."""
    return (
        (input_tokens - cached) * spec.prompt_price
        + cached * spec.cached_prompt_price
        + output_tokens * spec.completion_price
        + server_tools * SERVER_TOOL_PRICE_TICKS
    )
