"""Browser tests: the app served by a real daphne process, driven in Debian's Chromium.

The app runs as a black box in its own process, on its own data directory (or its own
PostgreSQL database in the production shape), with the session's simulator as upstream.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_until_up

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it when root)"
)


def _manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


@pytest.fixture(scope="session")
def app_env(app_url):
    """The environment the app runs in, for management commands against its database."""
    return app_url.env


class AppUrl(str):
    env: dict


@pytest.fixture(scope="session")
def app_url(simulator):
    data_dir = tempfile.mkdtemp(prefix="grokchat-browser-")
    env = {
        **os.environ,
        "DATA_DIR": data_dir,
        "SECRET_KEY": "browser-tests-secret",
        "XAI_BASE_URL": simulator.v1,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "0",
        "PROVIDER_LOOPBACK_URLS_ALLOWED": "true",  # keys added in these tests point at the simulator on loopback
    }
    env.pop("XAI_API_KEY", None)  # the simulator banner shows, as on a fresh install
    if os.environ.get("DATABASE_URL"):
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "grokchat_browser"], check=True)
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", "grokchat_browser"], check=True)
        env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/grokchat_browser"
    _manage(env, "migrate", "-v", "0")
    _manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model as m; "
        f"[m().objects.create_user(n, password={PASSWORD!r}) for n in ('alice', 'bob')]",
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp.server", "-b", "127.0.0.1", "-p", str(port), "webapp.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = AppUrl(f"http://127.0.0.1:{port}")
    url.env = env
    wait_until_up(url + "/healthz", process, "the app")
    yield url
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: Playwright's sync API holds an event loop on this thread while it
    runs, which the asyncio tests collected after these must not find."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def ready(page) -> None:
    """The page's module has loaded: Send is disabled in the HTML until it has."""
    from playwright.sync_api import expect

    expect(page.get_by_role("button", name="Send")).to_be_enabled(timeout=10_000)


class Watched:
    """A page with what it did on the side: console errors, page errors, requests."""

    def __init__(self, page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.requests.append(request.url))


@pytest.fixture
def signed_in(browser, app_url):
    """A fresh browser context per test, signed in as alice."""
    contexts = []

    def open_page(context=None):
        if context is None:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            contexts.append(context)
            page = context.new_page()
            page.goto(app_url + "/accounts/login/")
            page.get_by_label("Username").fill("alice")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(app_url + "/")
            ready(page)
        else:
            page = context.new_page()
        return Watched(page)

    yield open_page
    for context in contexts:
        context.close()
