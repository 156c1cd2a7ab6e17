"""Reading and writing manifests on the share, atomically.

Spec files (`pipelines/`, `projects/`) belong to users; status files under `run/` belong to
controllers. They never share a file, so an editor or `git` never races a controller.

Longer than most modules here: every path of a manifest on the share, read and written here.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from winslow.resources.base import API_VERSION
from winslow.resources.errors import InvalidFileError, ManifestError, NotFoundError
from winslow.resources.manifest import KINDS, Manifest, dump
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import Project, ProjectStatus, QueueEntry
from winslow.resources.quota import Quota
from winslow.resources.reading import READER, Reader, manifest_limits, state_limits
from winslow.resources.stagerun import StageRun, project_of

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Manifest)


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Readers see the old file or the new one, never half of one (temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_yaml(text: str) -> Any:
    """libyaml, for YAML this node made itself. A file from the share goes through
    `resources.reading` instead: libyaml's composer crashes the process on deep nesting."""
    return yaml.load(text, Loader=_Loader)


def dump_yaml(data: object) -> bytes:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True).encode()


def listdir_or_empty(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


@dataclass(frozen=True)
class FileStamp:
    """Enough to notice an edit without reading the file (NFS has no inotify)."""

    mtime_ns: int
    size: int
    ino: int


def yaml_stamps(folder: Path) -> dict[str, FileStamp]:
    """Name (without `.yaml`) to stamp of every YAML file in `folder`: one `scandir`, the cheap
    poll that replaces inotify; temporary files (dot names) are not listed."""
    found: dict[str, FileStamp] = {}
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return found
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(".yaml"):
            continue
        try:
            st = entry.stat()
        except FileNotFoundError:
            continue
        found[entry.name[: -len(".yaml")]] = FileStamp(st.st_mtime_ns, st.st_size, st.st_ino)
    return found


def _spec(data: Any, source: str, kind: str, name: str) -> Manifest:
    """The envelope checks of `manifest.parse`, in words that never repeat the file's values."""
    if not isinstance(data, dict):
        raise InvalidFileError.at(source, "is not a mapping; a manifest starts with `apiVersion:`", 1)
    if data.get("apiVersion") != API_VERSION:
        raise InvalidFileError.at(source, f"must be {API_VERSION}", None, "apiVersion")
    if data.get("kind") != kind:
        raise InvalidFileError.at(source, f"must be {kind} in this folder", None, "kind")
    manifest = KINDS[kind].model_validate(data)
    if manifest.metadata.name != name:
        raise InvalidFileError.at(source, "differs from the file name; rename one", None, "metadata.name")
    return manifest


def _named(model: type[M], name: str, source: str) -> Any:
    def parse(data: Any) -> Any:
        found = model.model_validate(data)
        if found.metadata.name != name:
            raise InvalidFileError.at(source, "differs from the file name", None, "metadata.name")
        return found

    return parse


class Store:
    """Typed access to the manifests on one share; every path it touches is built here.

    Every read goes through `resources.reading` (limits, parse cache, last good version). A spec
    that is missing raises NotFoundError; one that exists but cannot be used raises
    InvalidFileError (a ManifestError), so "does not exist" and "is invalid" never blur.
    """

    def __init__(self, root: Path, reader: Reader = READER) -> None:
        self.root = root
        self.reader = reader
        self.pipelines = root / "pipelines"
        self.projects = root / "projects"
        self.quota_dir = root / "quotas"
        self.status_dir = root / "run" / "status" / "projects"
        self.stageruns = root / "run" / "stageruns"

    def ensure(self) -> None:
        for folder in (self.pipelines, self.projects, self.quota_dir, self.status_dir, self.stageruns):
            folder.mkdir(parents=True, exist_ok=True)

    def source(self, path: Path) -> str:
        """A path as users see it in messages: relative to the share."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    # -- specs ---------------------------------------------------------------------------------

    def _folder(self, kind: str) -> Path:
        return {"Pipeline": self.pipelines, "Project": self.projects, "Quota": self.quota_dir}[kind]

    def spec_path(self, kind: str, name: str) -> Path:
        return self._folder(kind) / f"{name}.yaml"

    def stamps(self, kind: str) -> dict[str, FileStamp]:
        return yaml_stamps(self._folder(kind))

    def read_spec(self, kind: str, name: str) -> Manifest:
        """NotFoundError if there is no file; InvalidFileError if it cannot be used."""
        path = self.spec_path(kind, name)
        source = self.source(path)
        try:
            return self.reader.load(
                path,
                source,
                lambda data: _spec(data, source, kind, name),
                kind=kind,
                limits=manifest_limits(),
                fallback=False,
            )
        except NotFoundError:
            raise NotFoundError(f"{kind} {name!r} not found ({source})") from None
        except InvalidFileError as exc:
            raise exc.again(last_good=exc.last_good, name=name) from None

    def pipeline(self, name: str) -> Pipeline:
        manifest = self.read_spec("Pipeline", name)
        assert isinstance(manifest, Pipeline)
        return manifest

    def project(self, name: str) -> Project:
        manifest = self.read_spec("Project", name)
        assert isinstance(manifest, Project)
        return manifest

    def quotas(self) -> list[Quota]:
        """Every quota that reads whole; one that does not is left out, and said so (a broken quota
        must not stop every project: `winsctl apply` refuses one, so only a hand edit makes it)."""
        found = []
        for name in self.names("Quota"):
            try:
                manifest = self.read_spec("Quota", name)
            except (NotFoundError, InvalidFileError) as exc:
                log.warning("quota %s is not used: %s", name, exc)
                continue
            assert isinstance(manifest, Quota)
            found.append(manifest)
        return found

    def write_spec(self, manifest: Pipeline | Project | Quota) -> None:
        data = dump(manifest).encode()
        limit = manifest_limits()
        if len(data) > limit.max_bytes:
            raise ManifestError.single(
                f"{manifest.kind} {manifest.metadata.name}",
                "",
                f"would be {len(data)} bytes on the share, over the limit of {limit.max_bytes}; "
                f"make it smaller (or raise {limit.setting} on every node)",
            )
        atomic_write(self.spec_path(manifest.kind, manifest.metadata.name), data)

    def delete_spec(self, kind: str, name: str) -> None:
        path = self.spec_path(kind, name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise NotFoundError(f"{kind} {name!r} not found") from None
        self.reader.forget(path)

    def names(self, kind: str) -> list[str]:
        return sorted(self.stamps(kind))

    # -- status (controllers only) ---------------------------------------------------------------

    def status_path(self, name: str) -> Path:
        return self.status_dir / f"{name}.yaml"

    def project_status(self, name: str) -> ProjectStatus | None:
        """None if there is none yet; its last good version if the file cannot be read now."""
        path = self.status_path(name)
        try:
            return self.reader.load(
                path,
                self.source(path),
                ProjectStatus.model_validate,
                kind="ProjectStatus",
                limits=state_limits(),
                fallback=True,
            )
        except NotFoundError:
            return None

    def queue(self) -> list[tuple[str, QueueEntry]]:
        """Every project's stage that waits for resources, as the statuses say, in the order they
        start (for people, and for the preference of one project's stage over another's: a
        status a moment old only delays a start a moment, it never starts anything twice)."""
        found = []
        for name in yaml_stamps(self.status_dir):
            try:
                status = self.project_status(name)
            except InvalidFileError:
                continue
            # a deleted project's status stays (its history), and says nothing of a queue
            if status is not None and status.queue is not None and self.spec_path("Project", name).exists():
                found.append((name, status.queue))
        return sorted(found, key=lambda pair: pair[1].rank(pair[0]))

    def write_project_status(self, status: ProjectStatus) -> None:
        atomic_write(self.status_path(status.project), dump_yaml(status.to_wire()))

    def stagerun_path(self, name: str) -> Path:
        return self.stageruns / project_of(name) / f"{name}.yaml"

    def stagerun(self, name: str) -> StageRun:
        """NotFoundError if missing; its last good version, else InvalidFileError, if unreadable."""
        try:
            path = self.stagerun_path(name)
        except ValueError:
            raise NotFoundError(f"StageRun {name!r} not found") from None
        source = self.source(path)
        try:
            return self.reader.load(
                path,
                source,
                _named(StageRun, name, source),
                kind="StageRun",
                limits=state_limits(),
                fallback=True,
            )
        except NotFoundError:
            raise NotFoundError(f"StageRun {name!r} not found") from None
        except InvalidFileError as exc:
            raise exc.again(last_good=exc.last_good, name=name) from None

    def write_stagerun(self, run: StageRun, *, durable: bool = True) -> None:
        atomic_write(self.stagerun_path(run.metadata.name), dump_yaml(run.to_wire()), durable=durable)

    def create_stagerun(self, run: StageRun) -> bool:
        """Write a new StageRun's file unless the name exists, decided by the server (`link`), not
        by this client's possibly stale idea of what exists. False when it does."""
        path = self.stagerun_path(run.metadata.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        atomic_write(tmp, dump_yaml(run.to_wire()))
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def _run_files(self, project: str) -> list[str]:
        """The names in a project's StageRun folder. The folder is looked for in a listing of its
        parent first: asking a network share for a name that does not exist yet makes its client
        answer "no such file" for seconds after another node creates it."""
        if project not in listdir_or_empty(self.stageruns):
            return []
        return listdir_or_empty(self.stageruns / project)

    def read_stageruns(self, project: str) -> list[StageRun | InvalidFileError]:
        """Every run file of a project in creation order (the number in the name), the ones that
        cannot be read as their errors, so that a listing can show them as Invalid."""
        names = [n[: -len(".yaml")] for n in self._run_files(project) if n.endswith(".yaml")]
        found: list[tuple[int, StageRun | InvalidFileError]] = []
        for name in names:
            parts = name.split(".")
            if name.startswith(".") or len(parts) != 3 or not parts[1].isdigit():
                continue
            try:
                found.append((int(parts[1]), self.stagerun(name)))
            except NotFoundError:
                continue
            except InvalidFileError as exc:
                found.append((int(parts[1]), exc))
        return [item for _, item in sorted(found, key=lambda pair: pair[0])]

    def next_run_number(self, project: str) -> int:
        """One past the highest number in use, counting files that do not parse: a name is never reused."""
        names = self._run_files(project)
        numbers = [int(parts[1]) for n in names if len(parts := n.split(".")) > 2 and parts[1].isdigit()]
        return max(numbers, default=0) + 1

    def stagerun_projects(self) -> Iterator[str]:
        try:
            yield from sorted(p.name for p in self.stageruns.iterdir() if p.is_dir())
        except FileNotFoundError:
            return
