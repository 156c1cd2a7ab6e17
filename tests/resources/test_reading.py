"""The share's reading path: whatever the bytes, it answers a value or InvalidFileError, never
blocks, never crashes the process, parses a version once, and falls back to the last good one."""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.reading import Limits, Reader, manifest_limits
from winslow.resources.stagerun import StageRun
from winslow.resources.store import Store

LIMITS = Limits(max_bytes=1 << 20, max_depth=64)


def identity(data: Any) -> Any:
    return data


def load(reader: Reader, path: Path, parse: Any = identity, *, fallback: bool = False) -> Any:
    return reader.load(path, path.name, parse, kind="test", limits=LIMITS, fallback=fallback)


def fast() -> Reader:
    return Reader(attempts=2, pause=0.0)


# -- anything at all -----------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


def nested(depth: int, flow: bool) -> str:
    if flow:
        return "a: " + "[" * depth + "]" * depth
    return "".join(f"{'  ' * i}k:\n" for i in range(depth)) + "  " * depth + "x"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=2000))
def test_random_bytes_give_a_value_or_the_projects_own_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "any.yaml"
    path.write_bytes(raw)
    try:
        load(fast(), path)
        load(fast(), path, StageRun.model_validate)
    except InvalidFileError as exc:
        assert exc.source == "any.yaml" and exc.reason.startswith("any.yaml")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    document=documents,
    depth=st.integers(min_value=0, max_value=3000),
    flow=st.booleans(),
    style=st.sampled_from([None, True, False]),
)
def test_random_nested_yaml_gives_a_value_or_the_projects_own_error(
    tmp_path: Path, document: Any, depth: int, flow: bool, style: bool | None
) -> None:
    text = yaml.safe_dump(document, default_flow_style=style) + "\n" + nested(depth, flow)
    path = tmp_path / "nested.yaml"
    path.write_text(text)
    try:
        load(fast(), path)
    except InvalidFileError as exc:
        assert depth > LIMITS.max_depth - 2 or "not valid YAML" in exc.reason


def test_a_hundred_thousand_brackets_are_refused_before_the_c_parser_recurses(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidFileError, match=r"deep.yaml: line 1: is nested deeper than 64 levels"):
        load(Reader(), path)
    path.write_text("- " * 100_000 + "x")
    with pytest.raises(InvalidFileError, match="nested deeper"):
        load(Reader(), path)


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines))
    with pytest.raises(InvalidFileError, match="once its aliases are expanded"):
        load(Reader(), path)


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [*a]\n")
    with pytest.raises(InvalidFileError, match="alias inside the node it refers to"):
        load(Reader(), path)


# -- what the file is ----------------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_a_fifo_is_refused_at_once_and_never_opened_for_a_blocking_read(tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    with pytest.raises(InvalidFileError, match="named pipe"):
        load(Reader(), path)


def test_a_socket_a_directory_and_a_link_are_refused(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s.yaml"))
    (tmp_path / "d.yaml").mkdir()
    (tmp_path / "real.yaml").write_text("a: 1\n")
    (tmp_path / "l.yaml").symlink_to(tmp_path / "real.yaml")
    for name, what in (("s.yaml", "socket"), ("d.yaml", "directory"), ("l.yaml", "symbolic link")):
        with pytest.raises(InvalidFileError, match=what):
            load(Reader(), tmp_path / name)
    sock.close()


def test_a_missing_file_is_not_found_not_invalid(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load(Reader(), tmp_path / "nope.yaml")


def test_size_is_capped_before_reading_and_the_cap_is_configurable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * (2 << 20))
    limits = manifest_limits()
    too_big = r"is 2.0 MiB, over the limit of 1.0 MiB.*WINSLOW_MAX_MANIFEST_BYTES"
    with pytest.raises(InvalidFileError, match=too_big):
        Reader().load(path, "big.yaml", identity, kind="t", limits=limits, fallback=False)
    monkeypatch.setenv("WINSLOW_MAX_MANIFEST_BYTES", str(4 << 20))
    assert Reader().load(path, "big.yaml", identity, kind="t", limits=manifest_limits(), fallback=False)


def test_bytes_that_are_not_utf8_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(InvalidFileError, match=r"latin.yaml: line 2: is not UTF-8 text \(byte 0xe9\)"):
        load(Reader(), path)


def test_a_syntax_error_names_the_line_but_quotes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\nsecret: hunter2\n  oops: [\n")
    with pytest.raises(InvalidFileError) as caught:
        load(Reader(), path)
    assert "bad.yaml: line 3: is not valid YAML" in caught.value.reason
    assert "hunter2" not in caught.value.reason


def test_a_file_that_does_not_validate_is_named_by_line_and_field_never_by_value(tmp_path: Path) -> None:
    run = {
        "apiVersion": "winslow/v1",
        "kind": "StageRun",
        "metadata": {"name": "p.1.a"},
        "spec": {
            "project": "p",
            "stage": "a",
            "index": 0,
            "image": "x",
            "env": {"PASSWORD": {"nested": "hunter2"}, "TOKEN": ["s3cret"]},
            "resources": {"memory": "16 GB of hunter2"},
        },
        "status": {"phase": "Exploded"},
    }
    path = tmp_path / "p.1.a.yaml"
    path.write_text(yaml.safe_dump(run, sort_keys=False))
    with pytest.raises(InvalidFileError) as caught:
        load(Reader(), path, StageRun.model_validate)
    reason = caught.value.reason
    for secret in ("hunter2", "s3cret", "Exploded", "16 GB"):
        assert secret not in reason, reason
    assert "line 11: spec.env.PASSWORD: expected text" in reason
    assert "spec.resources.memory: is not a valid value" in reason
    assert "status.phase" in reason


# -- versions ------------------------------------------------------------------------------------


def counting() -> tuple[list[Any], Any]:
    calls: list[Any] = []

    def parse(data: Any) -> Any:
        calls.append(data)
        return data

    return calls, parse


def test_an_unchanged_file_is_parsed_once_whatever_its_stat_stamp_says(tmp_path: Path) -> None:
    reader, (calls, parse) = Reader(), counting()
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\n")
    for _ in range(3):
        assert load(reader, path, parse) == {"a": 1}
        os.utime(path, ns=(1, 1))
    assert len(calls) == 1
    path.write_text("a: 2\n")
    assert load(reader, path, parse) == {"a": 2}
    assert len(calls) == 2


def test_a_broken_version_falls_back_to_the_last_good_one_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reader = fast()
    path = tmp_path / "status.yaml"
    path.write_text("phase: Running\n")
    assert load(reader, path, fallback=True) == {"phase": "Running"}
    path.write_text("phase: [Runn")  # half of a file being replaced, as a network share shows it
    with caplog.at_level(logging.WARNING, "winslow.resources.reading"):
        for _ in range(3):
            assert load(reader, path, fallback=True) == {"phase": "Running"}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(path) in warnings[0].getMessage() and "last good version" in warnings[0].getMessage()
    with pytest.raises(InvalidFileError) as caught:
        load(reader, path, fallback=False)
    assert caught.value.last_good == {"phase": "Running"}


def test_a_half_seen_file_that_settles_within_the_retries_is_read_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("phase: [Runn")
    settle = threading.Timer(0.1, lambda: path.write_text("phase: Running\n"))
    settle.start()
    with caplog.at_level(logging.WARNING, "winslow.resources.reading"):
        assert load(Reader(attempts=8, pause=0.05), path) == {"phase": "Running"}
    settle.join()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_store_tells_a_missing_spec_from_an_invalid_one(tmp_path: Path) -> None:
    store = Store(tmp_path, Reader(attempts=1))
    store.ensure()
    with pytest.raises(NotFoundError):
        store.pipeline("gone")
    (store.pipelines / "broken.yaml").write_text("apiVersion: winslow/v1\nkind: Pipeline\nmetadata: {}\n")
    with pytest.raises(InvalidFileError) as caught:
        store.pipeline("broken")
    assert not isinstance(caught.value, NotFoundError)
    assert caught.value.name == "broken"
    assert "pipelines/broken.yaml" in caught.value.reason and "spec: is required" in caught.value.reason


def test_the_paths_least_recently_read_are_forgotten_beyond_the_capacity(tmp_path: Path) -> None:
    reader, (calls, parse) = Reader(capacity=2), counting()
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.yaml").write_text(f"{name}: 1\n")
    for name in ("a", "b", "a", "c", "a"):
        load(reader, tmp_path / f"{name}.yaml", parse)
    assert [next(iter(c)) for c in calls] == ["a", "b", "c"], "a stayed: it was read last but one"
    load(reader, tmp_path / "b.yaml", parse)
    assert len(calls) == 4, "b was forgotten"
