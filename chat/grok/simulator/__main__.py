"""``python -m chat.grok.simulator --port 8090``: serve the simulator."""

from __future__ import annotations

import argparse
import gc
import ipaddress
import os

import uvicorn

from .app import build_app
from .config import SimConfig
from .proof import KEY_ENV


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, SimConfig]:
    defaults = SimConfig()
    parser = argparse.ArgumentParser(
        prog="python -m chat.grok.simulator", description="A local, deterministic simulator of the xAI API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--ttft-ms", type=int, default=defaults.ttft_ms, help="time to first token")
    parser.add_argument("--tps", type=float, default=defaults.tps, help="tokens per second (0: no pacing)")
    parser.add_argument("--tokens", type=int, default=defaults.tokens, help="visible reply length in tokens")
    parser.add_argument(
        "--reject-key-prefix",
        default=defaults.reject_key_prefix,
        help="API keys starting with this are answered 400 (unknown key)",
    )
    parser.add_argument(
        "--accept-key",
        action="append",
        default=[],
        help=f"accept only these API keys (repeatable; also ${KEY_ENV}, which, unlike a "
        "command line, other local users cannot read); default: any key",
    )
    parser.add_argument(
        "--inspect",
        action="store_true",
        help="serve /sim/requests and /sim/trace, which show prompts and timings to anyone",
    )
    parser.add_argument("--deferred-delay-ms", type=int, default=defaults.deferred_delay_ms)
    parser.add_argument(
        "--oauth-token-lifetime",
        type=int,
        default=defaults.oauth_token_lifetime_s,
        help="seconds an access token from /sim/oauth2/token lasts (Vertex AI form)",
    )
    parser.add_argument("--no-event-lines", action="store_true", help="omit 'event:' lines in SSE streams")
    parser.add_argument("--no-done-marker", action="store_true", help="omit 'data: [DONE]' after Responses streams")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    accept_keys = tuple(filter(None, [os.environ.get(KEY_ENV, "").strip(), *args.accept_key]))
    if not accept_keys and not _is_loopback(args.host):
        parser.error(f"--host {args.host} lets other machines in: give it a key (${KEY_ENV} or --accept-key)")
    config = SimConfig(
        ttft_ms=args.ttft_ms,
        tps=args.tps,
        tokens=args.tokens,
        reject_key_prefix=args.reject_key_prefix,
        accept_keys=accept_keys,
        deferred_delay_ms=args.deferred_delay_ms,
        event_lines=not args.no_event_lines,
        done_marker=not args.no_done_marker,
        inspect=args.inspect,
        oauth_token_lifetime_s=args.oauth_token_lifetime,
    )
    return args, config


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> None:
    args, config = parse_args(argv)
    # Hundreds of concurrent streams hold many small frame dicts; the default collector
    # thresholds make full collections pause every stream for tens of milliseconds.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    print(f"Grok simulator on http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(
        build_app(config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    main()
