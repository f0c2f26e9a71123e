"""webapp/server.py leans on how daphne builds its websocket factory: only on the daphne it was checked against."""

from __future__ import annotations

import tomllib
from pathlib import Path

import daphne

from webapp import server


def test_the_installed_daphne_is_the_one_the_server_module_was_written_for():
    assert daphne.__version__ == server.DAPHNE_VERSION, (
        f"daphne {daphne.__version__} is installed, but webapp/server.py was checked against "
        f"{server.DAPHNE_VERSION}: read daphne's Server.run() again, then move the pin"
    )


def test_pyproject_pins_that_daphne_exactly():
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    assert f"daphne=={server.DAPHNE_VERSION}" in project["dependencies"]
