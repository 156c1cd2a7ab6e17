"""A stage's `when:` in CEL (resources.conditions): true or false, or an error that names the
expression and what went wrong; never a silent false."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winslow.resources.conditions import (
    MAX_EXPRESSION,
    Condition,
    ConditionError,
    Results,
    check,
    condition,
    evaluate,
)

pytestmark = pytest.mark.timeout(60)

RESULTS: Results = {
    "judge": {"verdict": "good", "accuracy": "0.93", "url": "https://x.org/?a=b"},
    "sweep": [
        {"matrix": {"LR": "0.1", "BATCH": "8"}, "results": {"loss": "0.40"}},
        {"matrix": {"LR": "0.01", "BATCH": "8"}, "results": {"loss": "0.05"}},
    ],
}
ENV = {"MODE": "full", "THRESHOLD": "0.9"}
PHASES = {"judge": "Succeeded", "lint": "Skipped"}


def run(expression: str) -> bool:
    return evaluate(expression, RESULTS, ENV, PHASES)


def error_of(expression: str) -> str:
    with pytest.raises(ConditionError) as raised:
        run(expression)
    return str(raised.value)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('results.judge.verdict == "good"', True),
        ('results.judge.verdict != "good"', False),
        ("double(results.judge.accuracy) > 0.9", True),
        ("double(results.judge.accuracy) > double(env.THRESHOLD)", True),
        ('results.judge.url == "https://x.org/?a=b"', True),
        ('results.judge["verdict"] == "good"', True),
        ("results.sweep.exists(c, double(c.results.loss) < 0.1)", True),
        ("results.sweep.all(c, double(c.results.loss) < 0.1)", False),
        ('results.sweep.exists_one(c, c.matrix.LR == "0.01")', True),
        ('results.sweep.filter(c, c.matrix.BATCH == "8").size() == 2', True),
        ("size(results.sweep) == 2", True),
        ('phases.lint == "Skipped" && phases.judge == "Succeeded"', True),
        ('env.MODE != "dry-run"', True),
        ("has(results.judge.verdict)", True),
        ("has(results.judge.missing)", False),
        ('"judge" in results && !("other" in results)', True),
        ('results.judge.accuracy.startsWith("0.9")', True),
        ('results.judge.verdict.matches("^go+d$")', True),
        ("false && 1 / 0 == 1", False),
        ("1 / 0 == 1 || true", True),
        ('int(env.THRESHOLD == "0.9" ? 1 : 0) == 1', True),
        ("true", True),
        ("\n  false ||\n  true\n", True),
    ],
)
def test_conditions_over_results_env_and_phases(expression, expected):
    assert run(expression) is expected


def test_the_xor_gateway_two_opposite_conditions_run_exactly_one():
    yes, no = 'results.judge.verdict == "good"', '!(results.judge.verdict == "good")'
    for verdict in ("good", "bad"):
        results = {"judge": {"verdict": verdict}}
        assert evaluate(yes, results) != evaluate(no, results)


def test_comparing_text_with_a_number_says_to_convert():
    message = error_of("results.judge.accuracy > 0.9")
    assert message.startswith("when: `results.judge.accuracy > 0.9`: cannot apply `>` to text and a number")
    assert "double(results.train.accuracy) > 0.9" in message


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ('results.judge.nope == "x"', "`results.judge.nope`: no result 'nope' (the stage did not report it)"),
        ('results.train.loss == "x"', "no results of stage 'train'"),
        ('env.NOPE == "x"', "no variable 'NOPE' in env; test for it first with has(), as in has(env.NOPE)"),
        ('phases.nope == "x"', "no stage 'nope' in phases"),
        ("1 / 0 == 1", "`1 / 0`: division by zero"),
        ('results.judge.verdict.matches("[")', "match error"),
        ('int("x") == 1', "invalid literal"),
        ('-"a" == 1', "cannot apply `-` to text"),
    ],
)
def test_a_failing_expression_names_itself_and_the_error(expression, words):
    message = error_of(expression)
    assert message.startswith(f"when: `{expression}`: ")
    assert words in message
    assert "Activation(" not in message and "celtypes" not in message and len(message) < 700


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("results.judge.verdict", "gives text 'good', not true or false"),
        ("size(results.sweep)", "gives a whole number 2, not true or false"),
        ('{"a": 1}', "gives a map {'a': 1}"),
        ("results.judge", "gives a map"),
        ("null", "gives null"),
    ],
)
def test_anything_but_true_or_false_is_an_error(expression, words):
    assert words in error_of(expression)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("", "is empty"),
        ("   \n", "is empty"),
        ("1 +", "is not valid CEL at column 3: 1 ⟨here⟩+"),
        ('results.judge.verdict == "good', "is not valid CEL at column"),
        ('results.judge.verdict ==\n  "good" &&\n', "is not valid CEL at line 2"),
        ("1 == 1 ? true", "it ends too soon"),
        ("x" * (MAX_EXPRESSION + 1), f"more than {MAX_EXPRESSION}"),
        ("(" * 100 + "true" + ")" * 100, "nested too deeply"),
        ('result.judge.verdict == "good"', "unknown name 'result'; did you mean 'results'?"),
        ("envs.X == 1", "unknown name 'envs'; did you mean 'env'?"),
        ("lenght(env) == 0", "unknown function 'lenght'"),
        ("results.sweep.map(c, c.results.loss).max() > 0", "unknown function 'max'"),
        ("results.sweep.exists(c, d.x == 1)", "unknown name 'd'"),
    ],
)
def test_check_finds_what_can_be_known_before_a_run(expression, words):
    problem = check(expression)
    assert problem is not None and words in problem, problem
    with pytest.raises(ConditionError):
        condition(expression)


@pytest.mark.parametrize(
    "expression",
    [
        'results.judge.verdict == "good"',
        "results.sweep.exists(c, double(c.results.loss) < 0.1)",
        "results.sweep.reduce(total, c, 0.0, total + double(c.results.loss)) < 1.0",
        "type(env) == map && int(1) == 1 && string(1) == '1'",
        'has(results.never.ran) || phases.judge == "Succeeded"',
    ],
)
def test_check_passes_valid_conditions_whatever_the_results(expression):
    assert check(expression) is None


def test_compiled_once_and_reused():
    first = condition('results.judge.verdict == "good"')
    assert condition('results.judge.verdict == "good"') is first
    assert isinstance(first, Condition) and first.expression == 'results.judge.verdict == "good"'
    assert first.evaluate({"judge": {"verdict": "good"}}) is True
    assert first.evaluate({"judge": {"verdict": "bad"}}) is False


def test_no_values_at_all_reads_as_empty_maps():
    assert evaluate("size(results) == 0 && size(env) == 0 && size(phases) == 0") is True


def test_a_matrix_stage_gives_a_list_of_combinations():
    results = {"sweep": ({"matrix": {"LR": "0.1"}, "results": {"ok": "yes"}},)}  # any sequence
    assert evaluate('results.sweep[0].matrix.LR == "0.1"', results) is True


# ------------------------------------------------------------------------------ properties

texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


def cel_string(value: str) -> str:
    """A CEL string literal of `value` (every character escaped)."""
    return '"' + "".join(f"\\U{ord(ch):08x}" for ch in value) + '"'


@settings(max_examples=60)
@given(texts, texts)
def test_equality_on_any_result_text(verdict, other):
    results = {"judge": {"verdict": verdict}}
    assert evaluate(f"results.judge.verdict == {cel_string(verdict)}", results) is True
    assert evaluate(f"results.judge.verdict == {cel_string(other)}", results) is (verdict == other)


@settings(max_examples=60)
@given(
    st.decimals(min_value=-1000, max_value=1000, places=4),
    st.decimals(min_value=-1000, max_value=1000, places=4),
)
def test_numeric_results_compare_as_numbers_after_double(value, limit):
    results = {"train": {"loss": str(value)}}
    assert evaluate(f"double(results.train.loss) < {float(limit)!r}", results) is (
        float(value) < float(limit)
    )


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_any_text_either_checks_or_says_why_and_never_crashes(expression):
    problem = check(expression)
    if problem is None:
        try:
            result = evaluate(expression, RESULTS, ENV, PHASES)
        except ConditionError:
            return
        assert isinstance(result, bool)
    else:
        assert isinstance(problem, str) and problem


def test_compiling_and_evaluating_from_many_threads_at_once():
    def one(i: int) -> bool:
        expression = f'results.judge.verdict == "v{i % 7}" && {i} >= 0'
        return evaluate(expression, {"judge": {"verdict": f"v{i % 7}"}})

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(one, range(200)))
