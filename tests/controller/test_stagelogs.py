import threading

from winslow.controller.stagelogs import Streamer, append_system_line, container_bytes, tail


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


def test_streamer_reconnects_without_gap_or_repeat(tmp_path):
    log = tmp_path / "run.log"
    output = b"".join(f"line-{i}\n".encode() for i in range(50))
    calls = []

    def source():
        calls.append(1)
        # every connection replays from the start (as `docker logs` does) and breaks after a while
        yield output[:100]
        if len(calls) < 3:
            raise ConnectionError("stream broke")
        yield output[100:]

    done = threading.Event()
    streamer = Streamer(log, source, running=lambda: len(calls) < 3, done=done.set)
    append_system_line(log, "starting")
    streamer.start()
    assert done.wait(10)
    text = log.read_bytes().split(b"\n", 1)[1]
    assert text == output


def test_system_line_after_a_partial_line_keeps_the_count(tmp_path):
    log = tmp_path / "run.log"
    with log.open("ab") as fh:
        fh.write(b"progress 50%")
    append_system_line(log, "stopping the container: killed by alice")
    assert container_bytes(log) == len(b"progress 50%")
    assert log.read_text().splitlines()[1].startswith("[winslow~] ")
