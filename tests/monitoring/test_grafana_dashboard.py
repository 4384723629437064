"""The Grafana dashboard and provisioning files are consistent (their queries are run for real in
tests/integration/test_monitoring_stack.py)."""

import json
import re
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


def test_the_dashboard_imports_anywhere_every_query_naming_the_chosen_prometheus():
    (source,) = DASHBOARD["__inputs"]
    assert source["name"] == "DS_PROMETHEUS" and source["type"] == "datasource" and source["pluginId"] == "prometheus"
    variables = {variable["name"]: variable for variable in DASHBOARD["templating"]["list"]}
    # provisioned (no import dialog), the same name resolves as a datasource variable
    assert variables["DS_PROMETHEUS"]["type"] == "datasource" and variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"] and all(target["expr"].strip() for target in panel["targets"])
        assert all(target["datasource"] == panel["datasource"] for target in panel["targets"])
    assert '"uid": "prometheus"' not in json.dumps(DASHBOARD, indent=1)


def test_every_triton_series_is_filtered_by_the_instance_variable():
    variables = {variable["name"]: variable for variable in DASHBOARD["templating"]["list"]}
    assert variables["instance"]["includeAll"] and variables["instance"]["allValue"] == ".*"
    selectors = [
        match
        for panel in DASHBOARD["panels"]
        for target in panel["targets"]
        for match in re.findall(
            r"\b(?:nv_inference_|ticket_classifier_(?:predictions|confidence|review|rejected))[a-z_]*(\{[^}]*\})?",
            target["expr"],
        )
    ]
    assert selectors and all(selector.startswith('{instance=~"$instance"') for selector in selectors)


def test_the_drift_status_reads_as_words():
    (panel,) = [panel for panel in DASHBOARD["panels"] if panel["type"] == "stat"]
    (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
    assert {key: value["text"] for key, value in mapping["options"].items()} == {
        "-1": "unknown",
        "0": "stable",
        "1": "warning",
        "2": "alert",
    }
    (ready,) = panel["fieldConfig"]["overrides"]
    assert ready["matcher"] == {"id": "byFrameRefID", "options": "B"}


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
