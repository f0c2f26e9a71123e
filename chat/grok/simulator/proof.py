"""How the app knows the simulator on its port is the one it started.

``serve`` starts the simulator with a per-start key in its environment (the process list
shows a command line to every local user; the environment only to the same user). The
simulator accepts only that key, and answers ``/sim/health?challenge=NONCE`` with an HMAC
of the nonce under it: proof that it holds the key, without the key ever being sent to
whatever answers on the port.
"""

from __future__ import annotations

import hashlib
import hmac

KEY_ENV = "GROK_SIMULATOR_KEY"


def health_proof(key: str, challenge: str) -> str:
    return hmac.new(key.encode(), challenge.encode(), hashlib.sha256).hexdigest()


def proof_matches(key: str, challenge: str, proof: object) -> bool:
    return isinstance(proof, str) and hmac.compare_digest(proof, health_proof(key, challenge))
