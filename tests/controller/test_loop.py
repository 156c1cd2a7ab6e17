"""controller.loop: the work queue and the one thread that reconciles keys.

What its callers rely on (the daemon, every reconciler): a key queued twice is reconciled once,
at the earlier due time; a reconciler's requeue brings its key back after that many seconds and
not before; a failure, raised or returned, is retried with a growing back-off that a success
resets; one failing duty or key does not stop the others; a key made due during a round is
served in the same round. The queue runs on the clock it is given, so these tests step a fake
clock and never sleep, except where a real thread waits on the queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from winslow.controller.events import Event
from winslow.controller.loop import FOLLOW_ON, MAX_BACKOFF, LoopObserver, LoopRunner, WorkQueue, every
from winslow.controller.reconciler import Key, Result

pytestmark = pytest.mark.timeout(60)


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Fake:
    """A reconciler of one kind that answers from a script: a Result, an exception, or a
    callable run on the loop thread (to queue more keys, say)."""

    def __init__(self, kind: str, answer: Callable[[Key], Result] | None = None) -> None:
        self.kind = kind
        self.seen: list[Key] = []
        self.answer = answer or (lambda key: Result.done())

    def wakes(self, event: Event) -> Iterable[Key]:
        return ()

    def due(self, now: float) -> Iterable[Key]:
        return ()

    def lease_key(self, subject: str) -> Key | None:
        return None

    def reconcile(self, key: Key) -> Result:
        self.seen.append(key)
        return self.answer(key)


class Recorder(LoopObserver):
    def __init__(self) -> None:
        self.adds: list[str] = []
        self.results: list[tuple[str, str, float]] = []
        self.depths: list[tuple[str, int]] = []

    def added(self, controller: str) -> None:
        self.adds.append(controller)

    def depth(self, controller: str, keys: int) -> None:
        self.depths.append((controller, keys))

    def reconciled(self, controller: str, result: str, waited: float, seconds: float) -> None:
        self.results.append((controller, result, waited))


def key(name: str, kind: str = "project") -> Key:
    return Key(kind, name)


# -- the queue ------------------------------------------------------------------------------------


def test_a_key_is_due_once_at_the_earliest_time_it_was_asked_for() -> None:
    clock = Clock()
    queue = WorkQueue(clock)
    queue.add(key("a"), after=10)
    queue.add(key("a"), after=3)
    queue.add(key("a"), after=20)  # later than what is queued: changes nothing
    assert len(queue) == 1
    clock.t += 2.9
    assert queue.pop_due() == []
    clock.t += 0.1
    assert queue.pop_due() == [(key("a"), 1003.0)]
    assert queue.pop_due() == [] and len(queue) == 0


@given(st.lists(st.tuples(st.sampled_from("abcd"), st.floats(0, 100, allow_nan=False)), max_size=30))
def test_each_key_pops_once_at_its_earliest_due_time_earliest_first(adds: list[tuple[str, float]]) -> None:
    clock = Clock(0.0)
    queue = WorkQueue(clock)
    for name, after in adds:
        queue.add(key(name), after)
    clock.t = 1000.0
    popped = queue.pop_due()
    expected = {key(n): min(a for m, a in adds if m == n) for n, _ in adds}
    assert dict(popped) == expected and len(popped) == len(expected)
    assert [when for _, when in popped] == sorted(when for _, when in popped)
    assert queue.pop_due() == []


def test_only_keys_that_are_due_pop() -> None:
    clock = Clock()
    queue = WorkQueue(clock)
    queue.add(key("later"), after=5)
    queue.add(key("now"))
    queue.add(key("soon", "stagerun"), after=1)
    assert [k for k, _ in queue.pop_due()] == [key("now")]
    clock.t += 1
    assert [k for k, _ in queue.pop_due()] == [key("soon", "stagerun")]
    assert len(queue) == 1


def test_the_same_name_of_another_kind_is_another_key() -> None:
    queue = WorkQueue(Clock())
    queue.add(key("x", "project"))
    queue.add(key("x", "stagerun"))
    assert {k for k, _ in queue.pop_due()} == {key("x", "project"), key("x", "stagerun")}


def test_the_queue_tells_each_add_that_changes_when_a_key_is_due() -> None:
    observer = Recorder()
    queue = WorkQueue(Clock(), observer)
    queue.add(key("a"), after=5)
    queue.add(key("a"), after=1)  # sooner: told
    queue.add(key("a"), after=9)  # not sooner: not told
    queue.add(key("b", "stagerun"))
    assert observer.adds == ["project", "project", "stagerun"]


def test_a_waiting_loop_wakes_when_another_thread_queues_a_key_now() -> None:
    queue = WorkQueue(time.monotonic)
    woke = threading.Event()

    def waiter() -> None:
        queue.wait(30.0)
        woke.set()

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    time.sleep(0.05)
    queue.add(key("a"))
    assert woke.wait(10.0), "the add did not wake the waiting loop"
    thread.join(10.0)


def test_wait_returns_at_once_when_a_key_is_due_and_by_the_next_due_time_otherwise() -> None:
    queue = WorkQueue(time.monotonic)
    queue.add(key("a"))
    started = time.monotonic()
    queue.wait(30.0)
    assert time.monotonic() - started < 5.0
    queue.pop_due()
    queue.add(key("b"), after=0.05)
    started = time.monotonic()
    queue.wait(30.0)
    assert time.monotonic() - started < 5.0, "waited past the key's due time"
    empty = WorkQueue(time.monotonic)
    started = time.monotonic()
    empty.wait(0.05)
    assert 0.04 <= time.monotonic() - started < 5.0


# -- the runner -----------------------------------------------------------------------------------


def runner(*reconcilers: Fake, duties: list[Callable[[], None]] | None = None, **kw) -> LoopRunner:
    clock = kw.pop("clock", Clock())
    observer = kw.pop("observer", None)
    return LoopRunner(WorkQueue(clock, observer), list(reconcilers), duties or [], **kw)


def test_each_due_key_goes_to_the_reconciler_of_its_kind_once() -> None:
    projects, runs = Fake("project"), Fake("stagerun")
    loop = runner(projects, runs)
    for k in (key("a"), key("a"), key("p.1.x", "stagerun"), key("b"), key("a")):
        loop.queue.add(k)
    loop.run_once()
    assert sorted(projects.seen) == [key("a"), key("b")]
    assert runs.seen == [key("p.1.x", "stagerun")]
    loop.run_once()
    assert len(projects.seen) == 2, "done: not looked at again until something wakes it"


def test_a_requeue_brings_the_key_back_after_that_many_seconds() -> None:
    clock = Clock()
    fake = Fake("project", lambda k: Result.requeue(5.0))
    loop = runner(fake, clock=clock)
    loop.queue.add(key("a"))
    loop.run_once()
    clock.t += 4.9
    loop.run_once()
    assert len(fake.seen) == 1
    clock.t += 0.1
    loop.run_once()
    assert len(fake.seen) == 2


def test_a_requeue_never_delays_a_key_something_else_made_due_sooner() -> None:
    clock = Clock()
    loop = runner(Fake("project", lambda k: Result.requeue(60.0)), clock=clock)
    loop.queue.add(key("a"))
    loop.run_once()
    loop.queue.add(key("a"), after=1.0)  # an event wakes it
    clock.t += 1.0
    assert [k for k, _ in loop.queue.pop_due()] == [key("a")]


@pytest.mark.parametrize("fail", ["raise", "return"])
def test_failures_back_off_doubling_up_to_the_cap_and_a_success_resets_them(fail: str) -> None:
    clock = Clock()
    failing = [True]

    def answer(k: Key) -> Result:
        if not failing[0]:
            return Result.done()
        if fail == "raise":
            raise RuntimeError("share gone")
        return Result.failed("share gone")

    fake = Fake("project", answer)
    loop = runner(fake, clock=clock)
    loop.queue.add(key("a"))
    loop.run_once()

    def retried_after(delay: float) -> None:
        """The key comes back `delay` seconds after its last pass, not a moment before."""
        tries = len(fake.seen)
        clock.t += delay - 0.25
        loop.run_once()
        assert len(fake.seen) == tries, f"retried before {delay}s"
        clock.t += 0.25
        loop.run_once()
        assert len(fake.seen) == tries + 1, f"not retried after {delay}s"

    for delay in (1.0, 2.0, 4.0, 8.0, 16.0, MAX_BACKOFF, MAX_BACKOFF):
        retried_after(delay)
    failing[0] = False
    retried_after(MAX_BACKOFF)  # this pass succeeds
    clock.t += 3600
    loop.run_once()
    assert len(loop.queue) == 0, "done after the success"
    failing[0] = True
    loop.queue.add(key("a"))
    loop.run_once()
    retried_after(1.0)  # the back-off starts again


def test_a_failing_key_does_not_hold_up_the_others() -> None:
    def answer(k: Key) -> Result:
        if k.name == "bad":
            raise ValueError("broken spec")
        return Result.done()

    fake = Fake("project", answer)
    observer = Recorder()
    loop = runner(fake, observer=observer)
    for name in ("bad", "b", "c"):
        loop.queue.add(key(name))
    loop.run_once()
    assert sorted(k.name for k in fake.seen) == ["b", "bad", "c"]
    assert sorted(r for _, r, _ in observer.results) == ["error", "success", "success"]


def test_a_failing_duty_does_not_stop_the_other_duties_or_the_keys() -> None:
    ran = []

    def broken() -> None:
        raise OSError("share unreachable")

    fake = Fake("project")
    loop = runner(fake, duties=[broken, lambda: ran.append("poll")])
    loop.queue.add(key("a"))
    loop.run_once()
    loop.run_once()
    assert ran == ["poll", "poll"] and fake.seen == [key("a")]


def test_keys_made_due_during_a_round_are_served_in_the_same_round_a_few_times_over() -> None:
    """A project hands a new run on; the run is reconciled without waiting for the next round."""
    chain: list[Key] = []
    loop: LoopRunner

    def hand_on(k: Key) -> Result:
        chain.append(k)
        loop.queue.add(key(str(int(k.name) + 1)))
        return Result.done()

    loop = runner(Fake("project", hand_on))
    loop.queue.add(key("0"))
    loop.run_once()
    assert [k.name for k in chain] == [str(i) for i in range(FOLLOW_ON)]
    assert len(loop.queue) == 1, "the rest waits for the next round, after the duties"


def test_after_each_runs_after_every_key() -> None:
    calls = []
    fake = Fake("project", lambda k: (calls.append(("reconcile", k.name)), Result.done())[1])
    loop = runner(fake, after_each=lambda: calls.append(("after", "")))
    loop.queue.add(key("a"))
    loop.queue.add(key("b"), after=-1)
    loop.run_once()
    assert calls == [("reconcile", "b"), ("after", ""), ("reconcile", "a"), ("after", "")]


def test_the_observer_hears_each_result_and_how_long_its_key_waited() -> None:
    clock = Clock()
    observer = Recorder()
    results = {"ok": Result.done(), "again": Result.requeue(3.0), "bad": Result.failed("x")}
    loop = runner(Fake("project", lambda k: results[k.name]), clock=clock, observer=observer)
    for name in results:
        loop.queue.add(key(name))
    clock.t += 2.5
    loop.run_once()
    assert sorted(observer.results) == [
        ("project", "error", 2.5),
        ("project", "requeue_after", 2.5),
        ("project", "success", 2.5),
    ]
    assert observer.depths[0] == ("project", 3) and observer.depths[-1] == ("project", 0)


def test_run_serves_keys_until_it_is_stopped() -> None:
    served = threading.Event()
    fake = Fake("project", lambda k: (served.set(), Result.done())[1])
    loop = LoopRunner(WorkQueue(time.monotonic), [fake], [], tick=0.01)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    loop.queue.add(key("a"))
    assert served.wait(10.0)
    loop.stopping.set()
    thread.join(10.0)
    assert not thread.is_alive()


# -- every ----------------------------------------------------------------------------------------


def test_every_runs_a_duty_at_most_once_per_period_however_often_it_is_called() -> None:
    clock = Clock()
    ran: list[float] = []

    def resync() -> None:
        ran.append(clock.t)

    duty = every(10.0, resync, clock)
    assert duty.__name__ == "resync", "a failing duty is logged by its name"
    for _ in range(3):
        duty()
    clock.t += 9.9
    duty()
    clock.t += 0.1
    duty()
    duty()
    assert ran == [1000.0, 1010.0]
