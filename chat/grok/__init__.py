"""The Grok seam: a Django-free async client for the xAI API.

Nothing in this package imports Django; settings are read by whoever builds a client.
Presets (``PRESETS``, ``ProviderConfig.for_preset``) say how each upstream is reached;
``GrokClient.catalogue()`` lists Grok's models on any of them; Vertex AI tokens come
from ``chat.grok.vertex`` (``vertex_token_provider``, ``check_service_account``), which
loads google-auth and so is imported where it is needed.
"""

from .catalogue import parse_catalogue
from .client import GeneratedImage, GrokClient, ImageResult, Timeouts, Token, shared_http_client
from .errors import GrokError
from .events import Citation, Completed, Event, Failed, FunctionCall, ReasoningDelta, Started, TextDelta, ToolProgress
from .models import KNOWN_MODELS, ImageModel, LanguageModel, find_spec
from .providers import PRESETS, Preset, PresetInfo, Provider, ProviderConfig
from .requests import ChatRequest, ImageInput, ImageRequest, Message, ResponsesRequest, function_tool
from .retry import NO_RETRY, RetryPolicy
from .usage import Usage

__all__ = [
    "ChatRequest",
    "Citation",
    "Completed",
    "Event",
    "Failed",
    "FunctionCall",
    "GeneratedImage",
    "GrokClient",
    "GrokError",
    "ImageInput",
    "ImageModel",
    "ImageRequest",
    "ImageResult",
    "KNOWN_MODELS",
    "LanguageModel",
    "Message",
    "NO_RETRY",
    "PRESETS",
    "Preset",
    "PresetInfo",
    "Provider",
    "ProviderConfig",
    "ReasoningDelta",
    "ResponsesRequest",
    "RetryPolicy",
    "Started",
    "TextDelta",
    "Timeouts",
    "Token",
    "ToolProgress",
    "Usage",
    "find_spec",
    "function_tool",
    "parse_catalogue",
    "shared_http_client",
]
