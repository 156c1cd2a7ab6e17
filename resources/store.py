"""Reading and writing manifests on the share, atomically.

Spec files (`pipelines/`, `projects/`) belong to users; status files under `run/` belong to
controllers. They never share a file, so an editor or `git` never races a controller.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from winslow.resources.errors import ManifestError, NotFoundError
from winslow.resources.manifest import Manifest, dump, parse
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import Project, ProjectStatus
from winslow.resources.stagerun import StageRun, project_of

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
    """libyaml when PyYAML has it: nodes re-read every file on the share, often."""
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


class Store:
    """Typed access to the manifests on one share; every path it touches is built here."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pipelines = root / "pipelines"
        self.projects = root / "projects"
        self.status_dir = root / "run" / "status" / "projects"
        self.stageruns = root / "run" / "stageruns"

    def ensure(self) -> None:
        for folder in (self.pipelines, self.projects, self.status_dir, self.stageruns):
            folder.mkdir(parents=True, exist_ok=True)

    # -- specs ---------------------------------------------------------------------------------

    def spec_path(self, kind: str, name: str) -> Path:
        folder = {"Pipeline": self.pipelines, "Project": self.projects}[kind]
        return folder / f"{name}.yaml"

    def stamps(self, kind: str) -> dict[str, FileStamp]:
        return yaml_stamps({"Pipeline": self.pipelines, "Project": self.projects}[kind])

    def read_spec(self, kind: str, name: str) -> Manifest:
        path = self.spec_path(kind, name)
        source = str(path.relative_to(self.root))
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise NotFoundError(f"{kind} {name!r} not found ({source})") from None
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            raise ManifestError.single(source, "", f"not valid YAML ({exc})") from None
        manifest = parse(data, source, (kind,))
        if manifest.metadata.name != name:
            raise ManifestError.single(
                source, "metadata.name", f"{manifest.metadata.name!r} differs from the file name; rename one"
            )
        return manifest

    def pipeline(self, name: str) -> Pipeline:
        manifest = self.read_spec("Pipeline", name)
        assert isinstance(manifest, Pipeline)
        return manifest

    def project(self, name: str) -> Project:
        manifest = self.read_spec("Project", name)
        assert isinstance(manifest, Project)
        return manifest

    def write_spec(self, manifest: Pipeline | Project) -> None:
        atomic_write(self.spec_path(manifest.kind, manifest.metadata.name), dump(manifest).encode())

    def delete_spec(self, kind: str, name: str) -> None:
        try:
            self.spec_path(kind, name).unlink()
        except FileNotFoundError:
            raise NotFoundError(f"{kind} {name!r} not found") from None

    def names(self, kind: str) -> list[str]:
        return sorted(self.stamps(kind))

    # -- status (controllers only) ---------------------------------------------------------------

    def project_status(self, name: str) -> ProjectStatus | None:
        try:
            data = load_yaml((self.status_dir / f"{name}.yaml").read_text())
        except FileNotFoundError:
            return None
        return ProjectStatus.model_validate(data)

    def write_project_status(self, status: ProjectStatus) -> None:
        atomic_write(self.status_dir / f"{status.project}.yaml", dump_yaml(status.to_wire()))

    def stagerun_path(self, name: str) -> Path:
        return self.stageruns / project_of(name) / f"{name}.yaml"

    def stagerun(self, name: str) -> StageRun:
        try:
            data = load_yaml(self.stagerun_path(name).read_text())
        except (FileNotFoundError, ValueError):
            raise NotFoundError(f"StageRun {name!r} not found") from None
        return StageRun.model_validate(data)

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

    def stageruns_of(self, project: str) -> list[StageRun]:
        """In creation order (the number in the name), which is the project's history order."""
        names = [n[: -len(".yaml")] for n in self._run_files(project) if n.endswith(".yaml")]
        runs = []
        for name in names:
            if name.startswith("."):
                continue
            try:
                runs.append(self.stagerun(name))
            except NotFoundError:
                continue
        return sorted(runs, key=lambda r: int(r.metadata.name.split(".")[1]))

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
