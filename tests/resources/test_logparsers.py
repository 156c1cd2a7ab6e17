"""A stage's `logParsers` (resources.logparsers): what a pattern must be, said with its fix."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from winslow.resources.logparsers import MAX_PARSERS, check
from winslow.resources.pipeline import StageSpec

LOSS = r"epoch (?P<epoch>\d+) loss (?P<loss>[\d.]+)"


def stage(parsers: list[dict[str, Any]]) -> StageSpec:
    return StageSpec.model_validate({"name": "train", "image": "busybox", "logParsers": parsers})


def problem(parsers: list[dict[str, Any]]) -> tuple[tuple[int | str, ...], str]:
    with pytest.raises(ValidationError) as caught:
        stage(parsers)
    error = caught.value.errors()[0]
    return tuple(error["loc"]), error["msg"]


def test_a_parser_is_kept_with_its_name_and_pattern_and_none_is_the_default() -> None:
    parsed = stage([{"name": "loss", "pattern": LOSS}])
    assert [(p.name, p.pattern) for p in parsed.log_parsers] == [("loss", LOSS)]
    assert parsed.to_wire()["logParsers"] == [{"name": "loss", "pattern": LOSS}]
    assert StageSpec(name="a", image="busybox").log_parsers == []


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        (r"loss (?=\d)", "RE2"),
        (r"(?P<a>x)\1", "backreferences"),
        ("(unclosed", "RE2"),
        (r"loss [\d.]+", "names no group"),
        ("(?P<a>x)(?P<a>y)", "'a' twice"),
        (r"(?P<time>\d+)", "rename it"),
        ("".join(f"(?P<g{i}>x)" for i in range(17)), "at most 16"),
    ],
)
def test_a_bad_pattern_is_named_at_its_field_with_the_fix(pattern: str, says: str) -> None:
    loc, msg = problem([{"name": "loss", "pattern": pattern}])
    assert loc == ("logParsers", 0, "pattern")
    assert says in msg


def test_names_are_file_safe_and_unique_within_the_stage() -> None:
    loc, msg = problem([{"name": "Loss/../x", "pattern": LOSS}])
    assert loc == ("logParsers", 0, "name") and "not a valid name" in msg
    loc, msg = problem([{"name": "loss", "pattern": LOSS}, {"name": "loss", "pattern": r"(?P<a>\d)"}])
    assert loc == ("logParsers",) and "'loss' is used twice" in msg and "own name" in msg


def test_a_stage_has_at_most_so_many_parsers_and_a_pattern_is_bounded() -> None:
    many = [{"name": f"p{i}", "pattern": LOSS} for i in range(MAX_PARSERS + 1)]
    loc, _ = problem(many)
    assert loc == ("logParsers",)
    loc, _ = problem([{"name": "loss", "pattern": "(?P<a>x)" + "x" * 2000}])
    assert loc == ("logParsers", 0, "pattern")


def test_a_pattern_too_large_for_re2s_memory_is_refused_not_compiled_at_any_cost() -> None:
    said = check(r"(?P<a>(\pL{100}){10})")
    assert said is not None and "too large" in said and "MiB" in said
