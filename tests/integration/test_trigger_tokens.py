"""Issue 19: a project's trigger token starts its run with its env on a real node in real Docker,
and is refused for anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import (
    NodeProcess,
    pipeline,
    project,
    project_status,
    stage,
    stageruns,
    wait_for,
    winsctl,
    write_yaml,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]


def settled(share: Path, name: str, runs: int) -> list[dict[str, Any]] | None:
    """The project's StageRuns once `runs` of them exist and none is active, and it succeeded."""
    found = stageruns(share, name)
    active = any(r["status"]["phase"] in ("Pending", "Running") for r in found)
    if len(found) < runs or active or project_status(share, name).get("phase") != "Succeeded":
        return None
    return found


def waited(node: NodeProcess, share: Path, runs: int, what: str) -> list[dict[str, Any]]:
    try:
        found: list[dict[str, Any]] = wait_for(lambda: settled(share, "hooked", runs), 90, what)
    except AssertionError as exc:
        spec = (share / "projects" / "hooked.yaml").read_text()
        state = (
            f"status: {project_status(share, 'hooked')}\nspec:\n{spec}\nruns: {stageruns(share, 'hooked')}"
        )
        raise AssertionError(f"{exc}\n{state}\nnode log:\n{node.logfile.read_text()[-3000:]}") from None
    return found


def test_a_trigger_token_starts_a_run_with_its_env_and_opens_nothing_else(
    node: NodeProcess, share: Path, tmp_path: Path
) -> None:
    manifest = write_yaml(
        tmp_path / "hook.yaml",
        pipeline("hook", stage("greet", 'echo "GREETING=$GREETING"')),
        project("hooked", "hook", paused=True, env={"GREETING": "unset"}),
    )
    winsctl(node.url, "apply", "-f", str(manifest))
    made = winsctl(node.url, "token", "create", "hooked", "--name", "ci")
    secret = made.stdout.strip()
    assert secret.startswith("wst_") and "shown this once" in made.stderr
    token_id = winsctl(node.url, "token", "list", "hooked").stdout.splitlines()[1].split()[0]

    trigger = f"{node.url}/api/v1/projects/hooked/trigger"
    bearer = {"Authorization": f"Bearer {secret}"}
    reply = httpx.post(trigger, headers=bearer, json={"env": {"GREETING": "hello-from-hook"}}, timeout=30)
    assert reply.status_code == 200, reply.text
    runs = waited(node, share, 1, "the triggered run to succeed")
    (run,) = runs
    assert run["status"]["triggeredBy"] == f"token:{token_id}"
    assert run["spec"]["env"]["GREETING"] == "hello-from-hook"
    log = winsctl(node.url, "logs", run["metadata"]["name"]).stdout
    assert "GREETING=hello-from-hook" in log

    again = httpx.post(
        trigger, headers=bearer, json={"env": {"GREETING": "again"}, "from": "greet"}, timeout=30
    )
    assert again.status_code == 200, again.text
    runs = waited(node, share, 2, "the rerun to succeed")
    assert runs[1]["status"]["triggeredBy"] == f"token:{token_id}"
    assert "GREETING=again" in winsctl(node.url, "logs", runs[1]["metadata"]["name"]).stdout

    for method, path in (("GET", "/api/v1/projects/hooked"), ("POST", "/api/v1/projects/hooked/kill")):
        refused = httpx.request(method, f"{node.url}{path}", headers=bearer, timeout=30)
        assert refused.status_code == 401 and "trigger token" in refused.json()["detail"], refused.text
    listed = winsctl(node.url, "token", "list", "hooked").stdout
    assert "never" not in listed, "its last use is shown"
    winsctl(node.url, "token", "revoke", "hooked", token_id)
    revoked = httpx.post(trigger, headers=bearer, timeout=30)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
