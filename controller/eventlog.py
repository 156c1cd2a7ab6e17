"""The ordered event log on the share (thesis 6.4): publish, follow and compaction.

An event becomes visible whole: it is written to a temporary file and hard-linked to the next
sequence number. `link` fails when the name exists, atomically at the server even on NFS,
which makes the sequence a consensus: on a conflict the publisher reads the event that won,
applies it, re-checks its own and tries the next number.

What a network share does not promise shapes the rest:
- A client caches "no such file" answers, and directory listings. A follower that kept asking
  for `<seq+1>` would be told it is absent for as long as that answer is cached (seconds) after
  it exists. So a follower never asks for a name before it knows the name exists: every node
  keeps a small file `heads/<node>` with the last number it published, and raises `head`, the
  highest number anyone published, both rewritten in place (a file of fixed size read after
  open is fresh under close-to-open consistency); followers read forward up to the highest
  head of the nodes the log has shown them, and of `head`, which is how a new node is first
  seen. A failed `link` to a name makes the client look the name up again, so where a name is
  known to exist but still looks absent, the node links a NOOP event there: it fails (the name
  exists, and is now seen) or, if the hint was wrong, adds a harmless NOOP. A listing of the
  folder, when nothing else moves, only wakes a node whose peer died between link and head.
- A retried `link` whose first reply was lost reports "exists" although it made the name. Each
  event carries a nonce, so the publisher recognises its own event instead of losing to itself.
- Anything may sit at a number (garbage, a directory): it is skipped after a bounded wait, on
  every node alike, and reported once.
- Compaction deletes events, and a deleted name is free again: `link` arbitrates a number only
  while the events below it are still there. A node that fell a window behind (descheduled, or
  publishing without a poll first, as within STALE_VIEW) would otherwise link its event at a
  number every other node has passed and believe in it alone (a lock nobody else sees, then its
  own RELEASE refused once it caught up), or read what such a node linked there. So what this
  node links or reads at `n` counts only if the last event it applied below `n` is still there:
  deletion goes upwards, so that event proves `n` was never deleted. Otherwise the snapshot,
  written before the deletion, stands for `n`, and says whether the log took our own event.

Longer than most modules here, on purpose: following, publishing and compacting share one
state and one lock, which is what makes the log's order a consensus; split, each part would
reach into the others'.

Thread use: any thread may poll and publish (the loop, the lease keeper, API requests, start
and probe threads); one lock orders them, and listeners run on the thread that applied an event.
The implied state is this class's alone: only it changes the state, under that lock, and every
other reader takes `view()`, one snapshot that no later event changes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from winslow.controller.events import Ballot, Command, Event
from winslow.controller.heads import Unreadable, create_head, peek, read_file, read_head, write_head
from winslow.controller.logstate import LogState
from winslow.controller.skew import SkewTracker
from winslow.resources.amount import Amount

log = logging.getLogger(__name__)

Clock = Callable[[], float]
DIGITS = 12
EVENT_LIMIT = 1 << 20
STALE_VIEW = 1.0  # seconds without a poll after which a publisher catches up first
PREFETCH_FROM = 16  # events behind the head from which a node reads ahead in parallel
PREFETCH_BATCH = 256
PEEK = 16 << 10  # bytes read to recognise an event this node read before
_READERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="log-read")
_SKIPPED = object()


class Rejected(Exception):
    """The event is not valid against the state the log implies (for example: lock held)."""


class Unavailable(Rejected):
    """The log cannot be read or written just now (a number not yet visible, the share full)."""


class EventLog:
    """One node's view of the log: the implied state, kept current by reading forward."""

    def __init__(
        self,
        folder: Path,
        node: str,
        clock: Clock,
        *,
        monotonic: Clock = time.monotonic,
        compact_every: int = 1000,
        corrupt_wait: float = 2.0,
        fallback_interval: float = 2.0,
        discover_interval: float = 2.0,
        skew: SkewTracker | None = None,
    ) -> None:
        self.folder = folder
        self.snapshot_path = folder.parent / "events.snapshot"
        self.heads = folder.parent / "heads"
        self.shared_head = folder.parent / "head"
        self.node = node
        self.clock = clock
        self.monotonic = monotonic
        self.compact_every = compact_every
        self.corrupt_wait = corrupt_wait
        self.fallback_interval = fallback_interval
        self.discover_interval = discover_interval
        self.skew = skew or SkewTracker()
        self._state = LogState()
        self._view: LogState | None = None  # the last snapshot handed out, while still current
        self.listeners: list[Callable[[Event], None]] = []
        self._lock = threading.RLock()
        self._peers: set[str] = {node}
        self._wrong_hints: dict[str, int] = {}
        self._last_discover = self._last_fallback = float("-inf")
        self._last_progress = time.monotonic()
        self._unreadable_since: dict[int, float] = {}
        self._invisible_since: dict[int, float] = {}
        self._head_warned = False
        self._probe_won = -1
        self._shared_seen = -1  # the highest the shared head was seen to say, or we wrote
        self._last_poll = float("-inf")
        self._catching_up = False
        self._prefetched: dict[int, bytes | BaseException] = {}
        self._last: tuple[int, str] | None = None  # number and nonce of the last event applied
        folder.mkdir(parents=True, exist_ok=True)
        self.heads.mkdir(parents=True, exist_ok=True)
        for path in (self.shared_head, self.heads / node):
            # Created now, at their fixed size: a name asked for before it exists stays "absent"
            # to this node's share client for seconds after another node creates it, and a
            # client that cached a smaller size reads only that much of the file.
            with suppress(OSError):
                create_head(path)

    def view(self) -> LogState:
        """The state the log implies, as one snapshot: taken under the lock, never changed after.
        Everything outside this class reads the state this way; only this class changes it."""
        with self._lock:
            if self._view is None:
                self._view = self._state.copy()
            return self._view

    def path(self, seq: int) -> Path:
        return self.folder / f"{seq:0{DIGITS}d}"

    # -- following -------------------------------------------------------------------------------

    def poll(self) -> list[Event]:
        """Apply every event published since the last poll that this node can know of."""
        with self._lock:
            self._last_poll = time.monotonic()
            applied: list[Event] = []
            target, source = self._target()
            while self._state.seq < target:
                seq = self._state.seq + 1
                if target - seq >= PREFETCH_FROM and seq not in self._prefetched:
                    self._prefetch(range(seq, min(target, seq + PREFETCH_BATCH - 1) + 1))
                got = self._next(seq, known=True)
                if got is None:
                    break
                if got is _SKIPPED:
                    continue
                assert isinstance(got, Event)
                if self._probe_won == seq:
                    # Our own NOOP landed: the hint that sent us here named a number nobody had.
                    self._wrong_hints[source] = target
                    self._apply(got, near_head=False)
                    break
                if self._apply(got, near_head=target - seq < 8):
                    applied.append(got)
            return applied

    def catch_up(self) -> list[Event]:
        """At start: up to the last number the folder holds, whatever the heads say."""
        with self._lock:
            self._last_fallback = float("-inf")
            self._last_progress = float("-inf")
            self._catching_up = True  # read long after it was written: says nothing of clocks
            try:
                return self.poll()
            finally:
                self._catching_up = False

    def _apply(self, event: Event, *, near_head: bool, observed: float | None = None) -> bool:
        if observed is None:
            observed = self._observed(event)
        if event.node != self.node:
            self._peers.add(event.node)  # it wrote its head after linking this
            if near_head and not self._catching_up:
                self.skew.sample(event.node, event.timestamp, self.clock())
        self._last_progress = time.monotonic()
        self._last = (event.seq, event.nonce)  # valid or not, what this node read at its number
        self._view = None
        if not self._state.apply(event, observed):
            log.debug("skipped invalid event %s: %s", event.seq, self._state.check(event))
            return False
        for listener in self.listeners:
            listener(event)
        return True

    def _observed(self, event: Event) -> float:
        """When this node learnt of `event`, on its monotonic clock. Another node's event counts
        from now (it cannot have been published later). Our own, found in the log after a
        restart, counts from its timestamp, our own clock: a lease we held before the restart
        must not look younger to us than it does to the others."""
        now = self.monotonic()
        if event.node != self.node:
            return now
        return now - max(0.0, self.clock() - event.timestamp)

    def _target(self) -> tuple[int, str]:
        """The highest number some head (or, when nothing moves, a listing) says exists."""
        now = time.monotonic()
        if now - self._last_discover >= self.discover_interval:
            self._last_discover = now  # a listing may be stale: it only adds peers, sooner or later
            try:
                self._peers |= {n for n in os.listdir(self.heads) if not n.startswith(".")}
            except OSError as exc:
                log.debug("cannot list %s: %s", self.heads, exc)
        best, source = self._state.seq, ""
        for peer in [*sorted(self._peers), ""]:
            hint = read_head(self.heads / peer if peer else self.shared_head)
            if hint is not None and not peer:
                self._shared_seen = max(self._shared_seen, hint)
            if hint is not None and hint > best and self._wrong_hints.get(peer) != hint:
                best, source = hint, peer
        if (
            best == self._state.seq
            and now - max(self._last_progress, self._last_fallback) >= self.fallback_interval
        ):
            self._last_fallback = now
            listed = self._highest_listed()
            if listed > best and self._wrong_hints.get("/") != listed:
                best, source = listed, "/"
        return best, source

    def _highest_listed(self) -> int:
        try:
            names = os.listdir(self.folder)
        except OSError:
            return -1
        return max((int(n) for n in names if n.isdigit()), default=-1)

    def _prefetch(self, numbers: range) -> None:
        """Read a run of known numbers at once: on a network share a read waits for a round trip,
        and a node catching up (after a restart) reads thousands."""

        def read(seq: int) -> bytes | BaseException:
            try:
                return read_file(self.path(seq), EVENT_LIMIT)
            except (OSError, Unreadable) as exc:
                return exc

        fetched = dict(zip(numbers, _READERS.map(read, numbers), strict=True))
        # Read before this check, each was the first event at its number if the one below the
        # batch is still what we applied; otherwise every number is read and checked alone.
        self._prefetched = fetched if self._intact_below(numbers.start) else {}

    def _next(self, seq: int, *, known: bool) -> Event | object | None:
        """The event at `seq`; _SKIPPED when garbage there was skipped, or when the log below it
        was compacted away and the snapshot stands for it; None for "not yet"."""
        fetched = self._prefetched.pop(seq, None)  # a failed read ahead is read again here
        if isinstance(fetched, bytes):
            return self._decode(seq, fetched)  # its batch was checked as a whole (_prefetch)
        try:
            raw = read_file(self.path(seq), EVENT_LIMIT)
        except FileNotFoundError:
            if not self._intact_below(seq):
                return self._past_compaction(seq)
            return self._look_again(seq) if known else None
        except Unreadable as exc:
            return self._corrupt(seq, str(exc))
        if not self._intact_below(seq):
            return self._past_compaction(seq)  # what we read may have been linked after a deletion
        return self._decode(seq, raw)

    def _decode(self, seq: int, raw: bytes) -> Event | object | None:
        try:
            event = Event.decode(raw, seq)
        except Exception as exc:  # any shape of garbage: the log must go on
            return self._corrupt(seq, f"not an event ({exc})")
        self._unreadable_since.pop(seq, None)
        self._invisible_since.pop(seq, None)
        return event

    def _intact_below(self, seq: int) -> bool:
        """False when compaction deleted, since this node read it, an event below `seq`: then `seq`
        may have been deleted too, and what is there now (or what we just linked there) is not
        the log the other nodes read. Deletion goes upwards, so the last event this node applied
        (or the snapshot's last), still there, proves that nothing above it was ever deleted. It
        is recognised by its nonce, not by its existence: a node left behind may have linked
        something else at its number since. Without one, the existence of `seq - 1` is the
        proof; below 0, that there is no snapshot (one means 0 was published)."""
        last = self._last if self._last is not None and self._last[0] < seq and self._last[1] else None
        if last is None and seq <= 0:
            return not self.snapshot_path.exists()
        witness = last[0] if last is not None else seq - 1
        path = self.path(witness)
        try:
            head = peek(path, PEEK)
        except FileNotFoundError:
            return False
        except OSError:
            return last is None  # not a file: skipped garbage, or what replaced the event we read
        if last is None:
            return True
        if len(head) < PEEK and b'"nonce":"%s"' % last[1].encode() in head:
            return True  # the cheap answer, for an event as this code writes them
        try:
            return Event.decode(read_file(path, EVENT_LIMIT), witness).nonce == last[1]
        except Exception:
            return False

    def _past_compaction(self, seq: int) -> object | None:
        """The log below `seq` was compacted under this node: only the snapshot, written before
        any deletion, can stand for `seq`. None ("not yet") while the snapshot this share shows
        does not reach it; never a NOOP, which would fill a number everyone else has passed."""
        log.debug("the log below event %s was compacted since this node read it", seq)
        return _SKIPPED if self._load_snapshot(seq) else None

    def _look_again(self, seq: int) -> Event | object | None:
        """`seq` exists, but this client may still believe it absent: linking a NOOP there
        makes it ask the server. If the link succeeds, the hint was wrong and a NOOP fills it."""
        noop = Event(
            issuer=self.node,
            command=Command.NOOP,
            subject="log",
            timestamp=self.clock(),
            nonce=secrets.token_hex(8),
            seq=seq,
        )
        try:
            won = self._link(noop, seq)
        except OSError as exc:
            log.debug("could not look again at event %s: %s", seq, exc)
            won = False
        if won and not self._intact_below(seq):
            return self._past_compaction(seq)  # left there: readers check it as any other
        if won:
            self._probe_won = seq
            self._write_head(seq)
            return noop
        for attempt in range(3):
            try:
                raw = read_file(self.path(seq), EVENT_LIMIT)
                if not self._intact_below(seq):
                    return self._past_compaction(seq)
                return Event.decode(raw, seq) if raw else self._corrupt(seq, "it is empty")
            except FileNotFoundError:
                with_listing = attempt == 0
                if with_listing:
                    self._highest_listed()  # an NFS client revalidates the folder on a listing
            except Unreadable as exc:
                return self._corrupt(seq, str(exc))
            except Exception as exc:
                return self._corrupt(seq, f"not an event ({exc})")
        first = self._invisible_since.setdefault(seq, time.monotonic())
        if time.monotonic() - first > 10:
            log.warning("event %s exists on the share but this node still cannot see it", self.path(seq))
            self._invisible_since[seq] = time.monotonic()
        return None

    def _corrupt(self, seq: int, why: str) -> object | None:
        first = self._unreadable_since.setdefault(seq, self.monotonic())
        if self.monotonic() - first < self.corrupt_wait:
            return None
        log.error("%s is unreadable: %s; every node skips it", self.path(seq), why)
        self._unreadable_since.pop(seq, None)
        self._state.seq = max(self._state.seq, seq)
        self._view = None
        return _SKIPPED

    def _load_snapshot(self, wanted: int) -> bool:
        """True when the snapshot covers `wanted`: the events we need were compacted away."""
        try:
            data = json.loads(read_file(self.snapshot_path, 1 << 30))
            if int(data["seq"]) < wanted:
                return False
            state = LogState.from_snapshot(data, observed=self.monotonic())
        except FileNotFoundError:
            return False
        except Exception as exc:
            log.warning("cannot use the log snapshot %s: %s", self.snapshot_path, exc)
            return False
        self._keep_observed(state)
        self._state, self._view = state, None
        # The snapshot's own number holds its compactor's event, which it names among the last
        # each node published: the witness for what this node reads or links next.
        self._last = next(((q, c) for q, c in state.published.values() if q == state.seq), None)
        self._prefetched = {}
        log.info("caught up from the log snapshot at %s", data["seq"])
        return True

    def _keep_observed(self, state: LogState) -> None:
        """A snapshot says nothing of when this node learnt of each lease: one it already knew
        keeps that moment, and one of its own counts from its timestamp, as in `_observed`. Counted
        from the load, the holder would act on its lease long after others may take it over."""
        now = self.monotonic()
        for subject, lease in state.locks.leases.items():
            known = self._state.locks.lease(subject)
            if known is not None and known.seq == lease.seq:
                observed = known.observed
            elif lease.holder.partition("/")[0] == self.node:
                observed = now - max(0.0, self.clock() - lease.timestamp)
            else:
                continue
            state.locks.leases[subject] = replace(lease, observed=observed)

    # -- publishing ------------------------------------------------------------------------------

    def publish(
        self,
        command: Command,
        subject: str,
        *,
        duration: float = 0.0,
        request: Amount | None = None,
        selector: dict[str, str] | None = None,
        ballot: Ballot | None = None,
        winner: str | None = None,
        message: str = "",
        issuer: str | None = None,
        supersedes: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Event:
        """Append an event that is valid at the head of the log, or raise Rejected.

        `issuer` defaults to this node; a request served by the node's API locks under a name of
        its own, so that the node's reconciler never mistakes that lock for its own."""
        template = Event(
            issuer=issuer or self.node,
            command=command,
            subject=subject,
            timestamp=0.0,
            duration=duration,
            request=request,
            selector=selector,
            ballot=ballot,
            winner=winner,
            message=message,
            supersedes=supersedes,
            payload=payload,
        )
        deadline = time.monotonic() + max(10.0, 2 * self.corrupt_wait)
        linked: dict[tuple[int, str], tuple[Event, float]] = {}  # what this call may have placed
        with self._lock:
            polled = time.monotonic() - self._last_poll > STALE_VIEW
            if polled:  # a node that was away (stopped, suspended) could be behind a compaction
                self.poll()
            while True:
                # No poll first: a link at a number already taken fails and shows what took it,
                # which costs no more than reading every head, and a node publishing several
                # events in a row is at the head already. Only a refusal is checked on a fresh view.
                seq = self._state.seq + 1
                event = replace(template, timestamp=self.clock(), seq=seq, nonce=secrets.token_hex(8))
                reason = self._state.check(event)
                if reason is not None:
                    if polled:
                        raise Rejected(reason)
                    self.poll()
                    polled = True
                    continue
                observed = self.monotonic()  # before the link: others learn of it no earlier
                linked[seq, event.nonce] = (event, observed)
                if self._link(event, seq):
                    if self._intact_below(seq):
                        return self._won(event, observed)
                    # The link does not tell: the number was free, either because nobody had
                    # taken it or because compaction deleted it while this node was a window
                    # behind, and then nobody would ever read our event. (The event below it
                    # may also be gone because the others moved on a window since our link.)
                    # The snapshot decides, as for every node: see `LogState.published`.
                    got = self._past_compaction(seq)
                else:
                    got = self._next(seq, known=True)
                if got is _SKIPPED and (mine := linked.get(self._state.published.get(self.node, (-1, "")))):
                    return self._taken(mine[0])
                if (
                    isinstance(got, Event)
                    and (mine := linked.get((got.seq, got.nonce)))
                    and got.issuer == mine[0].issuer
                ):
                    return self._won(*mine)  # our link made it; its reply was lost
                if isinstance(got, Event):
                    self._apply(got, near_head=True)
                elif got is None:
                    if time.monotonic() > deadline:
                        raise Unavailable(f"event {seq} exists but cannot be read yet; try again")
                    time.sleep(0.01)

    def _taken(self, event: Event) -> Event:
        """Our event, which the log took, as the snapshot this node caught up from shows."""
        self._write_head(event.seq)
        return event

    def _won(self, event: Event, observed: float) -> Event:
        self._apply(event, near_head=True, observed=observed)
        self._write_head(event.seq)
        if event.seq % self.compact_every == 0 and event.seq > 0:
            self.compact()
        return event

    def _link(self, event: Event, seq: int) -> bool:
        tmp = self.folder / f".{self.node}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, event.encode())
        except OSError:  # a full share: leave no empty temporary file behind
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        try:
            os.link(tmp, self.path(seq))
            return True
        except (FileExistsError, PermissionError):
            # sshfs reports a name taken between its lookup and the link as EPERM; the caller
            # reads the number and finds out which it was
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def _write_head(self, seq: int) -> None:
        """In place, fixed size: readers that open it after this see the new number. The shared
        head is only raised (as far as this node last saw it); two nodes raising it at once may
        leave the lower number, which their own heads correct for every node that saw them once."""
        try:
            write_head(self.heads / self.node, seq)
            if seq > self._shared_seen:
                write_head(self.shared_head, seq)
                self._shared_seen = seq
            self._head_warned = False
        except OSError as exc:
            if not self._head_warned:
                log.warning("cannot write %s (%s); other nodes see this node's events later", self.heads, exc)
                self._head_warned = True

    # -- compaction ------------------------------------------------------------------------------

    def compact(self) -> None:
        """Snapshot the implied state, then delete events one window below it.

        Keeping one window means readers slightly behind never need the snapshot; readers far
        behind load it. Deletion goes upwards, so a file that exists proves all above it exist.
        """
        with self._lock:
            self._state.compact()
            self._view = None
            data = json.dumps(self._state.to_snapshot()).encode()
            tmp = self.snapshot_path.with_name(f".events.snapshot.{secrets.token_hex(4)}")
            tmp.write_bytes(data)
            if self._snapshot_seq() > self._state.seq:
                tmp.unlink(missing_ok=True)  # we were slow: a later compaction's is there already
            else:
                os.replace(tmp, self.snapshot_path)
            upto = self._state.seq - self.compact_every
        start = self._oldest()
        for seq in range(start, max(upto, start)):
            try:
                self.path(seq).unlink(missing_ok=True)
            except OSError as exc:  # a directory skipped as garbage: not worth failing a publish
                log.debug("cannot delete %s: %s", self.path(seq), exc)

    def _snapshot_seq(self) -> int:
        """The number of the snapshot on the share (`to_snapshot` writes it first), or -1.

        A compactor slow to replace the snapshot would put back an older one after a later
        compaction deleted past it, and a node far behind would wait for the next compaction
        to reach its number. Looked at just before the replace, this narrows that to the time
        between the two; it does not close it (nor does a share that shows a replaced file's
        old version for a while)."""
        try:
            start = peek(self.snapshot_path, 64)
        except OSError:
            return -1
        found = re.match(rb'\{"seq": (-?\d+)', start)
        return int(found.group(1)) if found else -1

    def _oldest(self) -> int:
        """Only compaction lists the directory for a decision, once per window: a number it
        misses is deleted by the next compaction."""
        numbers = [int(n) for n in os.listdir(self.folder) if n.isdigit()]
        return min(numbers, default=0)
