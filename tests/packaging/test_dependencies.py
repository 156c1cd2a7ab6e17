"""Every package the code imports is declared: an undeclared one works here only by accident
(another dependency happened to bring it) and breaks an install the day that changes."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("api", "controller", "reconcilers", "resources")


def _imported(folders: list[Path]) -> dict[str, Path]:
    """Top-level names of absolute imports, each with one file that imports it."""
    found: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.partition(".")[0]
                    local = (folder / f"{top}.py").exists() or (folder / top).is_dir()
                    if not local:
                        found.setdefault(top, path)
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirements: list[str]) -> set[str]:
    return {_normal(re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0]) for req in requirements}


def _undeclared(imported: dict[str, Path], declared: set[str]) -> list[str]:
    distributions = packages_distributions()
    missing = []
    for module, path in sorted(imported.items()):
        if module in sys.stdlib_module_names or module in ("winslow", "tests", "__future__"):
            continue
        owners = {_normal(d) for d in distributions.get(module, [])}
        if not owners & declared:
            missing.append(f"{module} (imported by {path.relative_to(ROOT)}; from {sorted(owners) or '?'})")
    return missing


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_package_the_code_imports_is_a_dependency():
    imported = _imported([ROOT / layer for layer in LAYERS])
    missing = _undeclared(imported, _declared(_project()["dependencies"]))
    assert missing == [], "add these to [project] dependencies in pyproject.toml"


def test_every_package_the_tests_import_is_a_dependency_or_dev_extra():
    project = _project()
    declared = _declared(project["dependencies"] + project["optional-dependencies"]["dev"])
    imported = _imported([ROOT / "tests", ROOT / "bench"])
    missing = _undeclared(imported, declared)
    assert missing == [], "add these to the dev extra in pyproject.toml"
