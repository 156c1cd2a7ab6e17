"""The one way a node reads a YAML file from the share: bounded, never blocking, said once.

Every file a node reads (manifests, project status, StageRuns, node files, users, the global
env) comes through `Reader.load`, because anyone who can write to the share can put anything
there, and a network share can show half of a file that is being replaced:

- only a regular file is read: it is opened with O_NOFOLLOW|O_NONBLOCK and checked with fstat,
  so a FIFO or a device at a manifest's name is refused at once instead of blocking the node;
- its size is capped before it is read (manifests: 1 MiB, `WINSLOW_MAX_MANIFEST_BYTES`);
- it must be UTF-8;
- its nesting depth, and its size once aliases are expanded, are checked on libyaml's event
  stream (a state machine with its own stacks) before libyaml's composer, which recurses on the
  C stack and kills the process with a segmentation fault at about 50,000 levels, sees it;
- a version that was parsed once (same path, same content hash) is not parsed again: a large
  manifest costs a read and a hash, and an unchanged one costs no parsing at all;
- a version that does not parse is read again a few times, a short while apart (the half-seen
  file of a network share settles), and then the last good version of the path is used where
  the caller allows it (files nodes write: status, StageRuns, node files, users, env); a user's
  manifest is reported invalid instead. Either way the problem is logged once per version at
  WARNING, with its path, and the error names file, line and field but never a value.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import mmap
import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from winslow.resources.errors import InvalidFileError, ManifestError, NotFoundError

log = logging.getLogger(__name__)

T = TypeVar("T")
MiB = 1 << 20
MANIFEST_BYTES_ENV = "WINSLOW_MAX_MANIFEST_BYTES"
DEFAULT_MANIFEST_BYTES = MiB
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_TRANSIENT = (errno.ESTALE, errno.EIO, errno.EINTR, errno.EAGAIN)
_COLLECTION_START = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_COLLECTION_END = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


@dataclass(frozen=True)
class Limits:
    """What one file may cost. Depth 64 is ten times what any manifest kind needs."""

    max_bytes: int
    max_depth: int = 64
    max_nodes: int = 1_000_000  # scalars and collections, with every alias expanded
    setting: str = ""  # what raises `max_bytes`, named in the error


def manifest_limits() -> Limits:
    """Users' manifests (and the global env): 1 MiB unless the node's environment says otherwise."""
    raw = os.environ.get(MANIFEST_BYTES_ENV, "")
    try:
        size = int(raw) if raw else DEFAULT_MANIFEST_BYTES
    except ValueError:
        size = DEFAULT_MANIFEST_BYTES
    return Limits(max(size, 1024), setting=MANIFEST_BYTES_ENV)


def state_limits() -> Limits:
    """Files nodes write: a StageRun copies its project's env, so a few manifests' worth."""
    manifest = manifest_limits()
    return Limits(4 * manifest.max_bytes + MiB, setting=MANIFEST_BYTES_ENV)


def _kind_of(mode: int) -> str:
    for check, what in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if check(mode):
            return what
    return "not a regular file"


def _human(size: int) -> str:
    return f"{size / MiB:.1f} MiB" if size >= MiB else f"{size} bytes"


class _Refused(Exception):
    """The file cannot be read; `version` tells this state of it from the next one. `retry`: an
    I/O error, such as the ESTALE of a file a network share replaced while we opened it."""

    def __init__(self, error: InvalidFileError, version: bytes, retry: bool = False) -> None:
        super().__init__(error.reason)
        self.error = error
        self.version = version
        self.retry = retry


def read_regular(path: Path, source: str, max_bytes: int, setting: str = "") -> bytes:
    """The bytes of a regular file of at most `max_bytes`; never blocks on a FIFO or a device."""
    try:
        return _read(path, source, max_bytes, setting)
    except _Refused as refused:
        raise refused.error from None


def _read(path: Path, source: str, max_bytes: int, setting: str) -> bytes:
    direct = network_share(path)
    try:
        fd = _open(path, direct)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFoundError(f"{source} does not exist") from None
    except OSError as exc:
        try:
            st = os.lstat(path)
        except OSError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            what = f"is {_kind_of(st.st_mode)}; the share holds regular files only"
        else:
            what = f"cannot be opened ({exc.strerror or exc})"
        version = f"open:{exc.errno}:{st.st_ino if st else 0}:{st.st_mtime_ns if st else 0}".encode()
        raise _Refused(InvalidFileError.at(source, what), version, retry=exc.errno in _TRANSIENT) from None
    try:
        st = os.fstat(fd)
        version = f"stat:{st.st_mode}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode()
        if not stat.S_ISREG(st.st_mode):
            message = f"is {_kind_of(st.st_mode)}, not a regular file; remove it"
            raise _Refused(InvalidFileError.at(source, message), version)
        too_large = InvalidFileError.at(
            source,
            f"is {_human(st.st_size)}, over the limit of {_human(max_bytes)}; make it smaller"
            + (f" or raise {setting} on every node" if setting else ""),
        )
        if st.st_size > max_bytes:
            raise _Refused(too_large, version)
        data = _read_direct(fd, max_bytes) if direct else _read_plain(fd, max_bytes)
        if data is None:  # it grew while we read
            raise _Refused(too_large, version)
        return data
    except OSError as exc:
        error = InvalidFileError.at(source, f"cannot be read ({exc.strerror or exc})")
        raise _Refused(error, f"io:{exc.errno}".encode(), retry=True) from None
    finally:
        os.close(fd)


_BLOCK = 4096
_NETWORK_TYPES = ("nfs", "nfs4", "cifs", "smb3", "9p", "ceph", "glusterfs", "lustre", "gpfs")


def _mounts() -> list[tuple[str, str]]:
    """(mount point, file system type), longest mount point first."""
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 3:
            found.append((parts[1].replace("\\040", " "), parts[2]))
    return sorted(found, key=lambda m: len(m[0]), reverse=True)


_MOUNTS = _mounts()


def network_share(path: Path) -> bool:
    """Whether `path` is on a network or FUSE file system, whose client may hold a replaced
    file's old size: reading up to that size would return half of the new file."""
    text = str(path)
    for point, kind in _MOUNTS:
        if text == point or text.startswith(point.rstrip("/") + "/"):
            return kind in _NETWORK_TYPES or kind.startswith("fuse.")
    return False


def _open(path: Path, direct: bool) -> int:
    if direct:
        try:  # reads the server's file as it is, past a size the client cached
            return os.open(path, _OPEN_FLAGS | os.O_DIRECT)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    return os.open(path, _OPEN_FLAGS)


def _read_plain(fd: int, max_bytes: int) -> bytes | None:
    chunks, total = [], 0
    while chunk := os.read(fd, max_bytes + 1 - total):
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            return None
    return b"".join(chunks)


def _read_direct(fd: int, max_bytes: int) -> bytes | None:
    """Into an aligned buffer from aligned offsets, as O_DIRECT wants; plain reads where the file
    system refuses it."""
    size = (max_bytes // _BLOCK + 2) * _BLOCK
    buffer = mmap.mmap(-1, size)
    try:
        total = 0
        while total < size:
            try:
                count = os.preadv(fd, [memoryview(buffer)[total:]], total)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                if total:
                    break  # an unaligned offset after a short read: that read ended the file
                os.lseek(fd, 0, os.SEEK_SET)
                return _read_plain(fd, max_bytes)
            if count == 0:
                break
            total += count
        return None if total > max_bytes else bytes(buffer[:total])
    finally:
        buffer.close()


def decode(raw: bytes, source: str, limits: Limits) -> Any:
    """Bytes to the YAML document they hold, or InvalidFileError; never crashes the process."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidFileError.at(
            source, f"is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8", line
        ) from None
    check_shape(text, source, limits)
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source) from None
    except Exception as exc:  # a constructor's own error: a timestamp with month 13, say
        raise InvalidFileError.at(source, f"is not valid YAML ({type(exc).__name__})") from None


def check_shape(text: str, source: str, limits: Limits) -> None:
    """Depth and expanded size from the parser's events, which never recurse; stops at the limit."""
    depth = nodes = 0
    sizes: dict[str, int] = {}
    stack: list[tuple[str | None, int]] = []
    open_anchors: set[str] = set()
    try:
        for event in yaml.parse(text, Loader=_Loader):
            line = event.start_mark.line + 1 if event.start_mark else None
            if isinstance(event, _COLLECTION_START):
                depth += 1
                nodes += 1
                if depth > limits.max_depth:
                    raise InvalidFileError.at(
                        source, f"is nested deeper than {limits.max_depth} levels", line
                    )
                stack.append((event.anchor, nodes))
                if event.anchor:
                    open_anchors.add(event.anchor)
            elif isinstance(event, _COLLECTION_END):
                depth -= 1
                anchor, first = stack.pop()
                if anchor:
                    sizes[anchor] = nodes - first + 1
                    open_anchors.discard(anchor)
            elif isinstance(event, yaml.ScalarEvent):
                nodes += 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor in open_anchors:
                    raise InvalidFileError.at(source, "has an alias inside the node it refers to", line)
                nodes += sizes.get(event.anchor or "", 1)
            if nodes > limits.max_nodes:
                raise InvalidFileError.at(
                    source, f"holds more than {limits.max_nodes} values once its aliases are expanded", line
                )
    except yaml.YAMLError as exc:
        if "nesting depth" in str(getattr(exc, "problem", "")):  # libyaml >= 0.2.5 stops at 1000 itself
            mark = getattr(exc, "problem_mark", None)
            message = f"is nested deeper than {limits.max_depth} levels"
            raise InvalidFileError.at(source, message, mark.line + 1 if mark else None) from None
        raise _yaml_error(exc, source) from None


def _yaml_error(exc: yaml.YAMLError, source: str) -> InvalidFileError:
    """Line and the parser's words, never the snippet of the file that PyYAML would quote."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    context = getattr(exc, "context", None)
    words = f"{context}: {problem}" if context else str(problem)
    return InvalidFileError.at(source, f"is not valid YAML ({words})", mark.line + 1 if mark else None)


_VALIDATOR_STEPS = ("function-after", "function-before", "function-wrap", "union[")


def field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(_VALIDATOR_STEPS):
            continue
        else:
            path += f".{part}" if path else part
    return path


def _node_line(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest part of `loc` the document has: a key's own line, so a missing
    field points at its parent's key."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(part, str) and part.startswith(_VALIDATOR_STEPS):
            continue
        if isinstance(node, yaml.MappingNode):
            pair = next(
                (kv for kv in node.value if isinstance(kv[0], yaml.ScalarNode) and kv[0].value == part), None
            )
            if pair is None:
                break
            node, line = pair[1], pair[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _message(error: Any) -> str:
    """Pydantic's words without the input; a validator of ours may quote the value, so not those."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field; remove it or check its spelling"
    if kind == "missing":
        return "is required"
    message, value = str(error["msg"]), error.get("input")
    quoted = isinstance(value, str | int | float) and str(value) != "" and str(value) in message
    if kind in ("value_error", "assertion_error") or quoted:
        return "is not a valid value (values from the file are not repeated here)"
    return message


def invalid_from(exc: ValidationError, source: str, text: str, document: Any) -> InvalidFileError:
    try:
        root = yaml.compose(text, Loader=_Loader)  # depth was checked: composing cannot overflow
    except Exception:
        root = None
    problems, lines = [], []
    for error in exc.errors():
        loc = tuple(error["loc"])
        problems.append((field_path(loc), _message(error)))
        lines.append(_node_line(root, loc))
    return InvalidFileError(source, problems, lines, document=document)


@dataclass
class _Entry:
    version: bytes
    value: Any = None
    error: InvalidFileError | None = None
    settled: bool = False  # a bad version retried long enough: fail at once from now on
    good: Any = None  # the last valid value of this path, from this or an earlier version
    warned: bytes | None = None


class Reader:
    """Parsed files by path and content hash, with the last good version of each path.

    Values are shared between all who read the same version: callers never change them in
    place (the code base changes models with `model_copy`). The paths least recently read are
    forgotten beyond `capacity`, so files deleted long ago do not stay in memory.
    """

    def __init__(self, *, attempts: int = 3, pause: float = 0.01, capacity: int = 50_000) -> None:
        self.attempts = attempts
        self.pause = pause
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def _put(self, key: tuple[str, str], entry: _Entry) -> None:
        """Under the lock."""
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def load(
        self,
        path: Path,
        source: str,
        parse: Callable[[Any], T],
        *,
        kind: str,
        limits: Limits,
        fallback: bool,
    ) -> T:
        """`parse` turns the decoded document into the value (a pydantic model, say); it may raise
        ValidationError or InvalidFileError. Raises NotFoundError or InvalidFileError only, the
        latter only when `fallback` is False or no version of the path was ever valid."""
        key = (str(path), kind)
        failure: InvalidFileError | None = None
        version = b""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.pause * attempt)
            try:
                raw = _read(path, source, limits.max_bytes, limits.setting)
            except NotFoundError:
                with self._lock:
                    self._entries.pop(key, None)
                raise
            except _Refused as refused:
                failure, version = refused.error, refused.version
                self._remember(key, version, failure)
                if refused.retry:
                    continue
                break  # a FIFO, a device, a file over the limit: reading again changes nothing
            version = hashlib.blake2b(raw, digest_size=16).digest()
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
            if entry is not None and entry.version == version:
                if entry.error is None:
                    return entry.value
                failure = entry.error
                if entry.settled:
                    break
                continue  # the same bad bytes: wait for the file to settle
            try:
                value = self._parse(raw, source, parse, limits)
            except InvalidFileError as exc:
                failure = exc
                self._remember(key, version, exc)
                continue
            with self._lock:
                self._put(key, _Entry(version, value=value, good=value))
            return value
        assert failure is not None
        return self._give_up(key, path, version, failure, fallback)

    def _parse(self, raw: bytes, source: str, parse: Callable[[Any], T], limits: Limits) -> T:
        document = decode(raw, source, limits)
        try:
            return parse(document)
        except InvalidFileError as exc:
            exc.document = document
            raise
        except ValidationError as exc:
            raise invalid_from(exc, source, raw.decode(), document) from None
        except ManifestError as exc:
            raise InvalidFileError(exc.source, exc.problems, document=document) from None
        except Exception as exc:  # a parser's own bug must not become anyone else's 500
            raise InvalidFileError.at(source, f"could not be read ({type(exc).__name__})", None) from None

    def _remember(self, key: tuple[str, str], version: bytes, error: InvalidFileError) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._put(key, _Entry(version, error=error))
            elif entry.version != version or entry.error is None:
                entry.version, entry.value, entry.error, entry.settled = version, None, error, False

    def _give_up(
        self, key: tuple[str, str], path: Path, version: bytes, failure: InvalidFileError, fallback: bool
    ) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = _Entry(version, error=failure)
                self._put(key, entry)
            entry.settled = True
            first = entry.warned != version
            entry.warned = version
            good = entry.good
        use_good = fallback and good is not None
        if first:
            action = (
                "using its last good version until it is fixed" if use_good else "not used until it is fixed"
            )
            log.warning(
                "unreadable file on the share: path=%s problem=%r action=%r",
                path,
                failure.reason,
                action,
                extra={"path": str(path), "problem": failure.reason},
            )
        if use_good:
            return good
        raise failure.again(last_good=good)

    def forget(self, path: Path) -> None:
        """Drops what is known of a path (its file was deleted on purpose)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == str(path)]:
                del self._entries[key]


READER = Reader()
"""One per process: the API and the reconcilers share what they parsed."""
