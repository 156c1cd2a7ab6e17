"""What the packaging tests share: the wheels of Winslow and all it needs (built once a session,
so installs in fresh environments and containers need no index), the local Debian images, and
copies of the checkout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path, timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """A command that must succeed; its output is in the failure."""
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-4000:]}"
        )
    return result


def copy_checkout(target: Path) -> Path:
    """The files of this checkout (tracked, or new and not ignored), as a clone would have them."""
    listed = run(
        "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT, timeout=60
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet in git
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name, follow_symlinks=False)
    return target


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every wheel an install needs, from this machine's configured index (scripts/wheelhouse.sh)."""
    folder = tmp_path_factory.mktemp("wheels")
    run(ROOT / "scripts/wheelhouse.sh", folder, env={**os.environ, "PYTHON": sys.executable}, timeout=600)
    return folder


@pytest.fixture(scope="session")
def debian_images(docker_engine: None) -> None:
    """winslow/debian:12 and winslow/debian-python:12, made by debootstrap once per machine."""
    run(ROOT / "scripts/debian-image.sh", timeout=900)


@dataclass
class DockerLeftovers:
    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


@pytest.fixture
def leftovers() -> Iterator[DockerLeftovers]:
    """Containers and images a test makes are removed at its end, whatever happened."""
    made = DockerLeftovers()
    yield made
    if made.containers:
        subprocess.run(["docker", "rm", "-f", *made.containers], capture_output=True, check=False)
    if made.images:
        subprocess.run(["docker", "rmi", "-f", *made.images], capture_output=True, check=False)


def readme_block(heading: str, number: int = 0) -> str:
    """The `number`-th ```sh block under a README heading: the commands the tests run."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n#", start + len(heading) + 2)
    blocks = re.findall(r"```sh\n(.*?)```", text[start : end if end > 0 else None], re.S)
    return str(blocks[number])
