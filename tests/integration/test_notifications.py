"""Issue 19: a gate, a failure and a lost stage each bring exactly one webhook POST and exactly one
mail, with two nodes running (real node processes, real Docker, a real local SMTP server)."""

from __future__ import annotations

import time

import pytest

from tests.harness import NodeProcess, pipeline, project, stage, stageruns, wait_for, winsctl, write_yaml
from tests.reconcilers.test_notify import receiver, smtp_server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]


def test_each_event_is_told_once_by_the_cluster(docker_engine, share, nodes, tmp_path, receiver, smtp_server):  # noqa: F811
    smtp, mails = smtp_server
    flags = ("--smtp", f"{smtp.host}:{smtp.port}", "--smtp-from", "winslow@test")
    a = NodeProcess(share, "node-a", *flags).start()
    nodes.append(a)
    b = NodeProcess(share, "node-b", *flags).start()
    nodes.append(b)
    targets = [{"webhook": receiver.url}, {"email": "lab@example.org"}]
    docs = [
        pipeline("gated", stage("detect", "true"), stage("check", "true", confirm=True)),
        pipeline("broken", stage("detect", "exit 3")),
        pipeline("slow", stage("detect", "sleep 300")),
        project("gate-1", "gated", notify=targets),
        project("fail-1", "broken", notify=targets),
    ]
    winsctl(a.url, "apply", "-f", str(write_yaml(tmp_path / "m.yaml", *docs)))

    def told(project_name, event):
        hooks = [x for x in receiver.bodies if x["project"] == project_name and x["event"] == event]
        sent = [m for m in mails if m["Subject"].startswith(f"[winslow] {project_name}:")]
        return hooks, sent

    wait_for(
        lambda: all(
            told(p, e)[0] and told(p, e)[1] for p, e in [("gate-1", "waiting"), ("fail-1", "failed")]
        ),
        60,
        "the gate and the failure to be told",
    )
    # the lost stage: its node dies under it, the other marks it Lost
    winsctl(
        a.url, "apply", "-f", str(write_yaml(tmp_path / "l.yaml", project("lost-1", "slow", notify=targets)))
    )
    wait_for(
        lambda: [r["status"]["phase"] for r in stageruns(share, "lost-1")] == ["Running"],
        60,
        "the stage to run",
    )
    holder = stageruns(share, "lost-1")[0]["status"]["node"]
    (a if holder == "node-a" else b).kill()
    wait_for(lambda: all(told("lost-1", "lost")), 60, "the lost stage to be told")
    time.sleep(3)  # what a second node would send twice has had time to go out
    gate_hooks, gate_mails = told("gate-1", "waiting")
    assert len(gate_hooks) == 1 and len(gate_mails) == 1
    assert gate_hooks[0]["stage"] == "check" and "waits for confirmation" in gate_hooks[0]["text"]
    assert gate_mails[0]["Subject"] == "[winslow] gate-1: stage 'check' waits for confirmation"
    fail_hooks, fail_mails = told("fail-1", "failed")
    assert len(fail_hooks) == 1 and len(fail_mails) == 1
    assert fail_mails[0]["Subject"] == "[winslow] fail-1: stage 'detect' failed"
    lost_hooks, lost_mails = told("lost-1", "lost")
    assert len(lost_hooks) == 1 and len(lost_mails) == 1
    assert len(receiver.bodies) == 3 and len(mails) == 3
    assert not list((share / "run" / "outbox").glob("*.yaml"))
