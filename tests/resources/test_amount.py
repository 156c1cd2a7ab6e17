from hypothesis import given
from hypothesis import strategies as st

from winslow.resources.amount import Amount
from winslow.resources.node import NodeStatus
from winslow.resources.pipeline import Resources

amounts = st.builds(
    Amount,
    cpu=st.integers(0, 6400).map(lambda c: c / 100),
    memory=st.integers(0, 1 << 40),
    gpu=st.integers(0, 8),
)


@given(amounts, amounts)
def test_what_is_left_after_a_fitting_request_still_holds_it_back(free, request):
    if request.fits_in(free):
        left = free.minus(request)
        assert left.plus(request).fits_in(free) and free.fits_in(left.plus(request))
    else:
        assert request.short_of(free)


@given(amounts, amounts)
def test_minus_never_goes_below_zero(a, b):
    left = a.minus(b)
    assert left.cpu >= 0 and left.memory >= 0 and left.gpu >= 0


def test_fractions_of_a_cpu_add_up():
    assert Amount(cpu=0.3).fits_in(Amount(cpu=0.1).plus(Amount(cpu=0.2)))


def test_a_stage_request_and_a_node_file_use_the_same_amount():
    assert Resources(cpu=2, memory="16Gi", gpu=1).amount == Amount(2.0, 16 << 30, 1)
    status = NodeStatus.model_validate(
        {"capacity": {"cpu": 4, "memory": 1024, "gpu": 1}, "heartbeat": "2026-11-29T00:00:00Z"}
    )
    assert status.capacity == Amount(4.0, 1024, 1)
    assert status.to_wire()["capacity"] == {"cpu": 4.0, "memory": 1024, "gpu": 1}
    assert str(Amount(2, 16 << 30, 1)) == "cpu 2, memory 16.0Gi, gpu 1"
    assert Amount(64, 0, 0).short_of(Amount(4, 8 << 30, 0)) == ["cpu"]
