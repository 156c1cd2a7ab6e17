"""A real Prometheus scrapes a real node, and every query of the Grafana dashboard evaluates."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from tests.harness import free_port, missing, pipeline, project, stage, wait_for, winsctl, write_yaml

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]
DASHBOARD = Path(__file__).resolve().parents[2] / "grafana" / "dashboards" / "winslow.json"
# what Grafana puts in for its variables: the rate interval (at least four scrape intervals), the
# dashboard's window, and "All" for the job and node variables
VARIABLES = {"$__rate_interval": "10s", "$__range": "10m", "$node": ".*", "$job": ".*"}


SETUP = "scripts/setup-host.sh --tests installs it"


@pytest.fixture
def prometheus_binary() -> str:
    return shutil.which("prometheus") or missing(
        "prometheus is missing: scripts/setup-host.sh --tests installs it"
    )


def query(port: int, expr: str) -> list[dict]:
    reply = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": expr}, timeout=5)
    body = reply.json()
    assert body["status"] == "success", f"{expr}: {body}"
    return body["data"]["result"]


def filled(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a variable the test does not know: {expr}"
    return expr


def values(port: int, expr: str) -> list[float]:
    return [float(r["value"][1]) for r in query(port, filled(expr))]


def panels() -> dict[str, dict]:
    return {p["title"]: p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"}


def test_the_dashboard_takes_its_data_source_as_a_variable_and_windows_from_grafana():
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels().values():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            windows = re.findall(r"\[([^\]]+)\]", target["expr"])
            assert all(w in ("$__rate_interval", "$__range") for w in windows), (
                f"{panel['title']}: rates and quantiles over Grafana's intervals, not {windows}"
            )
            assert "percent" not in target["expr"], "ratios, not percent"


def test_prometheus_scrapes_the_node_and_the_dashboard_queries_work(node, share, tmp_path, prometheus_binary):
    token = yaml.safe_load(Path(os.environ["WINSLOW_CONFIG"]).read_text())["token"]
    (tmp_path / "token").write_text(token)
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "winslow",
                "authorization": {"credentials_file": str(tmp_path / "token")},
                "static_configs": [{"targets": [f"127.0.0.1:{node.port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    with (tmp_path / "prometheus.log").open("wb") as log:
        server = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: values(port, 'up{job="winslow"}') == [1.0], 60, "the first scrape", interval=0.5)
        # the runs end after counting began, so that the window's increase sees them
        manifest = write_yaml(
            tmp_path / "m.yaml",
            pipeline("m", stage("one", "sleep 1"), stage("two", "sleep 1")),
            project("m-1", "m"),
        )
        winsctl(node.url, "apply", "-f", str(manifest))
        wait_for(
            lambda: values(port, 'max(winslow_stageruns{phase="Succeeded"})') == [2.0],
            90,
            "Prometheus to scrape two succeeded StageRuns",
            interval=0.5,
        )
        wait_for(
            lambda: values(port, "sum(increase(winslow_stage_seconds_total[$__range]))")[0] >= 2.0,
            30,
            "the compute seconds of both stages over the window",
            interval=0.5,
        )
        capacity = query(port, 'winslow_node_capacity{resource="cpu"}')
        assert capacity[0]["metric"]["node"] == "node-a"
        assert capacity[0]["metric"]["unit"] == "core"
        for panel in panels().values():
            for target in panel["targets"]:
                query(port, filled(target["expr"]))  # raises on a query Prometheus cannot evaluate
        shown = panels()
        cpu = values(port, shown["CPU utilisation per node"]["targets"][0]["expr"])
        assert cpu and all(0.0 <= v <= 1.0 for v in cpu), cpu
        hours = shown["Compute hours by trigger and period"]["targets"][0]["expr"]
        assert sum(values(port, hours)) * 3600 >= 2.0
        for title in (
            "Reconciles per second",
            "Work queue depth",
            "Node process CPU",
            "Network throughput per node",
        ):
            assert values(port, shown[title]["targets"][0]["expr"]), f"{title}: no data"
        durations = shown["Stage duration over the window (median, 90th percentile)"]["targets"][0]["expr"]
        medians = values(port, durations)
        assert len(medians) == 2 and all(1.0 <= m <= 60.0 for m in medians), f"a median per stage: {medians}"
    finally:
        server.terminate()
        server.wait(10)
