"""A stage's sweep (`matrix:`): every combination of its variables' values, one StageRun each.

    matrix:
      LR: ["0.1", "0.01"]                  # values, used as written
      BATCH: {from: 8, to: 64, step: 8}    # a range: 8, 16, ..., 64

Ranges step in exact decimals, never in binary floats: the original Winslow stepped in 32-bit
floats and handed stages `0.90000004`. Every bound and step is read as the decimal it was written
as (a YAML float by its shortest spelling, so `0.1` stays 0.1) and the values are counted on the
integer grid of the finest of the three, so no value ever carries a rounding error.

The end of a range is clamped in: the last value is always `to`, even where the steps do not land
on it (`0` to `1` by `0.3` is 0, 0.3, 0.6, 0.9, 1). A sweep is asked for to cover an interval;
stopping at 0.9 would leave its upper end untried, which is what a user who wrote `to: 1` meant to
try. The last step may therefore be shorter than `step`, never longer, and no value is repeated.

Values are rendered in their shortest plain form (no exponent, no trailing zeros after the point):
`8` not `8.0`, `0.3` not `0.30`, `0.00001` not `1E-5`, so a program that parses an integer gets
one. The order of the combinations is stable: the variables in the order written, the last one
varying fastest, each variable's values in their own order (lists as written, ranges from `from`).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_COMBINATIONS = 1000
"""A sweep larger than this is almost certainly a typo (a step of 0.001 meant as 0.1), and each
combination is a StageRun file, a workspace and a container."""

MAX_DIGITS = 40
"""Characters of one bound or step written out plainly; `1e999999` would otherwise be a million."""

MAX_VALUE_CHARS = 1024
"""Characters of one listed value, as an environment variable's value."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
RESERVED_PREFIX = "WINSLOW_"
RANGE_KEYS = ("from", "to", "step")
_SYNONYMS = {
    "start": "from",
    "begin": "from",
    "min": "from",
    "end": "to",
    "stop": "to",
    "until": "to",
    "max": "to",
    "by": "step",
    "increment": "step",
    "inc": "step",
    "delta": "step",
}


class MatrixError(ValueError):
    """A matrix that cannot be expanded. `problems` are (field, message), the field relative to the
    stage's `matrix` (`LR`, `BATCH.step`), for the caller to prefix with the stage's path."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(
                f"matrix.{field}: {message}" if field else f"matrix: {message}" for field, message in problems
            )
        )


@dataclass(frozen=True)
class Range:
    """`from`, `to` and `step` as counts of `10 ** exponent`: exact integer arithmetic throughout."""

    start: int
    stop: int
    step: int
    exponent: int

    @property
    def count(self) -> int:
        """How many values, without making them: a range of a billion is refused before it is built."""
        span = self.stop - self.start
        if span == 0:
            return 1
        whole, rest = divmod(span, self.step)
        return whole + 1 + (1 if rest else 0)

    def values(self) -> list[str]:
        span = self.stop - self.start
        if span == 0:
            return [render(self.start, self.exponent)]
        whole = span // self.step
        units = [self.start + i * self.step for i in range(whole + 1)]
        if units[-1] != self.stop:
            units.append(self.stop)  # clamped in: the end is always tried
        return [render(u, self.exponent) for u in units]


def render(units: int, exponent: int) -> str:
    """`units * 10 ** exponent` in its shortest plain decimal form; built from the digits, never
    through a float or a Decimal context that could round a long value."""
    if units == 0:
        return "0"
    sign = "-" if units < 0 else ""
    digits = str(abs(units))
    while exponent < 0 and digits.endswith("0"):
        digits = digits[:-1]
        exponent += 1
    if exponent >= 0:
        return sign + digits + "0" * exponent
    point = len(digits) + exponent
    if point > 0:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    return f"{sign}0.{'0' * -point}{digits}"


def _decimal(value: Any) -> Decimal | None:
    """The decimal a bound was written as; None for what is not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        # the shortest spelling that reads back as this float: 0.1, not 0.1000000000000000055
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if not text or len(text) > MAX_DIGITS:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _plain_length(number: Decimal) -> int:
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    return len(digits) + abs(exponent) + 2


def parse_range(name: str, spec: Mapping[str, Any]) -> Range:
    """A `{from, to, step}` mapping as a Range; MatrixError names the field and the fix."""
    problems: list[tuple[str, str]] = []
    unknown = [str(k) for k in spec if k not in RANGE_KEYS]
    for key in unknown:
        meant = _SYNONYMS.get(key.lower())
        hint = f"did you mean `{meant}`? " if meant else ""
        problems.append((f"{name}.{key}", f"unknown field; {hint}a range has `from`, `to` and `step`"))
    numbers: dict[str, Decimal] = {}
    for key in RANGE_KEYS:
        if key not in spec:
            problems.append((f"{name}", f"a range needs `{key}` (`{{from: 0, to: 1, step: 0.1}}`)"))
            continue
        number = _decimal(spec[key])
        if number is None or _plain_length(number) > MAX_DIGITS:
            problems.append(
                (
                    f"{name}.{key}",
                    f"expected a number such as 8 or 0.25 (at most {MAX_DIGITS} digits written out), "
                    f"got {_shown(spec[key])}",
                )
            )
            continue
        numbers[key] = number
    if problems:
        raise MatrixError(problems)
    start, stop, step = numbers["from"], numbers["to"], numbers["step"]
    if step == 0:
        raise MatrixError(
            [
                (
                    f"{name}.step",
                    f"is 0, so the range never moves from {_plain(start)}; give a step such as 1 or 0.1",
                )
            ]
        )
    if (stop - start) * step < 0:
        direction = "up" if stop > start else "down"
        fix = _plain(-step)
        raise MatrixError(
            [
                (
                    f"{name}.step",
                    f"{_plain(step)} never reaches `to` {_plain(stop)} from `from` {_plain(start)}; to count "
                    f"{direction} use step "
                    f"{fix}, or swap `from` and `to`",
                )
            ]
        )
    exponent = min(_exponent(start), _exponent(stop), _exponent(step))
    return Range(_units(start, exponent), _units(stop, exponent), _units(step, exponent), exponent)


def _plain(number: Decimal) -> str:
    return render(_units(number, _exponent(number)), _exponent(number))


def _exponent(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    return exponent


def _units(number: Decimal, exponent: int) -> int:
    """`number` as a whole count of `10 ** exponent` (exponent at most its own: exact)."""
    sign, digits, own = number.as_tuple()
    assert isinstance(own, int)
    whole = int("".join(map(str, digits)) or "0") * 10 ** (own - exponent)
    return -whole if sign else whole


def _listed(name: str, values: Sequence[Any]) -> list[str]:
    if not values:
        raise MatrixError([(name, "no values; list at least one, or remove the variable")])
    problems: list[tuple[str, str]] = []
    found: list[str] = []
    first: dict[str, int] = {}
    for index, value in enumerate(values):
        where = f"{name}[{index}]"
        text: str | None = None
        if isinstance(value, bool) or value is None:
            problems.append((where, f'got {_shown(value)}; put the value in quotes (`"yes"`)'))
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, float):
            number = _decimal(value)
            if number is None:
                problems.append((where, f"got {_shown(value)}; expected a finite number or text"))
            else:
                text = _plain(number)
        elif isinstance(value, str):
            if "\0" in value or len(value) > MAX_VALUE_CHARS:
                problems.append(
                    (
                        where,
                        f"an environment value has no NUL character and at most {MAX_VALUE_CHARS} characters",
                    )
                )
            else:
                text = value
        else:
            problems.append((where, f"got {_shown(value)}; each value is a number or text"))
        if text is None:
            continue
        if text in first:
            problems.append(
                (where, f"{text!r} is listed twice (also {name}[{first[text]}]); each combination runs once")
            )
            continue
        first[text] = index
        found.append(text)
    if problems:
        raise MatrixError(problems)
    return found


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _axis(name: str, spec: Any) -> list[str] | Range:
    if isinstance(spec, Mapping):
        return parse_range(name, spec)
    if isinstance(spec, list | tuple):
        return _listed(name, spec)
    raise MatrixError(
        [
            (
                name,
                f'expected a list of values (`["0.1", "0.01"]`) or a range (`{{from: 8, to: 64, step: 8}}`), '
                f"got {_shown(spec)}",
            )
        ]
    )


def _name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not _NAME.match(name):
        return (
            "a variable name is letters, digits and `_`, not starting with a digit, at most 128 "
            f"characters (it becomes an environment variable), got {_shown(name)}"
        )
    if name.upper().startswith(RESERVED_PREFIX):
        return f"names starting with {RESERVED_PREFIX} are Winslow's own; choose another name"
    return None


def _axes(matrix: Mapping[str, Any]) -> dict[str, list[str] | Range]:
    if not isinstance(matrix, Mapping):
        raise MatrixError([("", f"expected a mapping of variables to values, got {_shown(matrix)}")])
    if not matrix:
        raise MatrixError([("", "has no variables; name at least one, or remove `matrix`")])
    problems: list[tuple[str, str]] = []
    axes: dict[str, list[str] | Range] = {}
    for name, spec in matrix.items():
        wrong = _name_problem(name)
        if wrong is not None:
            problems.append((str(name), wrong))
            continue
        try:
            axes[name] = _axis(name, spec)
        except MatrixError as error:
            problems.extend(error.problems)
    if problems:
        raise MatrixError(problems)
    return axes


def _size(axis: list[str] | Range) -> int:
    return axis.count if isinstance(axis, Range) else len(axis)


def count(matrix: Mapping[str, Any]) -> int:
    """How many combinations the matrix makes, without making them (any size; MatrixError if invalid)."""
    return math.prod(_size(axis) for axis in _axes(matrix).values())


def expand(matrix: Mapping[str, Any], limit: int = MAX_COMBINATIONS) -> list[dict[str, str]]:
    """Every combination as variable → value, in the stable order of the module's docstring.
    MatrixError, naming each bad field and its fix, for an invalid matrix or more than `limit`."""
    axes = _axes(matrix)
    sizes = {name: _size(axis) for name, axis in axes.items()}
    total = math.prod(sizes.values())
    if total > limit:
        shape = " x ".join(f"{name} {size}" for name, size in sizes.items())
        raise MatrixError(
            [
                (
                    "",
                    f"makes {total} combinations ({shape}), more than {limit}; use fewer values or a "
                    "larger step",
                )
            ]
        )
    columns = [axis.values() if isinstance(axis, Range) else axis for axis in axes.values()]
    names = list(axes)
    return [dict(zip(names, row, strict=True)) for row in itertools.product(*columns)]


def check(matrix: Mapping[str, Any], limit: int = MAX_COMBINATIONS) -> list[tuple[str, str]]:
    """The problems of a matrix, for validation when a pipeline is applied; [] when it is valid."""
    try:
        expand(matrix, limit)
    except MatrixError as error:
        return error.problems
    return []


def label(combination: Mapping[str, str]) -> str:
    """A combination as people read it and `--matrix` takes it: `LR=0.1,BATCH=8`."""
    return ",".join(f"{name}={value}" for name, value in combination.items())


def from_flags(flags: Sequence[str]) -> dict[str, list[str]]:
    """`--matrix LR=0.1,0.2 --matrix BATCH=8,16` as a matrix of listed values (values cannot hold
    a comma here; a manifest's list can). MatrixError for a flag without `NAME=`."""
    matrix: dict[str, list[str]] = {}
    problems: list[tuple[str, str]] = []
    for flag in flags:
        name, equals, values = flag.partition("=")
        name = name.strip()
        if not equals or not name:
            problems.append((name, f"{flag!r}: write NAME=VALUE[,VALUE...], for example LR=0.1,0.01"))
            continue
        wrong = _name_problem(name)
        if wrong is not None:
            problems.append((name, wrong))
            continue
        if name in matrix:
            problems.append((name, "is given twice; list all its values in one flag (LR=0.1,0.2)"))
            continue
        matrix[name] = [v.strip() for v in values.split(",")]
    if problems:
        raise MatrixError(problems)
    return matrix
