import os

from winslow.controller.workspace import copy_file, prepare


def test_prepare_copies_tree_with_links_and_modes(tmp_path):
    src = tmp_path / "src"
    (src / "deep" / "er").mkdir(parents=True)
    (src / "deep" / "er" / "data.bin").write_bytes(os.urandom(300_000))
    (src / "script.sh").write_text("echo hi")
    (src / "script.sh").chmod(0o755)
    (src / "link").symlink_to("script.sh")
    target = tmp_path / "stages" / "run-2"
    prepare(target, src)
    assert (target / "deep" / "er" / "data.bin").read_bytes() == (
        src / "deep" / "er" / "data.bin"
    ).read_bytes()
    assert os.access(target / "script.sh", os.X_OK)
    assert os.readlink(target / "link") == "script.sh"
    (target / "script.sh").write_text("changed")
    assert (src / "script.sh").read_text() == "echo hi", "a copy, never shared with the source"


def test_prepare_is_atomic_and_idempotent(tmp_path):
    target = tmp_path / "stages" / "run-1"
    leftover = tmp_path / "stages" / ".run-1.partial"
    leftover.mkdir(parents=True)
    (leftover / "half").write_text("from a crashed copy")
    prepare(target, None)
    assert target.is_dir() and list(target.iterdir()) == [] and not leftover.exists()
    (target / "kept").write_text("x")
    prepare(target, None)
    assert (target / "kept").exists(), "an existing workspace is never redone"


def test_copy_file_of_empty_and_large_files(tmp_path):
    for size in (0, 5 << 20):
        src, dst = tmp_path / f"s{size}", tmp_path / f"d{size}"
        src.write_bytes(os.urandom(size))
        copy_file(str(src), str(dst))
        assert dst.read_bytes() == src.read_bytes()
