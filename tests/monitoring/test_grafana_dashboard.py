"""The Grafana dashboard and provisioning files are consistent (their queries are run for real in
tests/integration/test_monitoring_stack.py)."""

import json
from pathlib import Path

import yaml

GRAFANA = Path(__file__).resolve().parents[2] / "monitoring" / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "ticket-classifier.json").read_text())
REQUIRED_PANELS = (
    "Throughput",
    "Latency per model",
    "Average batch size",
    "Failure rate",
    "Predictions per category",
    "Review rate",
    "PSI",
)


def test_every_required_panel_is_there():
    titles = [panel["title"] for panel in DASHBOARD["panels"]]
    for required in REQUIRED_PANELS:
        assert any(required in title for title in titles), required


def test_every_panel_queries_the_provisioned_datasource():
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"]["uid"] == uid
        assert panel["targets"] and all(target["expr"].strip() for target in panel["targets"])


def test_panel_ids_are_unique_and_layout_does_not_overlap():
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        area = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, panel["title"]
        cells |= area


def test_dashboard_provider_points_at_the_dashboards():
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "ticket-classifier.yml").read_text())
    assert provider["providers"][0]["options"]["path"].endswith("ticket-classifier")
