"""Issue 11, item 6: metrics that follow the conventions, on two real nodes running real stages.

Every node used to report the whole cluster's stage seconds, so a sum over nodes (what Prometheus
users write) counted each run once per node. Now the node that recorded a run's end counts it.
"""

import os
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import NodeProcess, get_json, pipeline, project, stage, wait_for, winsctl, write_yaml

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]


def scrape(node: NodeProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    token = yaml.safe_load(Path(os.environ["WINSLOW_CONFIG"]).read_text())["token"]
    text = httpx.get(f"{node.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: dict, metric: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == metric and wanted <= found)


def seconds(run: dict) -> float:
    status = run["status"]
    return (
        datetime.fromisoformat(status["finishTime"]) - datetime.fromisoformat(status["startTime"])
    ).total_seconds()


def test_two_nodes_count_each_run_once_in_base_units(docker_engine, share, nodes, tmp_path):
    for name in ("node-a", "node-b"):
        nodes.append(NodeProcess(share, name).start())
    a = nodes[0]
    projects = [project(f"p-{i}", "two") for i in range(4)]
    manifest = write_yaml(
        tmp_path / "m.yaml", pipeline("two", stage("detect", "sleep 1"), stage("count", "true")), *projects
    )
    winsctl(a.url, "apply", "-f", str(manifest))

    def finished() -> list[dict]:
        runs = get_json(a.url, "stageruns")["items"]
        done = [r for r in runs if r["status"]["phase"] == "Succeeded"]
        return done if len(done) == 8 else []

    runs = wait_for(finished, 150, "eight StageRuns to succeed")
    by_node = {n.name: [r for r in runs if r["status"]["node"] == n.name] for n in nodes}
    wait_for(
        lambda: sum(total(scrape(n), "winslow_stage_completions_total") for n in nodes) == 8,
        30,
        "both nodes to have counted the ends they recorded",
    )
    scraped = {n.name: scrape(n) for n in nodes}
    summed = sum(total(s, "winslow_stage_seconds_total") for s in scraped.values())
    assert summed == pytest.approx(sum(seconds(r) for r in runs), abs=0.01), "each run counted once"
    for name, samples in scraped.items():
        assert total(samples, "winslow_stage_completions_total", node=name) == len(by_node[name])
        assert total(samples, "winslow_stage_completions_total", phase="Succeeded", stage="count") == len(
            [r for r in by_node[name] if r["spec"]["stage"] == "count"]
        )
        assert total(samples, "winslow_stage_seconds_total", node=name) == pytest.approx(
            sum(seconds(r) for r in by_node[name]), abs=0.01
        )
        assert total(samples, "winslow_stage_duration_seconds_count", node=name) == len(by_node[name])
        assert samples[("winslow_stageruns", frozenset({("phase", "Succeeded")}))] == 8.0, "the cluster's"
        names = {n for n, _ in samples}
        assert not [n for n in names if "percent" in n], "ratios, not percent"
        unit = frozenset({("node", name), ("resource", "memory"), ("unit", "byte")})
        assert samples[("winslow_node_capacity", unit)] > 0
        assert total(samples, "winslow_reconcile_total", controller="project", result="success") > 0
        assert total(samples, "winslow_reconcile_time_seconds_count", controller="project") > 0
        assert total(samples, "winslow_workqueue_adds_total", name="project") > 0
        assert total(samples, "winslow_workqueue_queue_duration_seconds_count", name="project") > 0
        assert ("winslow_workqueue_depth", frozenset({("name", "stagerun")})) in samples
        assert total(samples, "process_cpu_seconds_total") > 0
        assert total(samples, "winslow_node_cpu_seconds_total", node=name, mode="idle") > 0
        assert total(samples, "winslow_node_network_receive_bytes_total", node=name) >= 0
        assert any(n == "winslow_node_disk_read_bytes_total" for n in names)
        ratios = [v for (n, _), v in samples.items() if n == "winslow_node_cpu_utilisation_ratio"]
        assert ratios and all(0.0 <= v <= 1.0 for v in ratios)

    # counters never go down: not when a project's files are purged, nor as more work is done
    winsctl(a.url, "delete", "project", "p-0", "--purge")
    later = {n.name: scrape(n) for n in nodes}
    for name in scraped:
        for key, value in scraped[name].items():
            if key[0].endswith(("_total", "_count", "_sum", "_bucket")) and key[0].startswith(
                "winslow_stage"
            ):
                assert later[name].get(key, 0.0) >= value, (name, key)
