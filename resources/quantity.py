"""Kubernetes-style quantities: memory as `512Mi`/`16Gi`, CPU as `2` or `500m`.

Users copy these habits from Kubernetes, so the same spellings are accepted and the error for a
near miss (`16 GB`) suggests the spelling that was probably meant.
"""

from __future__ import annotations

import re

_BINARY = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50}
_DECIMAL = {"k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?$")
_LOOSE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpP])?i?[bB]?\s*$")


def parse_memory(value: str | int) -> int:
    """Bytes for a memory quantity; raises ValueError with the suggested spelling."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity; use for example 512Mi or 16Gi")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value} is negative; use a size such as 512Mi")
        return value
    text = str(value)
    match = _QUANTITY.match(text)
    if match:
        number, suffix = match.groups()
        factor = _BINARY.get(suffix or "", _DECIMAL.get(suffix or "", 1))
        return int(float(number) * factor)
    raise ValueError(f"{text!r} is not a quantity; use {_suggest(text)}")


def _suggest(text: str) -> str:
    loose = _LOOSE.match(text)
    if loose:
        number, unit = loose.groups()
        return f"{number}{unit.upper()}i" if unit else number
    return "a size such as 512Mi or 16Gi"


def format_memory(nbytes: int) -> str:
    """The shortest exact binary spelling, for tables and round trips."""
    for suffix in ("Pi", "Ti", "Gi", "Mi", "Ki"):
        factor = _BINARY[suffix]
        if nbytes >= factor and nbytes % factor == 0:
            return f"{nbytes // factor}{suffix}"
    for suffix in ("Ti", "Gi", "Mi", "Ki"):
        factor = _BINARY[suffix]
        if nbytes >= factor:
            return f"{nbytes / factor:.1f}{suffix}"
    return str(nbytes)


def parse_cpu(value: str | float | int) -> float:
    """Cores for a CPU quantity (`2`, `0.5`, `500m`)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a CPU quantity; use a number of cores such as 2 or 500m")
    if isinstance(value, int | float):
        cores = float(value)
    else:
        text = str(value).strip()
        try:
            cores = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a CPU quantity; use a number of cores such as 2 or 500m"
            ) from None
    if cores < 0:
        raise ValueError(f"{value!r} is negative; use a number of cores such as 2 or 500m")
    return cores
