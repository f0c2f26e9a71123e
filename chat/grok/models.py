"""What is known about Grok models beyond what the listing endpoints say.

``/v1/language-models`` gives ids, aliases, modalities and prices but not whether a
model reasons or which ``reasoning.effort`` values it accepts, and xAI answers 400 to
an effort a model rejects. This table (from the wire contract, section 8) fills that
gap; the simulator builds its catalogue from it too, so both sides agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

EFFORTS_45 = ("low", "medium", "high", "xhigh")
EFFORTS_43 = ("none", "low", "medium", "high", "xhigh")


@dataclass(frozen=True)
class ModelSpec:
    id: str
    aliases: tuple[str, ...] = ()
    context_window: int = 1_000_000
    reasoning: bool = False
    efforts: tuple[str, ...] = ()  # empty: the model answers 400 to any reasoning effort
    default_effort: str | None = None
    input_modalities: tuple[str, ...] = ("text", "image")
    # USD cents per 100 million tokens, as /v1/language-models reports prices.
    prompt_price: int = 0
    cached_prompt_price: int = 0
    completion_price: int = 0
    created: int = 1_767_225_600
    raw_reasoning: bool = False  # chat completions return ``reasoning_content``


# Models retired on 2026-05-15 and now served by grok-4.3 under their old names.
_RETIRED_TO_43 = (
    "grok-4-1-fast-reasoning",
    "grok-4-1-fast-non-reasoning",
    "grok-4-fast-reasoning",
    "grok-4-fast-non-reasoning",
    "grok-4-0709",
    "grok-4",
    "grok-code-fast-1",
    "grok-3",
    "grok-3-mini",
)

KNOWN_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "grok-4.3",
        ("grok-4.3-latest", "grok-latest", *_RETIRED_TO_43),
        1_000_000,
        True,
        EFFORTS_43,
        "low",
        prompt_price=12_500,
        cached_prompt_price=2_000,
        completion_price=25_000,
        created=1_777_507_200,
    ),
    ModelSpec(
        "grok-4.5",
        ("grok-4.5-latest", "grok-build-latest"),
        500_000,
        True,
        EFFORTS_45,
        "high",
        prompt_price=20_000,
        cached_prompt_price=3_000,
        completion_price=60_000,
        created=1_783_555_200,
    ),
    ModelSpec(
        "grok-4.6",
        (),
        500_000,
        True,
        EFFORTS_45,
        "high",
        prompt_price=20_000,
        cached_prompt_price=5_000,
        completion_price=60_000,
        created=1_785_542_400,
    ),
    ModelSpec(
        "grok-4.7",
        (),
        500_000,
        True,
        EFFORTS_45,
        "high",
        prompt_price=20_000,
        cached_prompt_price=5_000,
        completion_price=60_000,
        created=1_789_516_800,
    ),
    ModelSpec(
        "grok-4.20-0309-reasoning",
        ("grok-4.20", "grok-4.20-reasoning", "grok-4.20-0309"),
        1_000_000,
        True,
        (),
        None,
        prompt_price=20_000,
        cached_prompt_price=5_000,
        completion_price=60_000,
        created=1_772_323_200,
    ),
    ModelSpec(
        "grok-4.20-0309-non-reasoning",
        ("grok-4.20-non-reasoning",),
        1_000_000,
        False,
        (),
        None,
        prompt_price=20_000,
        cached_prompt_price=5_000,
        completion_price=60_000,
        created=1_772_323_200,
    ),
    ModelSpec(
        "grok-build-0.1",
        (),
        256_000,
        True,
        (),
        None,
        ("text",),
        prompt_price=10_000,
        cached_prompt_price=2_000,
        completion_price=20_000,
        raw_reasoning=True,
    ),
)

# Answered with 404 and a deprecation sentence, as xAI does.
DEPRECATED_MODELS = {
    "grok-beta": "2025-09-15",
    "grok-vision-beta": "2025-09-15",
    "grok-2-1212": "2025-09-15",
    "grok-2-vision-1212": "2025-09-15",
    "grok-2-image-1212": "2025-09-15",
}


@dataclass(frozen=True)
class ImageModelSpec:
    id: str
    aliases: tuple[str, ...] = ()
    image_price_ticks: int = 200_000_000  # per image, in 1e-10 USD
    max_prompt_length: int = 1024


KNOWN_IMAGE_MODELS: tuple[ImageModelSpec, ...] = (
    ImageModelSpec("grok-imagine-image", ("grok-imagine-image-pro",), 200_000_000),
    ImageModelSpec("grok-imagine-image-2.0", (), 550_000_000),
)


def find_spec(model: str) -> ModelSpec | None:
    """The known facts for a model id or alias (a ``xai/`` or ``x-ai/`` prefix is ignored)."""
    name = model.split("/", 1)[1] if model.startswith(("xai/", "x-ai/")) else model
    for spec in KNOWN_MODELS:
        if name == spec.id or name in spec.aliases:
            return spec
    return None


@dataclass(frozen=True)
class LanguageModel:
    """One Grok language model as an upstream lists it, with the known reasoning facts added.

    ``id`` is the canonical Grok id (``grok-4.3``); ``upstream_id`` is what requests to
    this upstream name it (``x-ai/grok-4.3`` on OpenRouter, ``xai/grok-4.3`` on Vertex
    AI; the same as ``id`` on xAI). Prices are USD cents per 100M tokens, as xAI lists
    them; ``usd_per_million`` turns one into dollars per million tokens.
    """

    id: str
    aliases: tuple[str, ...]
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    prompt_price: int
    cached_prompt_price: int
    completion_price: int
    context_window: int | None
    reasoning: bool | None  # None: not a model this code knows
    reasoning_efforts: tuple[str, ...]
    default_effort: str | None
    upstream_id: str = ""  # empty: the same as ``id``
    name: str = ""  # a display name when the upstream gives one

    def __post_init__(self) -> None:
        if not self.upstream_id:
            object.__setattr__(self, "upstream_id", self.id)

    @property
    def reads_images(self) -> bool:
        return "image" in self.input_modalities

    @property
    def input_usd_per_million(self) -> Decimal:
        return self.usd_per_million(self.prompt_price)

    @property
    def cached_input_usd_per_million(self) -> Decimal:
        return self.usd_per_million(self.cached_prompt_price)

    @property
    def output_usd_per_million(self) -> Decimal:
        return self.usd_per_million(self.completion_price)

    @staticmethod
    def usd_per_million(price: int) -> Decimal:
        """Listing prices are USD cents per 100M tokens; 12500 is $1.25 per million."""
        return Decimal(price) / 10_000

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, upstream_id: str = "", name: str = "") -> LanguageModel:
        """What this code knows of a model, for an upstream that lists no more than ids."""
        return cls(
            id=spec.id,
            aliases=spec.aliases,
            input_modalities=spec.input_modalities,
            output_modalities=("text",),
            prompt_price=spec.prompt_price,
            cached_prompt_price=spec.cached_prompt_price,
            completion_price=spec.completion_price,
            context_window=spec.context_window,
            reasoning=spec.reasoning,
            reasoning_efforts=spec.efforts,
            default_effort=spec.default_effort,
            upstream_id=upstream_id,
            name=name,
        )

    @classmethod
    def from_api(cls, raw: dict) -> LanguageModel:
        spec = find_spec(str(raw.get("id", "")))
        return cls(
            id=str(raw.get("id", "")),
            aliases=tuple(raw.get("aliases") or ()),
            input_modalities=tuple(raw.get("input_modalities") or ("text",)),
            output_modalities=tuple(raw.get("output_modalities") or ("text",)),
            prompt_price=int(raw.get("prompt_text_token_price") or 0),
            cached_prompt_price=int(raw.get("cached_prompt_text_token_price") or 0),
            completion_price=int(raw.get("completion_text_token_price") or 0),
            context_window=raw.get("max_prompt_length") or (spec.context_window if spec else None),
            reasoning=spec.reasoning if spec else None,
            reasoning_efforts=spec.efforts if spec else (),
            default_effort=spec.default_effort if spec else None,
        )


@dataclass(frozen=True)
class ImageModel:
    id: str
    aliases: tuple[str, ...]
    image_price: int
    max_prompt_length: int | None

    @classmethod
    def from_api(cls, raw: dict) -> ImageModel:
        return cls(
            id=str(raw.get("id", "")),
            aliases=tuple(raw.get("aliases") or ()),
            image_price=int(raw.get("image_price") or 0),
            max_prompt_length=raw.get("max_prompt_length"),
        )
