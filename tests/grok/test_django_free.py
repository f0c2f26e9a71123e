"""The Grok seam stays free of Django, so it can run anywhere (workers, scripts, the simulator)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

GROK = Path(__file__).resolve().parents[2] / "chat" / "grok"


def test_no_module_of_the_seam_imports_django():
    offenders = []
    for path in GROK.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "django"]
    assert offenders == []


def test_importing_the_client_and_simulator_loads_no_django():
    code = "import sys, chat.grok, chat.grok.simulator; print(any(m.split('.')[0] == 'django' for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
