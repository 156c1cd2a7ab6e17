import pytest
from hypothesis import given
from hypothesis import strategies as st

from winslow.resources.quantity import format_memory, parse_cpu, parse_memory


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512Mi", 512 << 20),
        ("16Gi", 16 << 30),
        ("1G", 10**9),
        ("1024", 1024),
        (2048, 2048),
        ("1.5Gi", 3 << 29),
    ],
)
def test_memory_spellings(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize(("text", "hint"), [("16 GB", "use 16Gi"), ("512mb", "use 512Mi"), ("lots", "512Mi")])
def test_memory_errors_suggest_the_fix(text, hint):
    with pytest.raises(ValueError, match=hint):
        parse_memory(text)


def test_cpu_spellings():
    assert parse_cpu("500m") == 0.5
    assert parse_cpu(2) == 2.0
    assert parse_cpu("1.5") == 1.5
    with pytest.raises(ValueError, match="500m"):
        parse_cpu("two")
    with pytest.raises(ValueError):
        parse_cpu(-1)


@given(st.integers(min_value=0, max_value=1 << 50))
def test_exact_binary_sizes_round_trip(n):
    text = format_memory(n << 10)
    assert parse_memory(text) == n << 10
