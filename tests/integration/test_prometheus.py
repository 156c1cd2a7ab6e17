"""A real Prometheus scrapes a real node, and every query of the Grafana dashboard evaluates."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from tests.harness import free_port, pipeline, project, stage, wait_for, winsctl, write_yaml

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]
DASHBOARD = Path(__file__).resolve().parents[2] / "grafana" / "dashboards" / "winslow.json"


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is not installed; scripts/setup-host.sh installs it")
        pytest.skip("prometheus is not installed (scripts/setup-host.sh installs it)")
    return found


def query(port: int, expr: str) -> dict:
    reply = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": expr}, timeout=5)
    body = reply.json()
    assert body["status"] == "success", f"{expr}: {body}"
    return body["data"]


def test_prometheus_scrapes_the_node_and_the_dashboard_queries_work(node, share, tmp_path, prometheus_binary):
    manifest = write_yaml(
        tmp_path / "m.yaml", pipeline("m", stage("one", "true"), stage("two", "true")), project("m-1", "m")
    )
    winsctl(node.url, "apply", "-f", str(manifest))
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
        wait_for(
            lambda: (
                query(port, 'winslow_stageruns{phase="Succeeded"}')["result"]
                and query(port, 'winslow_stageruns{phase="Succeeded"}')["result"][0]["value"][1] == "2"
            ),
            90,
            "Prometheus to scrape two succeeded StageRuns",
            interval=0.5,
        )
        up = query(port, "up")["result"]
        assert up and up[0]["value"][1] == "1", "the scrape, with its token, works"
        capacity = query(port, 'winslow_node_capacity{resource="cpu"}')["result"]
        assert capacity[0]["metric"]["node"] == "node-a"
        for panel in json.loads(DASHBOARD.read_text())["panels"]:
            for target in panel["targets"]:
                query(port, target["expr"])  # raises on a query Prometheus cannot evaluate
    finally:
        server.terminate()
        server.wait(10)
