"""Rows from a stage's output (resources.parsedrows): examples, then properties over generated
outputs: any pieces read the same, arbitrary bytes and endless lines never stop it, every row is
one bounded line of CSV that reads back as written."""

from __future__ import annotations

import csv
import io
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winslow.resources.parsedrows import MAX_VALUE, LineParser, Row, compiled, line_time
from winslow.resources.stageoutput import LINE_LIMIT

pytestmark = pytest.mark.timeout(120)

LOSS = r"epoch (?P<epoch>\d+) loss (?P<loss>[\d.]+)"
STAMP = "2026-12-04T15:30:42.123456789Z"
PARSERS = compiled([("loss", LOSS), ("note", r"note: (?P<text>.*)")])


def rows_of(data: bytes, stamp: str = STAMP) -> list[Row]:
    return LineParser(PARSERS).feed(data, stamp)


def test_a_matching_line_is_a_row_of_its_named_groups_in_order_after_the_time() -> None:
    rows = rows_of(b"epoch 1 loss 0.5\nnoise\n[train] epoch 2 loss 0.25 (best)\r\n")
    assert rows == [
        Row("loss", "2026-12-04T15:30:42.123Z", ("1", "0.5")),
        Row("loss", "2026-12-04T15:30:42.123Z", ("2", "0.25")),
    ]
    assert PARSERS[0].header == ("time", "epoch", "loss")
    assert rows[0].csv() == b"2026-12-04T15:30:42.123Z,1,0.5\n"


def test_one_line_may_be_a_row_of_several_parsers_and_values_are_quoted_as_csv() -> None:
    parsers = compiled([("a", r"(?P<x>\d+)"), ("b", r"note: (?P<text>.*)")])
    rows = LineParser(parsers).feed(b'note: 3 apples, "red"\n', STAMP)
    assert [r.parser for r in rows] == ["a", "b"]
    assert rows[1].csv() == b'2026-12-04T15:30:42.123Z,"3 apples, ""red"""\n'


def test_a_line_is_read_once_its_newline_comes_with_the_time_of_that_piece() -> None:
    parser = LineParser(PARSERS)
    assert parser.feed(b"epoch 3 lo", "2026-01-01T00:00:00Z") == []
    assert parser.feed(b"ss 0.1\nepoch 4", "2026-01-01T00:00:01.5Z") == [
        Row("loss", "2026-01-01T00:00:01.500Z", ("3", "0.1"))
    ]


def test_an_endless_line_is_skipped_and_the_next_line_is_read() -> None:
    rows = rows_of(b"epoch 1 loss " + b"9" * (LINE_LIMIT + 10) + b"\nepoch 2 loss 0.5\n")
    assert [r.values for r in rows] == [("2", "0.5")]


def test_a_group_that_took_no_part_is_empty() -> None:
    parsers = compiled([("m", r"loss (?P<loss>[\d.]+)(?: acc (?P<acc>[\d.]+))?")])
    assert LineParser(parsers).feed(b"loss 1.5\n", STAMP)[0].values == ("1.5", "")


def test_times_other_than_dockers_are_kept_only_where_safe_in_csv() -> None:
    assert line_time("2026-12-04T15:30:42Z") == "2026-12-04T15:30:42.000Z"
    assert line_time("2026-12-04T15:30:42.1Z") == "2026-12-04T15:30:42.100Z"
    assert line_time("17") == "17"
    assert line_time('a,"b') == ""


def test_an_invalid_declared_pattern_is_left_out_not_raised() -> None:
    assert [p.name for p in compiled([("bad", "(?=x)"), ("ok", r"(?P<a>\d)")])] == ["ok"]


def test_no_parsers_read_nothing() -> None:
    assert LineParser([]).feed(b"epoch 1 loss 0.5\n", STAMP) == []


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["loss", "note", "noise", "binary", "long"]))
    if kind == "loss":
        line = f"epoch {draw(st.integers(0, 10**6))} loss {draw(st.floats(0, 10)):.4f}".encode()
    elif kind == "note":
        line = b"note: " + draw(st.binary(max_size=400)).replace(b"\n", b" ")
    elif kind == "noise":
        line = draw(st.text(max_size=60)).encode("utf-8", "surrogatepass").replace(b"\n", b" ")
    elif kind == "binary":
        line = draw(st.binary(max_size=60)).replace(b"\n", b" ")
    else:
        line = b"epoch 1 loss " + b"7" * draw(st.integers(LINE_LIMIT - 40, LINE_LIMIT + 40))
    return line + draw(st.sampled_from([b"\n", b"\r\n"]))


outputs = st.lists(lines(), max_size=25).map(b"".join)


def in_pieces(data: bytes, cuts: list[int]) -> list[Row]:
    parser = LineParser(PARSERS)
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    rows: list[Row] = []
    for start, end in itertools.pairwise(bounds):
        rows += parser.feed(data[start:end], STAMP)
    return rows


@settings(max_examples=200, deadline=None)
@given(outputs, st.lists(st.integers(0, 10**6), max_size=8))
def test_any_pieces_read_the_same_rows(data: bytes, cuts: list[int]) -> None:
    assert in_pieces(data, cuts) == rows_of(data)


@settings(max_examples=200, deadline=None)
@given(st.one_of(outputs, st.binary(max_size=3000)))
def test_every_row_is_one_bounded_line_of_csv_that_reads_back(data: bytes) -> None:
    for row in rows_of(data):
        encoded = row.csv()
        assert encoded.endswith(b"\n") and encoded.count(b"\n") == 1, "one line, whatever the bytes"
        assert all(len(v) <= MAX_VALUE for v in row.values)
        back = next(csv.reader(io.StringIO(encoded.decode())))
        assert back == [row.time, *row.values]


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 4), st.binary(min_size=1, max_size=64))
def test_huge_lines_and_floods_stay_bounded(megabytes: int, junk: bytes) -> None:
    parser = LineParser(PARSERS)
    flood = (junk.replace(b"\n", b"") or b"x") * ((megabytes << 20) // max(len(junk), 1) + 1)
    for start in range(0, len(flood), 1 << 16):
        assert parser.feed(flood[start : start + (1 << 16)], STAMP) == []
    assert parser.feed(b"\nepoch 5 loss 0.5\n", STAMP)[0].values == ("5", "0.5")
