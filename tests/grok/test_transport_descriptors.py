"""A web process holding many sockets still reaches Grok.

A busy web process has hundreds of websockets and database connections open, so its
upstream connections get descriptors above 1023, where ``select.select`` refuses to
look. Run in a child process so the descriptors it holds do not leak into this one.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

HELD = 1100  # beyond FD_SETSIZE (1024), the limit of select.select

CHILD = f"""
import asyncio, json, os, resource, sys

from chat.grok import GrokClient, ProviderConfig, ResponsesRequest

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft != resource.RLIM_INFINITY and soft < {HELD} + 100:
    resource.setrlimit(resource.RLIMIT_NOFILE, ({HELD} + 100, hard))
held = [os.open(os.devnull, os.O_RDONLY) for _ in range({HELD})]  # so the upstream socket's number is above


async def main():
    client = GrokClient(ProviderConfig.xai("xai-test", base_url=sys.argv[1]))  # on the process's shared client
    # A whole reply hands its connection back to the pool; the next request checks that
    # idle connection for readability before reusing it.
    replies = [(await client.responses_create(ResponsesRequest(
        model="grok-4.3", input=f"Many sockets, turn {{turn}} [[sim tokens=20]]"))).text for turn in range(2)]
    first, second = [await client.http.get(sys.argv[1] + "/models") for _ in range(2)]
    connection = second.extensions["network_stream"]
    reused = connection is first.extensions["network_stream"]
    descriptor = connection.get_extra_info("socket").fileno()
    await client.http.aclose()
    print(json.dumps({{"replies": replies, "reused": reused, "descriptor": descriptor}}))


asyncio.run(main())
"""


def test_upstream_calls_work_from_a_process_with_more_than_1024_descriptors(simulator):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < HELD + 100:
        pytest.skip(f"the hard descriptor limit ({hard}) is below {HELD + 100}")
    environment = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}

    child = subprocess.run(
        [sys.executable, "-c", CHILD, simulator.v1], capture_output=True, text=True, timeout=60, env=environment
    )

    assert child.returncode == 0, child.stderr[-3000:]
    seen = json.loads(child.stdout)
    assert seen["reused"] and seen["descriptor"] >= 1024  # the case that failed
    assert len(seen["replies"]) == 2
    assert all(reply.startswith("Reply to turn 1") for reply in seen["replies"])
