"""GET /api/v1/reports/utilisation and `winsctl report utilisation`: the same figures, for what the
caller may see."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Api, record
from winslow.resources.stagerun import StageRun

R = "/api/v1/reports/utilisation"


def finished_run(api: Api, name: str, start: str, end: str, trigger: str = "auto") -> None:
    project, _, stage = name.split(".")
    run = StageRun.model_validate(
        {
            "metadata": {"name": name},
            "spec": {"project": project, "stage": stage, "index": 0, "image": "busybox"},
            "status": {"phase": "Succeeded", "trigger": trigger, "startTime": start, "finishTime": end},
        }
    )
    api.layout.store.write_stagerun(run)
    record(api.layout, run)


@pytest.fixture
def history(seeded: Api) -> Api:
    """Project p (alice's) ran 2 h on a Saturday night, automatically, and 1 h on a Monday morning by a
    user; project q (nobody's but the admin's) ran 4 h."""
    finished_run(seeded, "p.2.one", "2026-11-28T22:00:00+00:00", "2026-11-29T00:00:00+00:00")
    finished_run(seeded, "p.3.one", "2026-11-23T09:00:00+00:00", "2026-11-23T10:00:00+00:00", "user")
    finished_run(seeded, "q.1.one", "2026-11-24T09:00:00+00:00", "2026-11-24T13:00:00+00:00")
    return seeded


def rows(report: dict[str, Any]) -> dict[str, float]:
    return {r["key"]: round(r["hours"], 6) for r in report["rows"]}


def test_a_user_counts_only_the_projects_they_may_see(history: Api) -> None:
    params = {"tz": "UTC", "from": "2026-11-23", "to": "2026-11-29"}
    alice = history.as_("alice").get(R, params=params).json()
    assert rows(alice)["all"] == 3.0 and rows(alice)["auto_off"] == 2.0 and rows(alice)["user"] == 1.0
    assert history.as_("carol").get(R, params=params).json()["runs"] == 0
    admin = history.as_("admin").get(R, params=params).json()
    assert rows(admin)["all"] == 7.0 and admin["runs"] == 3
    assert admin["heatmap"]["running"][5][22] == 1.0 and admin["heatmap"]["startedAuto"][5][22] == 1


def test_options_and_their_errors(history: Api) -> None:
    client = history.as_("admin")
    narrow = client.get(
        R, params={"tz": "UTC", "workHours": "9-10", "workDays": "Tue", "to": "2026-11-24"}
    ).json()
    assert rows(narrow)["working"] == 1.0 and narrow["workDays"] == ["Tue"]
    for bad in ({"workHours": "18-8"}, {"workDays": "Funday"}, {"tz": "Nowhere/Else"}, {"from": "yesterday"}):
        reply = client.get(R, params=bad)
        assert reply.status_code == 422, bad
    backwards = client.get(R, params={"from": "2026-11-29", "to": "2026-11-01"})
    assert backwards.status_code == 422 and "after" in backwards.json()["detail"]
    assert client.get(R, params={"weight": "gpu"}).json()["rows"][0]["hours"] == 0.0
    assert history.as_(None).get(R).status_code == 401


def run_cli(api: Api, who: str, *args: str, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = api.winsctl(who, *args, capsys=capsys)
    assert code == 0, err
    return out


def test_winsctl_prints_the_api_figures_as_table_json_and_csv(
    history: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["report", "utilisation", "--tz", "UTC", "--from", "2026-11-23", "--to", "2026-11-29"]
    api_figures = (
        history.as_("admin").get(R, params={"tz": "UTC", "from": "2026-11-23", "to": "2026-11-29"}).json()
    )
    as_json = json.loads(run_cli(history, "admin", *args, "-o", "json", capsys=capsys))
    assert rows(as_json) == rows(api_figures)
    as_csv = list(csv.DictReader(io.StringIO(run_cli(history, "admin", *args, "-o", "csv", capsys=capsys))))
    assert {r["category"]: round(float(r["hours"]), 6) for r in as_csv} == rows(api_figures)
    table = run_cli(history, "admin", *args, capsys=capsys)
    assert "Started automatically, outside working hours" in table and "7.0h" in table
    assert "Sat" in table and "+" in table


def test_the_report_is_in_the_openapi_document(api: Api) -> None:
    assert R in TestClient(api.app).get("/api/v1/openapi.json").json()["paths"]
