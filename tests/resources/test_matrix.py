"""A stage's sweep, expanded (resources.matrix): exact decimal ranges, the end clamped in, a
stable order, and every mistake named with its field and fix."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from winslow.resources.matrix import (
    MAX_COMBINATIONS,
    MatrixError,
    check,
    count,
    expand,
    from_flags,
    label,
    parse_range,
    render,
)

pytestmark = pytest.mark.timeout(60)


def values(spec: object) -> list[str]:
    return [c["X"] for c in expand({"X": spec})]


def problems(matrix: object) -> list[tuple[str, str]]:
    with pytest.raises(MatrixError) as raised:
        expand(matrix)  # type: ignore[arg-type]
    return raised.value.problems


# ------------------------------------------------------------------------------------- ranges


def test_the_issue_example_clamps_the_end_in():
    assert values({"from": 0, "to": 1, "step": "0.3"}) == ["0", "0.3", "0.6", "0.9", "1"]


def test_decimal_steps_never_show_binary_float_noise():
    tenths = values({"from": 0, "to": 1, "step": 0.1})
    assert tenths == ["0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1"]
    assert values({"from": "0.9", "to": "0.9000001", "step": "0.00000005"}) == [
        "0.9",
        "0.90000005",
        "0.9000001",
    ]


def test_integer_ranges_render_as_integers():
    assert values({"from": 8, "to": 64, "step": 8}) == ["8", "16", "24", "32", "40", "48", "56", "64"]
    assert values({"from": "8.0", "to": "16.00", "step": "4.0"}) == ["8", "12", "16"]


def test_counting_down_with_a_negative_step():
    assert values({"from": 1, "to": 0, "step": -0.25}) == ["1", "0.75", "0.5", "0.25", "0"]
    assert values({"from": 10, "to": -5, "step": -4}) == ["10", "6", "2", "-2", "-5"]


def test_a_range_of_one_value_and_a_step_past_the_end():
    assert values({"from": 3, "to": 3, "step": 1}) == ["3"]
    assert values({"from": 0, "to": 1, "step": 5}) == ["0", "1"]


def test_no_exponent_in_what_a_stage_gets():
    assert values({"from": "1e-6", "to": "3e-6", "step": "1e-6"}) == ["0.000001", "0.000002", "0.000003"]
    assert values({"from": "1E+3", "to": "3000", "step": "1e3"}) == ["1000", "2000", "3000"]
    assert values({"from": "-0.0", "to": 0, "step": 1}) == ["0"]


def test_underscores_and_spaces_in_numbers_written_as_text():
    assert values({"from": " 1_000 ", "to": "2_000", "step": "1_000"}) == ["1000", "2000"]


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"from": 0, "to": 1, "step": 0}, "X.step", "is 0"),
        ({"from": 0, "to": 1, "step": "-0.3"}, "X.step", "to count up use step 0.3"),
        ({"from": 1, "to": 0, "step": "0.25"}, "X.step", "to count down use step -0.25"),
        ({"from": 0, "to": 1}, "X", "needs `step`"),
        ({"from": "nan", "to": 1, "step": 1}, "X.from", "expected a number"),
        ({"from": "inf", "to": 1, "step": 1}, "X.from", "expected a number"),
        ({"from": 0, "to": "1e999999", "step": 1}, "X.to", "expected a number"),
        ({"from": 0, "to": True, "step": 1}, "X.to", "got true"),
        ({"from": 0, "to": [1], "step": 1}, "X.to", "got a list"),
        ({"from": 0, "to": 1, "by": 1, "step": 1}, "X.by", "did you mean `step`?"),
        ({"start": 0, "to": 1, "step": 1}, "X.start", "did you mean `from`?"),
    ],
)
def test_a_wrong_range_names_its_field_and_the_fix(spec, field, words):
    found = problems({"X": spec})
    assert any(f == field and words in message for f, message in found), found


def test_a_wrong_sign_says_which_way_and_names_the_variable():
    with pytest.raises(MatrixError) as raised:
        expand({"LR": {"from": 0, "to": 1, "step": -0.1}})
    assert str(raised.value) == (
        "matrix.LR.step: -0.1 never reaches `to` 1 from `from` 0; to count up use step 0.1, or swap "
        "`from` and `to`"
    )


# --------------------------------------------------------------------------------- listed values


def test_listed_values_are_kept_as_written_and_yaml_numbers_by_their_spelling():
    assert values(["0.1", "0.010", "a b", ""]) == ["0.1", "0.010", "a b", ""]
    assert values([0.1, 1e-05, 3, -0.0, 1e20]) == ["0.1", "0.00001", "3", "0", "100000000000000000000"]


@pytest.mark.parametrize(
    ("listed", "field", "words"),
    [
        ([], "X", "no values"),
        ([True], "X[0]", "put the value in quotes"),
        ([None], "X[0]", "put the value in quotes"),
        ([{"a": 1}], "X[0]", "each value is a number or text"),
        (["a\0b"], "X[0]", "NUL"),
        (["x" * 5000], "X[0]", "at most"),
        ([float("nan")], "X[0]", "finite"),
        (["1", 1], "X[1]", "listed twice (also X[0])"),
    ],
)
def test_a_wrong_list_names_the_item(listed, field, words):
    found = problems({"X": listed})
    assert any(f == field and words in message for f, message in found), found


# ---------------------------------------------------------------------------------- the matrix


def test_the_issue_matrix_in_order_last_variable_fastest():
    combos = expand({"LR": ["0.1", "0.01"], "BATCH": {"from": 8, "to": 24, "step": 8}})
    assert combos == [
        {"LR": "0.1", "BATCH": "8"},
        {"LR": "0.1", "BATCH": "16"},
        {"LR": "0.1", "BATCH": "24"},
        {"LR": "0.01", "BATCH": "8"},
        {"LR": "0.01", "BATCH": "16"},
        {"LR": "0.01", "BATCH": "24"},
    ]
    assert [list(c) for c in combos] == [["LR", "BATCH"]] * 6, "each combination in the order written"
    assert count({"LR": ["0.1", "0.01"], "BATCH": {"from": 8, "to": 24, "step": 8}}) == 6


def test_too_many_combinations_is_refused_before_any_is_made():
    huge = {"A": {"from": 0, "to": 10**30, "step": 1}, "B": ["x", "y"]}
    assert count(huge) == 2 * (10**30 + 1)
    with pytest.raises(MatrixError, match=r"makes \d+ combinations \(A \d+ x B 2\), more than 1000"):
        expand(huge)
    assert len(expand({"A": {"from": 1, "to": MAX_COMBINATIONS, "step": 1}})) == MAX_COMBINATIONS
    assert check({"A": {"from": 1, "to": 20, "step": 1}}, limit=10)[0][1].startswith("makes 20")


@pytest.mark.parametrize(
    ("matrix", "field", "words"),
    [
        ({}, "", "has no variables"),
        ([1], "", "expected a mapping"),
        ({"1X": [1]}, "1X", "not starting with a digit"),
        ({"A-B": [1]}, "A-B", "letters, digits and `_`"),
        ({"WINSLOW_LR": [1]}, "WINSLOW_LR", "Winslow's own"),
        ({"X": "0.1"}, "X", "expected a list of values"),
        ({"X": 3}, "X", "or a range"),
    ],
)
def test_a_wrong_matrix_names_the_variable(matrix, field, words):
    found = problems(matrix)
    assert any(f == field and words in message for f, message in found), found


def test_every_problem_is_reported_at_once_and_check_returns_them():
    matrix = {"A": {"from": 0, "to": 1, "step": 0}, "B": [], "C": ["ok"]}
    found = check(matrix)
    assert [f for f, _ in found] == ["A.step", "B"]
    assert check({"C": ["ok"]}) == []
    assert str(MatrixError(found)).startswith("matrix.A.step: is 0")


def test_label_and_command_line_flags():
    assert label({"LR": "0.1", "BATCH": "8"}) == "LR=0.1,BATCH=8"
    assert from_flags(["LR=0.1, 0.2", "BATCH=8"]) == {"LR": ["0.1", "0.2"], "BATCH": ["8"]}
    assert expand(from_flags(["LR=0.1,0.2"])) == [{"LR": "0.1"}, {"LR": "0.2"}]
    with pytest.raises(MatrixError, match="write NAME=VALUE"):
        from_flags(["LR"])
    with pytest.raises(MatrixError, match="given twice"):
        from_flags(["LR=1", "LR=2"])
    with pytest.raises(MatrixError, match="Winslow's own"):
        from_flags(["WINSLOW_STAGE=x"])


def test_render_is_exact_for_long_values():
    assert render(123456789012345678901234567890123, -30) == "123.456789012345678901234567890123"
    assert render(-5, -3) == "-0.005"
    assert render(120, -1) == "12"
    assert render(7, 2) == "700"


# -------------------------------------------------------------------------------- properties

decimals = st.decimals(min_value=-10_000, max_value=10_000, places=3, allow_nan=False, allow_infinity=False)
steps = st.decimals(min_value=Decimal("0.001"), max_value=1000, places=3)


@st.composite
def ranges(draw: st.DrawFn) -> tuple[Decimal, Decimal, Decimal]:
    start, stop, step = draw(decimals), draw(decimals), draw(steps)
    if stop < start:
        step = -step
    count = (stop - start) / step
    if count > 500:  # keep each example small; the count formula is checked on its own below
        stop = start + step * 500
    return start, stop, step


@given(ranges())
def test_range_values_are_exact_monotone_within_bounds_and_end_at_to(bounds):
    start, stop, step = bounds
    got = [Decimal(v) for v in values({"from": str(start), "to": str(stop), "step": str(step)})]
    assert got[0] == start and got[-1] == stop, "the end is clamped in"
    low, high = min(start, stop), max(start, stop)
    assert all(low <= v <= high for v in got)
    pairs = list(itertools.pairwise(got))
    assert all((b - a) * step > 0 for a, b in pairs), "strictly monotone, in the step's direction"
    assert all(b - a == step for a, b in pairs[:-1]), "every step but the last is exactly `step`"
    if pairs:
        last = pairs[-1][1] - pairs[-1][0]
        assert 0 < last / step <= 1, "the last step is never longer than `step`"
    assert all(v == start + i * step for i, v in enumerate(got[:-1])), "no accumulated error"


@given(ranges())
def test_count_formula(bounds):
    start, stop, step = bounds
    spec = {"from": str(start), "to": str(stop), "step": str(step)}
    steps_inside = (stop - start) / step
    whole = int(steps_inside)
    expected = whole + 1 + (0 if whole == steps_inside else 1)
    assert parse_range("X", spec).count == expected == len(values(spec)) == count({"X": spec})


@given(ranges())
def test_rendering_is_the_shortest_plain_form(bounds):
    start, stop, step = bounds
    for text in values({"from": str(start), "to": str(stop), "step": str(step)}):
        assert "e" not in text.lower()
        assert not (("." in text) and text.endswith("0")), text
        assert not text.endswith(".")
        assert text == "0" or not text.lstrip("-").startswith("0") or text.lstrip("-").startswith("0.")


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(lambda f: f != 0))
def test_a_yaml_float_is_read_by_its_spelling(number):
    assert Decimal(values([number])[0]) == Decimal(repr(number))


@given(
    st.dictionaries(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,5}", fullmatch=True).filter(lambda n: not n.startswith("WINSLOW_")),
        st.lists(
            st.text(st.characters(exclude_characters="\0"), max_size=4), min_size=1, max_size=4, unique=True
        ),
        min_size=1,
        max_size=4,
    )
)
def test_the_combinations_are_the_product_in_order(matrix):
    combos = expand(matrix)
    assert len(combos) == count(matrix) == len({tuple(c.items()) for c in combos}), "each once"
    names = list(matrix)
    keys = [tuple(matrix[n].index(c[n]) for n in names) for c in combos]
    assert keys == sorted(keys), "the order written, the last variable varying fastest"
    assert expand(matrix) == combos, "stable"
