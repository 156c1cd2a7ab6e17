"""A StageRun's log (controller.stagelogs): Winslow's lines beside the container's output, the cap
(head, one line saying what was cut, tail), and the resume after a reconnect or a restart, also
after Docker rotated its own log away. The cap is tested pure (bytes in, bytes out); the streamer
against a Docker faked at its boundary (entries with times, a prefix of which rotation drops), and
then against real Docker and real node processes."""

from __future__ import annotations

import itertools
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.harness import (
    IMAGE,
    NodeProcess,
    containers,
    missing,
    pipeline,
    project,
    project_status,
    stage,
    stageruns,
    wait_for,
    winsctl,
    write_yaml,
)
from winslow.controller import docker_runtime
from winslow.controller.runtime import ContainerSpec, LogEntry, Mount
from winslow.controller.stagelogs import (
    BREAK,
    PREFIX,
    Budget,
    Cutter,
    Position,
    Streamer,
    append_system_line,
    container_bytes,
    drain_state,
    system_line,
    tail,
)

pytestmark = pytest.mark.timeout(120)
STAMP = "2026-01-02T03:04:05Z"
MARKER = re.compile(
    rb"(at least )?(\d+) bytes \((\d+) lines\) of output were cut here; "
    rb"the first (\d+) and the last (\d+) bytes"
)


def split(data: bytes) -> tuple[bytes, list[bytes]]:
    """A log file's container output and Winslow's lines, apart (the rules container_bytes counts by)."""
    parts, lines = segments(data)
    return b"".join(parts), lines


def segments(data: bytes) -> tuple[list[bytes], list[bytes]]:
    """The container output between Winslow's lines, piece by piece, and those lines."""
    parts, lines, at = [bytearray()], [], 0
    while at < len(data):
        starts_line = at == 0 or data[at - 1 : at] == b"\n"
        if data.startswith(BREAK, at) or (starts_line and data.startswith(PREFIX, at)):
            end = data.find(b"\n", at + 1)
            end = len(data) if end < 0 else end + 1
            lines.append(data[at:end])
            parts.append(bytearray())
            at = end
            continue
        nxt = min(
            (i for i in (data.find(b"\n" + PREFIX, at), data.find(BREAK, at)) if i >= 0), default=len(data)
        )
        if data.startswith(b"\n" + PREFIX, nxt):
            nxt += 1  # the newline belongs to the output, the line after it to Winslow
        nxt = max(nxt, at + 1) if nxt == at and not data.startswith(BREAK, at) else nxt
        parts[-1] += data[at:nxt]
        at = nxt
    return [bytes(p) for p in parts], lines


def cut_expected(data: bytes, budget: Budget) -> tuple[bytes, bytes, int]:
    """Head, tail and bytes cut, for output `data` under `budget`."""
    if len(data) <= budget.head + budget.tail:
        return data, b"", 0
    return data[: budget.head], data[len(data) - budget.tail :], len(data) - budget.head - budget.tail


# -- Winslow's lines and the count of container bytes -------------------------------------------


def test_container_bytes_excludes_system_lines(tmp_path):
    log = tmp_path / "run.log"
    append_system_line(log, "starting")
    with log.open("ab") as fh:
        fh.write(b"hello\nworld\n")
    append_system_line(log, "re-adopted")
    with log.open("ab") as fh:
        fh.write(b"more")
    assert container_bytes(log) == len(b"hello\nworld\nmore")
    assert tail(log, 2) == ["world", "more"]


def test_system_line_after_a_partial_line_keeps_the_count(tmp_path):
    log = tmp_path / "run.log"
    with log.open("ab") as fh:
        fh.write(b"progress 50%")
    append_system_line(log, "stopping the container: killed by alice")
    assert container_bytes(log) == len(b"progress 50%")
    assert log.read_text().splitlines()[1].startswith("[winslow~] ")


# -- the cap, pure ------------------------------------------------------------------------------


def run_cutter(chunks: list[bytes], budget: Budget) -> tuple[bytes, bytes]:
    """What the file gets while the container runs, and what it gets when it ends."""
    cutter = Cutter(budget)
    head = b"".join(cutter.take(c) for c in chunks)
    return head, cutter.closing(STAMP, partial=not head.endswith(b"\n") and bool(head))


def test_output_within_the_cap_is_kept_whole_and_nothing_is_said():
    head, closing = run_cutter([b"a\n" * 10, b"b\n" * 10], Budget(head=30, tail=20))
    assert head + closing == b"a\n" * 10 + b"b\n" * 10
    assert not closing.startswith(b"[winslow")


def test_loud_output_keeps_head_and_tail_with_one_line_between():
    data = b"".join(f"line {i}\n".encode() for i in range(1000))
    head, closing = run_cutter([data[i : i + 77] for i in range(0, len(data), 77)], Budget(300, 200))
    assert head == data[:300]
    # the head ended mid-line: the marker starts a line of its own, its newline not counted as output
    assert closing.startswith(BREAK)
    marker, _, kept = closing[1:].partition(b"\n")
    assert kept == data[-200:]
    found = MARKER.search(marker)
    assert found is not None
    assert int(found[2]) == len(data) - 500
    assert int(found[3]) == data[300:-200].count(b"\n")
    assert (int(found[4]), int(found[5])) == (300, 200)


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=4000),
    head=st.integers(1, 600),
    tail=st.integers(1, 600),
    cuts=st.lists(st.integers(0, 4000), max_size=40),
)
def test_cap_is_head_marker_tail_wherever_the_chunks_end(data, head, tail, cuts):
    assume(b"[winslow" not in data)  # a container printing Winslow's prefix: a known limit of the count
    budget = Budget(head, tail)
    points = sorted({c for c in cuts if c <= len(data)} | {0, len(data)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    written, closing = run_cutter(chunks, budget)
    want_head, want_tail, cut = cut_expected(data, budget)
    marker_line = len(closing) - len(want_tail) if cut else 0
    assert len(written) + len(closing) <= head + tail + marker_line, "the cap plus one line"
    assert marker_line <= len(system_line("x" * 200, STAMP, partial=True))
    if not cut:
        assert written + closing == data, "nothing cut: nothing said"
        return
    assert written == want_head
    assert closing.startswith(BREAK if not want_head.endswith(b"\n") else PREFIX)
    marker, _, kept = closing.removeprefix(b"\n").partition(b"\n")
    assert kept == want_tail
    found = MARKER.search(marker)
    assert found is not None and found[1] is None
    assert int(found[2]) == cut and int(found[3]) == data[head : len(data) - tail].count(b"\n")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.log"
        path.write_bytes(written + closing)
        assert container_bytes(path) == len(want_head) + len(want_tail), "the marker is Winslow's line"
    again_written, again_closing = run_cutter([data], budget)
    assert (again_written, again_closing) == (written, closing), "chunk boundaries change nothing"


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(
        st.one_of(
            st.binary(min_size=1, max_size=300).map(lambda b: ("out", b)),
            st.text("abc xyz", min_size=1, max_size=20).map(lambda t: ("sys", t)),
        ),
        max_size=30,
    ),
    head=st.integers(1, 400),
    tail=st.integers(1, 400),
)
def test_winslows_own_lines_are_always_kept(pieces, head, tail):
    """Winslow's lines never pass through the cap: each is in the file, in order, and the count
    of container bytes a restarted node resumes by is that of the output kept."""
    assume(not any(kind == "out" and b"[winslow" in b for kind, b in pieces))
    cutter, file = Cutter(Budget(head, tail)), bytearray()
    for kind, piece in pieces:
        if kind == "out":
            file += cutter.take(piece)
        else:
            file += system_line(piece, STAMP, partial=bool(file) and not file.endswith(b"\n"))
    file += cutter.closing(STAMP, partial=bool(file) and not file.endswith(b"\n"))
    output, lines = split(bytes(file))
    said = [line.split(b" ", 2)[2].rstrip(b"\n").decode() for line in lines]
    wanted = [p for kind, p in pieces if kind == "sys"]
    assert [s for s in said if "were cut here" not in s] == wanted
    data = b"".join(p for kind, p in pieces if kind == "out")
    want_head, want_tail, _ = cut_expected(data, Budget(head, tail))
    assert output == want_head + want_tail
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.log"
        path.write_bytes(bytes(file))
        assert container_bytes(path) == len(output)


def test_the_position_record_survives_a_torn_slot(tmp_path):
    log = tmp_path / "run.log"
    first = Position(budget=Budget(10, 5), stamp="2026-01-01T00:00:00.000000001Z", seq=1)
    second = Position(budget=Budget(10, 5), stamp="2026-01-01T00:00:00.000000002Z", seq=2)
    Position.path_of(log).write_bytes(first.encode()[:200] + b"\0" * 312 + second.encode())
    assert Position.read(log) == second
    Position.path_of(log).write_bytes(first.encode() + second.encode()[:40])
    assert Position.read(log) == first, "a slot cut short is not read"
    assert not drain_state(log).drained


# -- the streamer against a fake Docker ---------------------------------------------------------


class Crash(BaseException):
    """The node's process dies (SIGKILL) between two entries."""


class FakeDocker:
    """A container's log as Docker keeps it: entries with fixed-width times, pieces of one line
    sharing a time; `rotate(n)` drops the oldest n, as max-file does."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self.dropped = 0
        self.clock = 0
        self.reads: list[int | None] = []

    def write(self, data: bytes, pieces: int = 1) -> None:
        self.clock += 1
        stamp = f"2026-01-01T00:00:{self.clock // 10**9:02d}.{self.clock % 10**9:09d}Z"
        size = max(1, -(-len(data) // pieces))
        for at in range(0, len(data), size):
            self.entries.append(LogEntry(stamp, data[at : at + size]))

    def rotate(self, n: int) -> None:
        self.dropped = max(self.dropped, n)

    def stream(
        self, crash_after: int | None = None, mid_pass: bool = False
    ) -> Callable[[int | None], Iterator[LogEntry]]:
        """`docker logs --tail N`. With `crash_after`, the stage has written that many entries
        so far, and the node is killed at its next read of them (`mid_pass`: during the first)."""

        def source(tail: int | None) -> Iterator[LogEntry]:
            self.reads.append(tail)
            if crash_after is not None and len(self.reads) > 1:
                raise Crash
            visible = list(enumerate(self.entries))[self.dropped : crash_after]
            for n, entry in visible[-tail:] if tail is not None else visible:
                if mid_pass and crash_after is not None and n == crash_after - 1:
                    raise Crash
                yield entry

        return source

    def output(self) -> bytes:
        return b"".join(e.data for e in self.entries)


def lines(n: int, start: int = 0) -> list[bytes]:
    return [f"{i:06d} {'x' * (i % 7)}\n".encode() for i in range(start, start + n)]


def stream_once(
    log: Path, docker: FakeDocker, limit: int, *, crash_after: int | None = None, mid_pass: bool = False
) -> Streamer:
    """One streamer over the log, to the container's end or to a kill once the stage wrote
    `crash_after` entries."""
    docker.reads.clear()
    running = crash_after is not None  # a node killed while the stage runs
    streamer = Streamer(
        log, docker.stream(crash_after, mid_pass), lambda: running, lambda: None, limit=limit, poll=0
    )
    if crash_after is None:
        streamer.run()
        assert streamer.drained.is_set()
    else:
        with pytest.raises(Crash):
            streamer.run()
    return streamer


def numbers(output: bytes) -> list[int]:
    return [int(line[:6]) for line in output.split(b"\n") if len(line) >= 6 and line[:6].isdigit()]


def test_streamer_polls_windows_and_reconnects_without_gap_or_repeat(tmp_path):
    """The container writes while the streamer polls: each poll finds its mark in a window of
    the last entries and takes what follows; connections that break are taken up again."""
    log = tmp_path / "run.log"
    docker = FakeDocker()
    read = docker.stream()
    broken = []

    def source(tail):
        if len(docker.reads) in (3, 12):
            broken.append(tail)
            docker.reads.append(tail)
            raise ConnectionError("the daemon restarted")
        return read(tail)

    writing = threading.Event()

    def stage():
        for i, line in enumerate(lines(3000)):
            docker.write(line, pieces=1 + i % 3)
            if i % 10 == 0:
                threading.Event().wait(0.013)  # about 4 s in all: polls, breaks, more polls
        writing.set()

    done = threading.Event()
    streamer = Streamer(log, source, running=lambda: not writing.is_set(), done=done.set, poll=0.005)
    append_system_line(log, "starting")
    threading.Thread(target=stage, daemon=True).start()
    streamer.start()
    assert done.wait(30) and streamer.drained.is_set()
    assert log.read_bytes().split(b"\n", 1)[1] == docker.output()
    assert drain_state(log).drained and len(broken) == 2
    assert None in docker.reads and any(r is not None and r < 3000 for r in docker.reads), "windows"


def test_the_containers_end_wakes_the_streamer_at_once(tmp_path):
    """Polls are half a second apart; the end of the container is not waited for that long."""
    log = tmp_path / "run.log"
    docker, ended, done = FakeDocker(), threading.Event(), threading.Event()
    docker.write(b"hello\n")
    streamer = Streamer(
        log, docker.stream(), lambda: not ended.is_set(), done.set, poll=30, exited=ended.wait
    )
    streamer.start()
    wait_for(lambda: log.exists() and log.read_bytes() == b"hello\n", 10, "the first poll")
    docker.write(b"bye\n")
    ended.set()
    assert done.wait(5) and log.read_bytes() == b"hello\nbye\n"


def test_a_loud_stage_is_cut_to_head_marker_tail_and_the_marker_is_the_only_line_added(tmp_path):
    log = tmp_path / "run.log"
    docker = FakeDocker()
    for line in lines(5000):
        docker.write(line)
    append_system_line(log, "starting")
    stream_once(log, docker, limit=4096)
    output, said = split(log.read_bytes())
    head, kept, cut = cut_expected(docker.output(), Budget.of(4096))
    assert output == head + kept and len(said) == 2
    found = MARKER.search(said[1])
    assert found is not None and int(found[2]) == cut


def test_a_restart_in_the_head_continues_without_gap_or_repeat(tmp_path):
    log = tmp_path / "run.log"
    docker = FakeDocker()
    for line in lines(200):
        docker.write(line, pieces=2)
    stream_once(log, docker, limit=1 << 20, crash_after=77)
    stream_once(log, docker, limit=1 << 20)
    assert split(log.read_bytes())[0] == docker.output()


def test_a_kill_between_announcing_a_write_and_finishing_it_is_made_good(tmp_path):
    """The position file says the last entry was written; the file holds only part of it."""
    log = tmp_path / "run.log"
    docker = FakeDocker()
    for line in lines(300):
        docker.write(line, pieces=3)
    stream_once(log, docker, limit=1 << 20, crash_after=100)
    data = log.read_bytes()
    log.write_bytes(data[:-3])
    stream_once(log, docker, limit=1 << 20)
    assert log.read_bytes() == docker.output()


def test_a_restart_while_cutting_after_docker_rotated_keeps_the_tail_exact(tmp_path):
    log = tmp_path / "run.log"
    docker = FakeDocker()
    for line in lines(3000):
        docker.write(line)
    stream_once(log, docker, limit=8192, crash_after=2500)
    pos = Position.read(log)
    assert pos is not None and pos.counts.received > pos.counts.written, "it was cutting"
    mark = [e.stamp for e in docker.entries].index(pos.stamp)  # saved at most every 0.5 s while cutting
    assert mark > 100
    docker.rotate(mark - 20)  # the mark is still held; the first byte is long gone
    for line in lines(500, start=3000):
        docker.write(line)
    stream_once(log, docker, limit=8192)
    output, said = split(log.read_bytes())
    head, kept, cut = cut_expected(docker.output(), Budget.of(8192))
    assert output == head + kept
    found = MARKER.search(said[-1])
    assert found is not None and found[1] is None and int(found[2]) == cut


def test_a_restart_after_docker_rotated_past_the_mark_says_output_is_missing_and_repeats_nothing(tmp_path):
    log = tmp_path / "run.log"
    docker = FakeDocker()
    for line in lines(100):
        docker.write(line)
    stream_once(log, docker, limit=1 << 20, crash_after=60)
    for line in lines(400, start=100):
        docker.write(line)
    docker.rotate(300)  # the node was away while Docker dropped everything it had not copied
    stream_once(log, docker, limit=1 << 20)
    parts, said = segments(log.read_bytes())
    got = [n for part in parts for n in numbers(part)]
    assert got == sorted(set(got)), "nothing repeated"
    assert got == list(range(60)) + list(range(300, 500))
    assert any(b"output may be missing here" in line for line in said)


def test_a_log_written_before_marks_existed_is_continued_by_its_byte_count(tmp_path):
    log = tmp_path / "run.log"
    docker = FakeDocker()
    for line in lines(100):
        docker.write(line)
    append_system_line(log, "starting")
    with log.open("ab") as fh:
        fh.write(docker.output()[:333])  # an older node copied this much, and kept no position
    stream_once(log, docker, limit=1 << 20)
    assert split(log.read_bytes())[0] == docker.output()


def test_a_closing_block_written_before_a_restart_is_not_written_again(tmp_path):
    log = tmp_path / "run.log"
    docker = FakeDocker()
    for line in lines(2000):
        docker.write(line)
    stream_once(log, docker, limit=4096)
    whole = log.read_bytes()
    pos = Position.read(log)
    assert pos is not None and pos.closed
    # killed after the block was written and before the position said so
    announced = Position(budget=pos.budget, counts=pos.counts, stamp=pos.stamp, index=pos.index,
                         first=pos.first, closing=len(whole) - 100, seq=pos.seq + 1)  # fmt: skip
    Position.path_of(log).write_bytes(announced.encode() * 2)
    stream_once(log, docker, limit=4096)
    assert log.read_bytes() == whole


@settings(max_examples=150, deadline=None)
@given(
    total=st.integers(1, 400),
    pieces=st.integers(1, 3),
    crash=st.integers(0, 400),
    rotate=st.integers(0, 1200),
    torn=st.integers(0, 8),
    head=st.integers(8, 600),
    tail=st.integers(8, 600),
    mid_pass=st.booleans(),
)
def test_any_restart_repeats_nothing_and_loses_only_what_docker_dropped(
    total, pieces, crash, rotate, torn, head, tail, mid_pass
):
    """A kill anywhere (with the last write cut short), Docker rotating anything away meanwhile:
    the log never repeats output, is exact when Docker still held the mark, and says so when not."""
    crash = min(crash, total)
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "run.log"
        docker = FakeDocker()
        for line in lines(total):
            docker.write(line, pieces=pieces)
        limit = head + tail
        crash_at = min(crash * pieces, len(docker.entries))
        stream_once(log, docker, limit=limit, crash_after=crash_at, mid_pass=mid_pass)
        pos = Position.read(log)
        if torn and pos is not None and pos.counts.written == container_bytes(log) > 0:
            log.write_bytes(log.read_bytes()[:-torn] if len(log.read_bytes()) > torn else b"")
        kept_before = container_bytes(log)
        for line in lines(50, start=total):
            docker.write(line, pieces=pieces)
        docker.rotate(min(rotate, len(docker.entries) - 1))  # Docker's current file stays
        stream_once(log, docker, limit=limit)
        output, said = split(log.read_bytes())
        expected_head, expected_tail, _ = cut_expected(docker.output(), Budget.of(limit))
        complete = output == expected_head + expected_tail
        warned = any(b"missing" in line or b"no longer held" in line for line in said)
        mark = pos.stamp if pos is not None else None
        # killed before it copied the first entry, and away while Docker rotated that away: a
        # limit (nothing marks where the output began), for a node away while a stage printed
        # the whole of Docker's log from its start
        assert complete or warned or (mark is None and docker.dropped)
        got = [n for part in segments(log.read_bytes())[0] for n in numbers(part)]
        assert got == sorted(set(got)), "nothing repeated"
        held = [e.stamp for e in docker.entries[docker.dropped :]]
        dropped_bytes = sum(len(e.data) for e in docker.entries[: docker.dropped])
        holds_the_rest = dropped_bytes <= kept_before  # what the file lacks is still in Docker's log
        if docker.dropped == 0 or (mark is not None and held and held[0] < mark and holds_the_rest):
            assert complete, "Docker still held the mark and all after it: the log is exact"


# -- real Docker, whose own log rotates ----------------------------------------------------------

LINE = 1000  # bytes of each numbered line the stages below print: "%08d " and zeros


def numbered(start: int, stop: int) -> str:
    return f"awk 'BEGIN{{for(i={start};i<{stop};i++) printf \"%08d %0{LINE - 10}d\\n\", i, 0}}'"


def paced(start: int, stop: int, step: int = 1000) -> str:
    """Numbered lines a megabyte at a time, 0.05 s apart: loud, but a node keeps up with it."""
    return "; ".join(f"{numbered(at, min(at + step, stop))}; sleep 0.05" for at in range(start, stop, step))


def expected_output(stop: int) -> bytes:
    return b"".join(b"%08d %0*d\n" % (i, LINE - 10, 0) for i in range(stop))


def numbers8(part: bytes) -> list[int]:
    return [int(line[:8]) for line in part.split(b"\n") if len(line) == LINE - 1 and line[:8].isdigit()]


@pytest.fixture
def real_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A Docker adapter whose containers keep 2 log files of 8 MiB: rotation within seconds."""
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        missing(f"no Docker engine with {IMAGE}; run scripts/setup-host.sh")
    monkeypatch.setattr(docker_runtime, "LOG_FILE_BYTES", 8 << 20)
    monkeypatch.setattr(docker_runtime, "LOG_FILES", 2)
    runtime = docker_runtime.DockerRuntime(pull=False)
    made: list[str] = []

    def start(first: int, second: int, pace: bool = False) -> tuple[str, Path]:
        control = tmp_path / f"control-{len(made)}"
        control.mkdir()
        wait = "while [ ! -e /control/go ]; do sleep 0.1; done"
        script = f"{(paced if pace else numbered)(0, first)}; {wait}; {numbered(first, second)}"
        name = f"winslow-test-rotate-{len(made)}-{tmp_path.name[-8:]}".lower()
        spec = ContainerSpec(
            name=name,
            image=IMAGE,
            command=["sh", "-c"],
            args=[script],
            env={},
            mounts=[Mount(control, "/control", read_only=False)],
            labels={"winslow.test": name},
        )
        made.append(runtime.run(spec))
        return made[-1], control / "go"

    yield runtime, start
    for container in made:
        runtime.remove(container)


def ended(runtime, container: str) -> Callable[[], bool]:
    def running() -> bool:
        info = runtime.inspect(container)
        return info is not None and info.exit_code is None

    return running


def killed_after(log: Path, runtime, container: str, limit: int, received: int) -> None:
    """A node's streamer that copies until `received` bytes of output are in, then dies: no
    closing, no last save (what it held in memory is lost, as with SIGKILL)."""
    streamer = Streamer(
        log,
        lambda tail: runtime.logs(container, tail),
        ended(runtime, container),
        lambda: None,
        limit,
        poll=0.1,
    )
    streamer.start()
    wait_for(lambda: (pos := Position.read(log)) and pos.counts.received >= received, 60, "the copy")
    streamer.stopped.set()
    streamer.join(10)


def last_streamer(log: Path, runtime, container: str, limit: int) -> None:
    """The node back once the stage ended: one streamer finishes the log."""
    streamer = Streamer(
        log, lambda tail: runtime.logs(container, tail), ended(runtime, container), lambda: None, limit
    )
    streamer.run()
    assert streamer.drained.is_set() and drain_state(log).drained


@pytest.mark.docker
@pytest.mark.timeout(120)
def test_a_restart_after_docker_rotated_resumes_exactly_by_the_entries_times(tmp_path, real_docker):
    """Docker no longer holds the first 12 MB when the node comes back: a count of bytes would
    skip what it never copied. The node finds its last mark instead, and the log is exact: head,
    marker and tail as if it had never stopped."""
    runtime, start = real_docker
    container, go = start(20_000, 21_000, pace=True)
    log = tmp_path / "p.1.a.log"
    append_system_line(log, "starting")
    killed_after(log, runtime, container, 1 << 20, received=15_000_000)
    held = next(iter(runtime.logs(container)))
    assert not held.data.startswith(b"00000000 "), "Docker rotated its log: the first bytes are gone"
    go.touch()
    wait_for(lambda: not ended(runtime, container)(), 60, "the stage to end")
    last_streamer(log, runtime, container, 1 << 20)
    output, said = split(log.read_bytes())
    head, kept, cut = cut_expected(expected_output(21_000), Budget.of(1 << 20))
    assert output == head + kept
    found = MARKER.search(said[-1])
    assert found is not None and found[1] is None, "nothing lost, nothing to excuse"
    cut_lines = expected_output(21_000)[len(head) : -len(kept)].count(b"\n")
    assert (int(found[2]), int(found[3])) == (cut, cut_lines)


@pytest.mark.docker
@pytest.mark.timeout(120)
def test_a_node_away_while_docker_rotated_past_its_mark_says_so_and_repeats_nothing(tmp_path, real_docker):
    runtime, start = real_docker
    container, go = start(1_000, 31_000)
    log = tmp_path / "p.1.a.log"
    killed_after(log, runtime, container, 8 << 20, received=1_000_000)
    go.touch()  # 30 MB more while the node is away: Docker keeps at most 16 MiB of it
    wait_for(lambda: not ended(runtime, container)(), 60, "the stage to end")
    last_streamer(log, runtime, container, 8 << 20)
    parts, said = segments(log.read_bytes())
    got = [n for part in parts for n in numbers8(part)]
    assert got == sorted(set(got)), "nothing repeated"
    assert got[:1000] == list(range(1000)) and got[1000] > 1000 and got[-1] == 30_999
    assert b"output may be missing here" in said[0]
    assert container_bytes(log) <= 8 << 20


# -- real nodes ----------------------------------------------------------------------------------


def output_lines(start: int, stop: int) -> bytes:
    return b"".join(b"%08d %0*d\n" % (i, LINE - 10, 0) for i in range(start, stop))


def wait_succeeded(share: Path, project_name: str, timeout: float) -> None:
    wait_for(lambda: project_status(share, project_name).get("phase") == "Succeeded", timeout, "success")


@pytest.mark.docker
@pytest.mark.timeout(180)
def test_a_loud_stage_is_recorded_only_with_its_log_whole_within_the_cap(
    docker_engine, share, nodes, tmp_path
):
    """50 MB of output and a 1 MiB cap: when the run is recorded Succeeded its log already holds
    head, marker and tail (the stage's last words), and the result line comes last."""
    node = NodeProcess(share, "node-a", "--max-log-bytes", "1Mi").start()
    nodes.append(node)
    script = "yes \"$(printf '%01000d' 0)\" | head -c 50000000; echo; echo 'last words'"
    manifest = write_yaml(
        tmp_path / "loud.yaml", pipeline("loud", stage("shout", script)), project("loud-1", "loud")
    )
    winsctl(node.url, "apply", "-f", str(manifest))
    log = share / "logs" / "loud-1" / "loud-1.1.shout.log"
    wait_for(
        lambda: [r["status"]["phase"] for r in stageruns(share, "loud-1")] == ["Succeeded"], 120, "the run"
    )
    at_success = log.read_bytes()  # the run file follows the record: the result line may be missing yet
    output, said = split(at_success)
    assert output.endswith(b"0\nlast words\n"), "the tail is in before the result is recorded"
    assert any(MARKER.search(line) for line in said)
    wait_succeeded(share, "loud-1", 30)
    data = log.read_bytes()
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[1]
    assert last.startswith(b"[winslow] ") and b"Succeeded with exit code 0 on node-a" in last
    assert container_bytes(log) <= 1 << 20
    assert len(data) <= (1 << 20) + 1024, "within the cap, plus Winslow's few lines"
    found = MARKER.search(split(data)[1][-2])
    assert found is not None and int(found[2]) == 50_000_000 + len(b"\nlast words\n") - (1 << 20)


@pytest.mark.docker
@pytest.mark.timeout(300)
def test_a_node_killed_after_docker_rotated_its_log_resumes_exactly(docker_engine, share, nodes, tmp_path):
    """250 MB through Docker's own log (3 files of 64 MiB: its first bytes are gone), the node
    SIGKILLed and started again: the log on the share is exact, head, marker and tail, as if the
    node had never stopped; counting bytes (Docker's stream no longer starts at the first) would
    have skipped output it never copied."""
    node = NodeProcess(share, "node-a", "--max-log-bytes", "1Mi").start()
    nodes.append(node)
    total, more = 250_000, 2_000
    wait = "while [ ! -e /workspace/go ]; do sleep 0.1; done"
    script = f"{paced(0, total)}; {wait}; {numbered(total, total + more)}"  # <= 20 MB/s: a node keeps up
    manifest = write_yaml(tmp_path / "r.yaml", pipeline("rot", stage("big", script)), project("rot-1", "rot"))
    winsctl(node.url, "apply", "-f", str(manifest))
    log = share / "logs" / "rot-1" / "rot-1.1.big.log"
    try:
        wait_for(
            lambda: (pos := Position.read(log)) and pos.counts.received >= (total - 5_000) * LINE, 180, "copy"
        )
    except AssertionError:
        raise AssertionError(f"{Position.read(log)}\n{node.logfile.read_text()[-3000:]}") from None
    node.kill()
    (container,) = containers(share, project="rot-1")
    first = next(iter(docker_runtime.DockerRuntime(pull=False).logs(container["ID"], 10**9)))
    assert not first.data.startswith(b"00000000 "), "Docker rotated its log: the first bytes are gone"
    (share / "workspaces" / "rot-1" / "stages" / "rot-1.1.big" / "go").touch()
    node.start()
    try:
        wait_succeeded(share, "rot-1", 120)
    except AssertionError:
        raise AssertionError(f"{Position.read(log)}\n{node.logfile.read_text()[-3000:]}") from None
    output, said = split(log.read_bytes())
    budget = Budget.of(1 << 20)
    end = (total + more) * LINE
    head_lines, tail_from = budget.head // LINE + 1, (end - budget.tail) // LINE
    assert output[: budget.head] == output_lines(0, head_lines)[: budget.head]
    assert output[budget.head :] == output_lines(tail_from, total + more)[-budget.tail :]
    found = MARKER.search(said[-2])
    assert found is not None and found[1] is None, "nothing lost, nothing to excuse"
    assert int(found[2]) == end - budget.head - budget.tail
    assert b"Succeeded with exit code 0" in said[-1]


def test_what_a_resumed_stream_must_know_is_done_first_on_its_thread(tmp_path):
    """`before` runs on the streamer's thread before any output is copied (the StageRun reconciler
    reads back the results a killed process had read)."""
    log = tmp_path / "run.log"
    order: list[str] = []
    done = threading.Event()
    streamer = Streamer(
        log,
        lambda tail: iter(()),
        running=lambda: False,
        done=done.set,
        poll=0.005,
        on_output=lambda data, stamp: order.append("output"),
        before=lambda: order.append(f"before on {threading.current_thread().name}"),
    )
    streamer.start()
    assert done.wait(10)
    assert order[:1] == ["before on log:run.log"]
