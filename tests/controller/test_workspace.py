import os
import socket
import stat

import pytest

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


@pytest.mark.timeout(20)
def test_special_files_are_left_out_and_named_and_links_are_copied_as_links(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    os.mkfifo(src / "pipe")
    os.mkfifo(src / "sub" / "pipe2")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock"))
    try:
        os.mknod(src / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        device = ["null (character device)"]
    except PermissionError:  # not root: no device this time
        device = []
    (src / "to-pipe").symlink_to("pipe")
    (src / "dangling").symlink_to("/nowhere/at/all")
    (src / "sub" / "data").write_bytes(b"kept")
    target = tmp_path / "stages" / "run-2"
    skipped = prepare(target, src)
    sock.close()
    assert sorted(skipped) == sorted(
        ["pipe (named pipe)", "sub/pipe2 (named pipe)", "sock (socket)", *device]
    )
    assert os.readlink(target / "to-pipe") == "pipe" and os.readlink(target / "dangling") == "/nowhere/at/all"
    assert (target / "sub" / "data").read_bytes() == b"kept"
    assert sorted(p.name for p in target.iterdir()) == ["dangling", "sub", "to-pipe"]


def test_copy_file_refuses_what_is_not_a_regular_file_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    assert copy_file(str(tmp_path / "pipe"), str(tmp_path / "copy")) is False
    assert not (tmp_path / "copy").exists()
