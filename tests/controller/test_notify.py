"""controller.notify: the words sent, the SMTP flag, and reading an entry safely."""

import os
from pathlib import Path

import pytest

from winslow.controller import notify

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("mail.example.org:587", ("mail.example.org", 587)),
        ("localhost", ("localhost", 25)),
        ("[::1]:25", ("::1", 25)),
    ],
)
def test_smtp_host_and_port(text, parsed):
    assert notify.parse_smtp(text) == parsed


@pytest.mark.parametrize("text", ["mail:", ":25", "mail:abc"])
def test_a_wrong_smtp_flag_says_how(text):
    with pytest.raises(ValueError, match="HOST:PORT"):
        notify.parse_smtp(text)


@pytest.mark.parametrize(
    ("event", "stage", "says"),
    [
        ("waiting", "check", "traffic-ulm: stage 'check' waits for confirmation"),
        ("failed", "detect", "traffic-ulm: stage 'detect' failed"),
        ("lost", "detect", "traffic-ulm: stage 'detect' was lost"),
        ("succeeded", None, "traffic-ulm: all stages succeeded"),
    ],
)
def test_the_headline_names_the_project_and_what_happened(event, stage, says):
    from datetime import UTC, datetime

    n = notify.Notification(
        event=event,
        project="traffic-ulm",
        stage=stage,
        phase="Failed",
        node="n1",
        channel="email",
        target="lab@example.org",
        created=datetime.now(UTC),
    )
    assert notify.headline(n) == says
    assert notify.mail(n, "http://ui:8080", "w@x")["Subject"] == f"[winslow] {says}"


def test_an_outbox_entry_that_is_a_fifo_huge_or_deeply_nested_is_refused_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")  # open() of a FIFO would wait for a writer forever
    (tmp_path / "deep.yaml").write_text("[" * 100_000)
    (tmp_path / "huge.yaml").write_text("x: " + "y" * (1 << 20))
    for name in ("fifo.yaml", "deep.yaml", "huge.yaml"):
        with pytest.raises(ValueError, match="not a notification"):
            notify.read(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        notify.read(tmp_path / "sent.yaml")
