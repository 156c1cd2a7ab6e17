"""The example manifests users apply first (README: quick start) read and validate as written;
the packaging test that applies them in a fresh Debian takes a minute to say otherwise."""

from pathlib import Path

import pytest

from winslow.resources.manifest import parse_text

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "manifests").glob("*/*.yaml"))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_example_manifest_reads_and_validates(path: Path) -> None:
    assert parse_text(path.read_text(), str(path)), f"{path} holds no manifest"
