"""Pin the base images by digest: ``make pin-images`` (needs Docker and its registry).

Each default image of the Dockerfile (``ARG PYTHON_IMAGE=``) and of docker-compose.yml
(``${POSTGRES_IMAGE:-...}``, ``${REDIS_IMAGE:-...}``) is pulled by its tag, and the
digest of the multi-platform index the tag points to now is written after it:
``python:3.11-slim@sha256:...``. Review and commit the change; run it again to move to a
newer build of the same tag. A digest already there is replaced.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATTERNS = {
    ROOT / "Dockerfile": re.compile(r"^(ARG PYTHON_IMAGE=)(\S+)$", re.M),
    ROOT / "docker-compose.yml": re.compile(r"(\$\{(?:POSTGRES|REDIS)_IMAGE:-)([^}]+)(\})"),
}


def digest_of(tag: str) -> str:
    """The repository digest a pull of ``tag`` resolves to, e.g. ``sha256:...``."""
    subprocess.run(["docker", "pull", "--quiet", tag], check=True, stdout=subprocess.DEVNULL)
    found = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", tag],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    repository = tag.rsplit(":", 1)[0]
    for reference in re.findall(r'"([^"]+)"', found):
        name, _, digest = reference.partition("@")
        if name.split("/")[-1] == repository.split("/")[-1] and re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            return digest
    raise SystemExit(f"no repository digest for {tag}: {found.strip()}")


def main() -> None:
    for path, pattern in PATTERNS.items():
        text = path.read_text()

        def pin(match: re.Match, path=path, pattern=pattern) -> str:
            tag = match.group(2).split("@", 1)[0]
            pinned = f"{tag}@{digest_of(tag)}"
            print(f"{path.name}: {pinned}")
            return match.group(1) + pinned + (match.group(3) if pattern.groups == 3 else "")

        updated, count = pattern.subn(pin, text)
        if not count:
            sys.exit(f"{path.name}: no image default found to pin")
        path.write_text(updated)


if __name__ == "__main__":
    main()
