"""The share's reading path (resources.reading) beside a plain `yaml.load` of the same files.

A node reads the same files over and over (every reconcile, every API list). The reading path
parses a version once and afterwards only reads and hashes it. A file it refuses costs a stat
(too large) or a short scan (too deep), plus, once per version, the short waits (30 ms in all)
in which a file seen half-written on a network share would settle. Baseline in the same run:
PyYAML's C loader and pydantic's validation on every read, which is what every read cost before.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from winslow.resources.errors import InvalidFileError
from winslow.resources.project import Project
from winslow.resources.reading import Reader, manifest_limits

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def project_text(entries: int) -> str:
    head = "apiVersion: winslow/v1\nkind: Project\nmetadata:\n  name: p\nspec:\n  pipeline: x\n  env:\n"
    return head + "".join(f"    VARIABLE_NUMBER_{i:06d}: value-{i:06d}-{'x' * 62}\n" for i in range(entries))


def best(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def read(reader: Reader, path: Path) -> None:
    with contextlib.suppress(InvalidFileError):  # refused: what that costs is what is measured
        reader.load(
            path, path.name, Project.model_validate, kind="P", limits=manifest_limits(), fallback=False
        )


def plain(path: Path) -> None:
    Project.model_validate(yaml.load(path.read_text(), Loader=Loader))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    rounds = 3 if parser.parse_args().quick else 10
    logging.basicConfig(level=logging.ERROR)  # each refused file is logged once per Reader
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        files = {
            "2 KiB manifest": project_text(20),
            "1 MiB manifest": project_text(10_000),
            "52 MB manifest (refused)": project_text(500_000),
            "100,000 brackets (refused)": "a: " + "[" * 100_000 + "]" * 100_000,
        }
        for label, text in files.items():
            path = root / f"{len(rows)}.yaml"
            path.write_text(text)
            first = best(lambda: read(Reader(), path), rounds)  # noqa: B023
            reader = Reader()
            read(reader, path)
            again = best(lambda: read(reader, path), rounds)  # noqa: B023
            baseline = best(lambda: plain(path), rounds) if "refused" not in label else float("nan")  # noqa: B023
            rows.append((label, path.stat().st_size, baseline, first, again))
    print("reading path vs yaml.load (C loader) + pydantic on every read; best of", rounds)
    print(
        f"{'file':<28}{'bytes':>11}{'baseline ms':>13}{'first ms':>10}{'again ms':>10}{'baseline/again':>16}"
    )
    for label, size, baseline, first, again in rows:
        print(
            f"{label:<28}{size:>11}{baseline * 1e3:>13.2f}{first * 1e3:>10.2f}{again * 1e3:>10.3f}"
            f"{baseline / again:>16.1f}"
        )


if __name__ == "__main__":
    main()
