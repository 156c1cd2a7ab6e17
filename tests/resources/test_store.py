"""resources.store: the manifests on the share, read and written atomically, in real folders.

What its callers rely on: a reader never sees half a file, and a failed write leaves the old
file and no litter; "does not exist" (NotFoundError) and "exists but cannot be used"
(InvalidFileError) never blur, whatever is in the file; a file the controllers wrote falls back
to its last good version; a StageRun's name is never taken twice and run numbers never reused.
(The reading path itself, byte by byte, is tested in test_reading.py.)
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winslow.resources import store as store_module
from winslow.resources.errors import InvalidFileError, ManifestError, NotFoundError
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import Project, ProjectPhase, ProjectStatus
from winslow.resources.reading import Reader
from winslow.resources.stagerun import StageRun
from winslow.resources.store import (
    Store,
    atomic_write,
    dump_yaml,
    listdir_or_empty,
    load_yaml,
    yaml_stamps,
)

pytestmark = pytest.mark.timeout(60)


def make_store(root: Path) -> Store:
    """A store with a reader of its own: no test sees what another one parsed."""
    store = Store(root / "share", Reader(attempts=2, pause=0.0))
    store.ensure()
    return store


def pipeline(name: str = "pipe", image: str = "img") -> Pipeline:
    return Pipeline.model_validate(
        {"metadata": {"name": name}, "spec": {"stages": [{"name": "a", "image": image}]}}
    )


def project(name: str = "proj") -> Project:
    return Project.model_validate({"metadata": {"name": name}, "spec": {"pipeline": "pipe"}})


def stagerun(name: str = "proj.1.a", image: str = "img") -> StageRun:
    project_name, _, rest = name.partition(".")
    stage = rest.partition(".")[2]
    return StageRun.model_validate(
        {
            "metadata": {"name": name},
            "spec": {"project": project_name, "stage": stage, "index": 0, "image": image},
        }
    )


def litter(folder: Path) -> list[str]:
    """Temporary files left behind anywhere under `folder`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*.tmp"))


# -- atomic writes --------------------------------------------------------------------------------


def test_atomic_write_creates_its_folders_and_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "f.yaml"
    atomic_write(path, b"first version, which is longer\n")
    atomic_write(path, b"second\n")
    assert path.read_bytes() == b"second\n"
    assert litter(tmp_path) == []
    assert (path.stat().st_mode & 0o777) == 0o644


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EIO])
def test_a_write_that_fails_leaves_the_old_file_whole_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    path = tmp_path / "status.yaml"
    atomic_write(path, b"old: 1\n")
    real_write = os.write

    def half_then_full(fd: int, data: memoryview | bytes) -> int:
        if len(data) > 4:
            return real_write(fd, bytes(data[:4]))  # a short write: the loop goes on ...
        raise OSError(code, os.strerror(code))  # ... and then the share is full

    monkeypatch.setattr(store_module.os, "write", half_then_full)
    with pytest.raises(OSError) as caught:
        atomic_write(path, b"new: 2\nand much more\n")
    assert caught.value.errno == code, "the caller sees why (a full share waits; it never fails a run)"
    monkeypatch.undo()
    assert path.read_bytes() == b"old: 1\n"
    assert litter(tmp_path) == []


def test_a_write_that_fails_at_the_sync_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_sync(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(store_module.os, "fsync", no_sync)
    with pytest.raises(OSError):
        atomic_write(tmp_path / "f", b"data")
    assert not (tmp_path / "f").exists() and litter(tmp_path) == []
    atomic_write(tmp_path / "f", b"data", durable=False)  # not synced: not asked to
    assert (tmp_path / "f").read_bytes() == b"data"


def test_a_long_write_is_written_whole_even_when_the_system_takes_it_in_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    monkeypatch.setattr(store_module.os, "write", lambda fd, data: real_write(fd, bytes(data[:1000])))
    data = os.urandom(100_000)
    atomic_write(tmp_path / "big", data)
    assert (tmp_path / "big").read_bytes() == data


@pytest.mark.timeout(120)
def test_a_reader_sees_the_old_file_or_the_new_one_never_a_mix(tmp_path: Path) -> None:
    path = tmp_path / "f"
    versions = [bytes([65 + i]) * 200_000 for i in range(4)]
    atomic_write(path, versions[0])
    stop = threading.Event()
    seen: set[bytes] = set()

    def read() -> None:
        while not stop.is_set():
            seen.add(path.read_bytes())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        for i in range(60):
            atomic_write(path, versions[i % 4], durable=False)
    finally:
        stop.set()
        reader.join(30)
    assert seen <= set(versions)
    assert litter(tmp_path) == []


# -- small helpers --------------------------------------------------------------------------------


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(yaml_values)
def test_yaml_this_node_writes_reads_back_the_same(value: object) -> None:
    assert load_yaml(dump_yaml(value).decode()) == value


def test_dumped_yaml_keeps_key_order_and_unicode() -> None:
    text = dump_yaml({"zeta": 1, "alpha": "Grüße"}).decode()
    assert text.index("zeta") < text.index("alpha") and "Grüße" in text


def test_listing_a_missing_folder_or_a_file_is_empty(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert listdir_or_empty(tmp_path / "missing") == []
    assert listdir_or_empty(tmp_path / "file") == []
    assert listdir_or_empty(tmp_path) == ["file"]


def test_stamps_list_yaml_files_only_and_change_when_a_file_does(tmp_path: Path) -> None:
    assert yaml_stamps(tmp_path / "missing") == {}
    (tmp_path / "a.yaml").write_text("a: 1\n")
    (tmp_path / ".a.yaml.1234.tmp").write_text("half")
    (tmp_path / ".hidden.yaml").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    before = yaml_stamps(tmp_path)
    assert list(before) == ["a"]
    atomic_write(tmp_path / "a.yaml", b"a: 22\n")
    assert yaml_stamps(tmp_path)["a"] != before["a"], "a rename is a new file: a new stamp"


# -- specs ----------------------------------------------------------------------------------------


def test_a_spec_written_reads_back_and_is_listed(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_spec(pipeline())
    store.write_spec(project("b-proj"))
    store.write_spec(project("a-proj"))
    assert store.pipeline("pipe") == pipeline()
    assert store.project("a-proj") == project("a-proj")
    assert store.names("Project") == ["a-proj", "b-proj"] and store.names("Pipeline") == ["pipe"]
    assert store.spec_path("Project", "a-proj") == store.root / "projects" / "a-proj.yaml"
    store.write_spec(pipeline(image="other"))
    assert store.pipeline("pipe").spec.stages[0].image == "other", "an edit is read, not the cached parse"


def test_a_missing_spec_is_not_found_and_says_where_it_looked(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with pytest.raises(NotFoundError, match=r"Project 'nope' not found \(projects/nope.yaml\)"):
        store.project("nope")
    assert store.names("Pipeline") == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"kind: [unclosed\n", "line"),
        (b"apiVersion: winslow/v1\nkind: Pipeline\nmetadata: {name: p}\nspec: caf\xe9\n", "not UTF-8"),
        (b"- a list\n", "is not a mapping"),
        (b"apiVersion: v0\nkind: Pipeline\n", "apiVersion: must be winslow/v1"),
        (b"apiVersion: winslow/v1\nkind: Project\n", "kind: must be Pipeline in this folder"),
        (
            b"apiVersion: winslow/v1\nkind: Pipeline\nmetadata: {name: other}\n"
            b"spec: {stages: [{name: a, image: i}]}\n",
            "differs from the file name",
        ),
        (b"", "is not a mapping"),
    ],
)
def test_a_spec_that_exists_but_cannot_be_used_is_invalid_not_missing(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    store = make_store(tmp_path)
    (store.pipelines / "p.yaml").write_bytes(content)
    with pytest.raises(InvalidFileError, match=problem) as caught:
        store.pipeline("p")
    assert caught.value.name == "p" and "pipelines/p.yaml" in caught.value.reason


def test_a_spec_is_never_replaced_by_its_last_good_version(tmp_path: Path) -> None:
    """A user's broken edit is reported, not silently ignored."""
    store = make_store(tmp_path)
    store.write_spec(pipeline())
    assert store.pipeline("pipe")
    (store.pipelines / "pipe.yaml").write_text("spec: [\n")
    with pytest.raises(InvalidFileError) as caught:
        store.pipeline("pipe")
    assert caught.value.last_good == pipeline(), "kept for whoever wants to show what was there"


def test_a_huge_spec_is_refused_before_it_is_read_and_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WINSLOW_MAX_MANIFEST_BYTES", "2048")
    store = make_store(tmp_path)
    (store.projects / "big.yaml").write_text("apiVersion: winslow/v1\n# " + "x" * 4096 + "\n")
    with pytest.raises(InvalidFileError, match=r"over the limit.*WINSLOW_MAX_MANIFEST_BYTES"):
        store.project("big")
    huge = Pipeline.model_validate(
        {
            "metadata": {"name": "huge"},
            "spec": {"env": {"X": "y" * 4096}, "stages": [{"name": "a", "image": "i"}]},
        }
    )
    with pytest.raises(ManifestError, match="over the limit of 2048"):
        store.write_spec(huge)
    assert not store.spec_path("Pipeline", "huge").exists()


def test_a_directory_at_a_specs_name_is_invalid_not_a_hang_or_a_crash(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    (store.projects / "odd.yaml").mkdir()
    with pytest.raises(InvalidFileError, match="directory"):
        store.project("odd")
    assert store.names("Project") == ["odd"], "listed: a user sees it and can remove it"


def test_deleting_a_spec_forgets_it_and_a_second_delete_is_not_found(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_spec(project())
    assert store.project("proj")
    store.delete_spec("Project", "proj")
    with pytest.raises(NotFoundError):
        store.project("proj")
    with pytest.raises(NotFoundError):
        store.delete_spec("Project", "proj")


# -- status and StageRuns (the controllers' files) ------------------------------------------------


def test_a_project_has_no_status_until_one_is_written(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.project_status("proj") is None
    status = ProjectStatus(project="proj", phase=ProjectPhase.RUNNING, reason="stage a runs", version=3)
    store.write_project_status(status)
    assert store.project_status("proj") == status


def test_a_status_that_turns_unreadable_answers_its_last_good_version(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    status = ProjectStatus(project="proj", reason="good")
    store.write_project_status(status)
    assert store.project_status("proj") == status
    store.status_path("proj").write_bytes(b"\xff\xfe not yaml")
    assert store.project_status("proj") == status


def test_a_status_that_was_never_readable_is_invalid(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.status_path("proj").write_text("project: [\n")
    with pytest.raises(InvalidFileError):
        store.project_status("proj")


def test_a_stagerun_written_reads_back_and_its_project_is_listed(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert list(store.stagerun_projects()) == []
    store.write_stagerun(stagerun("proj.1.a"))
    store.write_stagerun(stagerun("alpha.2.b"), durable=False)
    assert store.stagerun("proj.1.a") == stagerun("proj.1.a")
    assert store.stagerun_path("proj.1.a") == store.root / "run/stageruns/proj/proj.1.a.yaml"
    assert list(store.stagerun_projects()) == ["alpha", "proj"]
    assert list(Store(tmp_path / "empty").stagerun_projects()) == []


@pytest.mark.parametrize("name", ["proj.9.a", "no-dots", ""])
def test_a_stagerun_that_is_not_there_or_cannot_be_named_is_not_found(tmp_path: Path, name: str) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        make_store(tmp_path).stagerun(name)


def test_a_stagerun_file_falls_back_to_its_last_good_version_else_is_invalid(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_stagerun(stagerun("proj.1.a"))
    assert store.stagerun("proj.1.a")
    store.stagerun_path("proj.1.a").write_text("metadata: [\n")
    assert store.stagerun("proj.1.a") == stagerun("proj.1.a")
    path = store.stagerun_path("proj.2.a")
    path.write_text("metadata: [\n")
    with pytest.raises(InvalidFileError) as caught:
        store.stagerun("proj.2.a")
    assert caught.value.name == "proj.2.a"


def test_a_stagerun_file_naming_another_run_is_invalid(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_stagerun(stagerun("proj.1.a"))
    os.replace(store.stagerun_path("proj.1.a"), store.stagerun_path("proj.2.a"))
    with pytest.raises(InvalidFileError, match="differs from the file name"):
        store.stagerun("proj.2.a")


def test_a_stagerun_name_is_taken_once_and_the_first_file_stays(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.create_stagerun(stagerun("proj.1.a", image="first")) is True
    assert store.create_stagerun(stagerun("proj.1.a", image="second")) is False
    assert store.stagerun("proj.1.a").spec.image == "first"
    assert litter(store.root) == []


def test_racing_creators_of_one_name_get_one_true_between_them(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    answers: list[bool] = []
    barrier = threading.Barrier(4)

    def create(i: int) -> None:
        barrier.wait(10)
        answers.append(store.create_stagerun(stagerun("proj.1.a", image=f"img{i}")))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(answers) == [False, False, False, True]
    assert litter(store.root) == []


def test_a_projects_runs_come_in_number_order_with_broken_ones_as_errors(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.read_stageruns("proj") == []
    for name in ("proj.10.a", "proj.9.b", "proj.2.a"):
        store.write_stagerun(stagerun(name))
    folder = store.stagerun_path("proj.1.a").parent
    (folder / "proj.5.a.yaml").write_text("spec: [\n")
    (folder / ".proj.3.a.yaml.abcd.tmp").write_text("half")
    (folder / "proj.x.a.yaml").write_text("odd name")
    (folder / "notes.txt").write_text("not a run")
    found = store.read_stageruns("proj")
    assert [r.metadata.name if isinstance(r, StageRun) else r.name for r in found] == [
        "proj.2.a",
        "proj.5.a",
        "proj.9.b",
        "proj.10.a",
    ]
    assert isinstance(found[1], InvalidFileError)


def test_run_numbers_start_at_one_and_are_never_reused(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.next_run_number("proj") == 1
    store.write_stagerun(stagerun("proj.1.a"))
    store.write_stagerun(stagerun("proj.9.b"))
    assert store.next_run_number("proj") == 10, "one past the highest, gaps are not filled"
    folder = store.stagerun_path("proj.1.a").parent
    (folder / "proj.12.a.yaml").write_text("not even yaml: [")
    assert store.next_run_number("proj") == 13, "a file that does not parse still holds its number"
    assert store.next_run_number("other") == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sets(st.integers(min_value=1, max_value=10_000), max_size=8))
def test_the_next_run_number_is_above_every_number_in_use(tmp_path: Path, numbers: set[int]) -> None:
    store = make_store(tmp_path / f"case{len(list(tmp_path.iterdir()))}")
    for n in numbers:
        store.write_stagerun(stagerun(f"proj.{n}.a"), durable=False)
    assert store.next_run_number("proj") == max(numbers, default=0) + 1
