from hypothesis import given
from hypothesis import strategies as st

from winslow.controller.skew import SkewTracker, SkewWatch, combined, offsets


class Mono:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_largest_recent_sample_estimates_a_peers_offset():
    mono = Mono()
    tracker = SkewTracker(window=10, monotonic=mono)
    for delay in (0.3, 0.05, 0.2):  # peer is 5 s ahead; samples read after various delays
        tracker.sample("b", their_wall=105.0, our_wall=100.0 + delay)
    assert round(tracker.estimates()["b"], 2) == 4.95
    mono.t = 11
    assert tracker.estimates() == {}, "old samples age out"


def test_too_few_samples_say_nothing():
    tracker = SkewTracker()
    tracker.sample("b", 1.0, 0.0)
    assert tracker.estimates() == {}


@given(st.floats(-1000, 1000), st.floats(0, 2), st.floats(0, 2))
def test_the_offset_is_within_the_delays_and_never_overstated(offset, delay_in, delay_out):
    ours = offset - delay_in  # b's events reach us after `delay_in`
    theirs = -offset - delay_out  # ours reach b after `delay_out`
    found = combined(ours, theirs)
    assert found is not None
    assert offset - delay_in - 1e-9 <= found <= offset + delay_out + 1e-9
    assert abs(found) <= abs(offset) + 1e-9


def test_late_reads_on_both_sides_show_no_skew():
    """Before: a node that had just started read its peer's recent events seconds late, and
    half that lateness was reported as skew between two processes of one machine."""
    assert combined(-0.05, -14.6) == 0.0
    assert combined(-7.0, None) == 0.0
    assert combined(None, -7.0) == 0.0


def test_offsets_use_what_each_peer_publishes_about_us():
    found = offsets("a", {"b": 2.9, "c": 0.1}, {"b": {"a": -3.1}, "d": {"a": 4.0}, "a": {"b": 9}})
    assert found == {"b": 2.9, "c": 0.1, "d": -4.0}


def test_a_skewed_peer_is_reported_once_and_again_when_it_recovers():
    watch = SkewWatch("a")
    (first,) = watch.check({"b": 3.0, "c": 0.2})
    assert first[0] and "node b is 3.0s ahead of that of node a" in first[1] and "NTP" in first[1]
    assert watch.check({"b": 3.2}) == []
    (back,) = watch.check({"b": 0.1})
    assert not back[0] and "agrees" in back[1]
