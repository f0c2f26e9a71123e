"""Settings fail loudly on bad values and refuse the placeholder secret in production."""

from __future__ import annotations

import os
import subprocess
import sys


def load_settings(**env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "CHANNEL_LAYER")}
    environment.update(env)
    code = "import webapp.settings as s; print(s.DEBUG, s.CHANNEL_LAYERS['default']['BACKEND'])"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment)


def test_the_placeholder_secret_is_refused_when_debug_is_off():
    result = load_settings(SECRET_KEY="change-me", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is the placeholder" in result.stderr


def test_the_placeholder_secret_is_tolerated_in_debug():
    assert load_settings(SECRET_KEY="change-me", DEBUG="true").returncode == 0


def test_a_boolean_that_is_not_one_fails_loudly():
    result = load_settings(DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_a_limit_of_zero_fails_loudly_instead_of_refusing_everyone_or_capping_nothing():
    for name in ("MAX_OUTPUT_TOKENS", "MAX_SOCKETS_PER_PERSON", "MAX_RUNNING_TURNS_PER_TEAM"):
        result = load_settings(**{name: "0"})
        assert result.returncode != 0
        assert f"{name} must be at least 1, not 0" in result.stderr


def test_a_channel_layer_other_processes_could_not_hear_is_refused():
    result = load_settings(CHANNEL_LAYER="redis")
    assert result.returncode != 0
    assert "CHANNEL_LAYER must be" in result.stderr


def test_without_redis_the_layer_is_in_process():
    result = load_settings(REDIS_URL="")
    assert result.returncode == 0
    assert "InMemoryChannelLayer" in result.stdout
