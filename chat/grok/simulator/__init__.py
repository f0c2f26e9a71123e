"""A local, deterministic stand-in for the xAI API, served over real HTTP and SSE.

Run it with ``python -m chat.grok.simulator --port 8090``; see the README for the
``[[sim ...]]`` directives that set latency and inject faults per request.
"""

from .app import build_app
from .config import SimConfig

__all__ = ["SimConfig", "build_app"]
