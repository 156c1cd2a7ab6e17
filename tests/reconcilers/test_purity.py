"""The guard every decide test runs under (tests/reconcilers/purity.py) does catch what it forbids."""

import random
import secrets
import time
from pathlib import Path

import pytest

from tests.reconcilers.purity import Impure, pure

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    "impure",
    [
        lambda: time.time(),
        lambda: time.monotonic(),
        lambda: secrets.token_hex(8),
        lambda: random.random(),
        lambda: Path("/").stat(),
    ],
)
def test_a_decision_that_reads_a_clock_draws_or_touches_files_fails(impure):
    with pytest.raises(Impure):
        pure(impure)()


def test_outside_a_decision_everything_works_again():
    pure(lambda: None)()
    assert time.monotonic() > 0 and Path("/").stat()
