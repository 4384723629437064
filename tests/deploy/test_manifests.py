"""The Kubernetes manifests of deploy/, checked offline with the real tools.

Each overlay is rendered by ``kubectl kustomize``; every rendered object is validated against the
Kubernetes OpenAPI schemas (``kubernetes-validate``, strict) and scanned by ``checkov``; the
rendered text is pinned by golden files (``make update-golden``, or
``python tests/deploy/test_manifests.py --update``, then review the diff). The references between
objects (selectors, port names, the autoscaler's target) are checked here too: a schema cannot
see them. The live half (the autoscaling metric against a real server) is in
``tests/integration/test_monitoring_stack.py``; the probes and the read-only repository in
``tests/integration/test_docker_entrypoint.py``.
"""

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from ticket_classifier.server import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
GOLDEN = Path(__file__).parent / "golden"
OVERLAYS = ("cpu", "gpu")
DEPLOY_TOOLS = ROOT / ".venv-deploy" / "bin"  # the Makefile's DEPLOY_TOOLS
KUBERNETES_VERSION = "1.32.0"
# Kinds of the Prometheus Operator: no OpenAPI schema in kubernetes-validate; checked below instead.
OPERATOR_KINDS = {"PodMonitor"}


def render(overlay: str, kubectl: str = "kubectl") -> str:
    """``kubectl kustomize deploy/overlays/<overlay>``."""
    result = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def deploy_tool(name: str) -> str:
    """A tool of the Makefile's deploy environment (installed by ``make install`` / ``make test``)."""
    path = DEPLOY_TOOLS / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make install` (it creates {DEPLOY_TOOLS.parent.name})")
    return str(path)


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request, require_binary, tmp_path_factory) -> tuple[str, Path, list[dict]]:
    """(overlay, rendered file, objects)."""
    text = render(request.param, require_binary("kubectl"))
    path = tmp_path_factory.mktemp(request.param) / f"{request.param}.yaml"
    path.write_text(text)
    return request.param, path, list(yaml.safe_load_all(text))


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [item for item in objects if item["kind"] == kind]


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [deploy_tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def scan(path: Path) -> dict:
    result = subprocess.run(
        [deploy_tool("checkov"), "--file", str(path), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    report["returncode"] = result.returncode
    return report


def test_the_rendered_output_matches_its_golden_file(rendered):
    overlay, path, _ = rendered
    golden = GOLDEN / f"{overlay}.yaml"
    assert path.read_text() == golden.read_text(), f"{golden} differs from the rendered overlay (make update-golden)"


def test_every_object_validates_against_the_kubernetes_schemas(rendered):
    _, path, objects = rendered
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = result.stdout.count(" passed for resource ")
    assert passed == len([item for item in objects if item["kind"] not in OPERATOR_KINDS]), result.stdout


def test_the_schema_validation_rejects_a_broken_object(tmp_path):
    deployment = yaml.safe_load((DEPLOY / "base" / "deployment.yaml").read_text())
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": ["two"]}}
    deployment["spec"]["replicas"] = "two"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(deployment))
    result = validate(path)
    assert result.returncode != 0 and "replicas" in result.stdout + result.stderr


def test_the_policy_scan_passes_and_every_exception_says_why(rendered):
    _, path, objects = rendered
    report = scan(path)
    failed = [(check["check_id"], check["resource"]) for check in report["results"]["failed_checks"]]
    assert report["returncode"] == 0 and not failed, failed
    assert report["summary"]["passed"] > 50
    annotations = {
        key: value
        for item in objects
        for key, value in item["metadata"].get("annotations", {}).items()
        if key.startswith("checkov.io/skip")
    }
    for skipped in report["results"]["skipped_checks"]:
        (reason,) = [text for text in annotations.values() if text.startswith(skipped["check_id"] + "=")]
        assert len(reason.split("=", 1)[1]) > 20, f"{skipped['check_id']} is skipped without a reason"


def test_the_policy_scan_fails_a_privileged_root_container(tmp_path):
    deployment = yaml.safe_load((DEPLOY / "overlays" / "cpu" / "triton-resources.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container.update(
        image="nvcr.io/nvidia/tritonserver:24.10-py3", securityContext={"privileged": True, "runAsUser": 0}
    )
    path = tmp_path / "privileged.yaml"
    path.write_text(yaml.safe_dump(deployment))
    report = scan(path)
    failed = {check["check_id"] for check in report["results"]["failed_checks"]}
    assert report["returncode"] != 0 and {"CKV_K8S_16", "CKV_K8S_23"} <= failed, failed


def test_the_objects_refer_to_each_other_correctly(rendered):
    overlay, _, objects = rendered
    (deployment,) = by_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    ports = {port["name"]: port["containerPort"] for c in pod["spec"]["containers"] for port in c.get("ports", [])}

    def selects(selector: dict) -> bool:
        return selector.items() <= labels.items()

    assert selects(deployment["spec"]["selector"]["matchLabels"])
    for service in by_kind(objects, "Service"):
        assert selects(service["spec"]["selector"]), service["metadata"]["name"]
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= ports.keys()
    (public,) = [s for s in by_kind(objects, "Service") if s["metadata"]["name"] == "ticket-classifier"]
    assert {port["targetPort"] for port in public["spec"]["ports"]} == {"http", "grpc"}
    (budget,) = by_kind(objects, "PodDisruptionBudget")
    assert selects(budget["spec"]["selector"]["matchLabels"])
    (monitor,) = by_kind(objects, "PodMonitor")
    assert selects(monitor["spec"]["selector"]["matchLabels"])
    assert {endpoint["port"] for endpoint in monitor["spec"]["podMetricsEndpoints"]} == {"metrics", "drift-metrics"}
    (hpa,) = by_kind(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ticket-classifier"}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (policy,) = by_kind(objects, "NetworkPolicy")
    assert selects(policy["spec"]["podSelector"]["matchLabels"])
    public_rule, metrics_rule = policy["spec"]["ingress"]
    assert "from" not in public_rule and {p["port"] for p in public_rule["ports"]} == {"http", "grpc"}
    assert {p["port"] for p in metrics_rule["ports"]} == {"metrics", "drift-metrics"}
    assert metrics_rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    (source,) = by_kind(objects, "ConfigMap")
    assert source["data"]["MODEL_REPOSITORY_URI"].endswith(f"/{overlay}/")
    volumes = {volume["name"] for volume in pod["spec"]["volumes"]}
    for container in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
        assert {mount["name"] for mount in container["volumeMounts"]} <= volumes
        for variable in container.get("env", []):
            reference = variable.get("valueFrom", {}).get("configMapKeyRef")
            if reference:
                assert reference["name"] == source["metadata"]["name"] and reference["key"] in source["data"]


def test_the_gpu_overlay_asks_for_a_gpu_and_the_cpu_overlay_does_not(rendered):
    overlay, _, objects = rendered
    (deployment,) = by_kind(objects, "Deployment")
    (triton,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "triton"]
    resources = triton["resources"]
    assert resources["requests"] == resources["limits"]  # Guaranteed QoS: whole cores, no throttling surprise
    assert ("nvidia.com/gpu" in resources["limits"]) == (overlay == "gpu")


def test_the_drift_monitor_arguments_are_accepted_by_the_cli(rendered):
    from ticket_classifier.cli import build_parser

    _, _, objects = rendered
    (deployment,) = by_kind(objects, "Deployment")
    (sidecar,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "drift-monitor"]
    arguments = build_parser().parse_args(sidecar["args"])
    assert arguments.bind_address == "0.0.0.0" and arguments.port == sidecar["ports"][0]["containerPort"]


def test_the_plain_scrape_config_keeps_the_serving_ports_and_labels_namespace_and_pod(require_binary, tmp_path):
    """Its relabelling, run by a real Prometheus. Debian's Prometheus has no Kubernetes discovery, so
    the targets are static ones carrying the labels that discovery would give them."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "scrape-config.yaml").read_text())
    (job,) = config["scrape_configs"]
    assert job.pop("kubernetes_sd_configs")[0]["namespaces"]["names"] == ["ticket-classifier"]
    pod = {
        "__meta_kubernetes_namespace": "ticket-classifier",
        "__meta_kubernetes_pod_name": "ticket-classifier-7d9-x2",
        "__meta_kubernetes_pod_label_app_kubernetes_io_name": "ticket-classifier",
        "__meta_kubernetes_pod_label_app_kubernetes_io_component": "server",
    }
    discovered = {  # port -> (its name, the pod's labels)
        "127.0.0.1:9": ("metrics", pod),
        "127.0.0.1:10": ("drift-metrics", pod),
        "127.0.0.1:11": ("http", pod),
        "127.0.0.1:12": ("metrics", {**pod, "__meta_kubernetes_pod_label_app_kubernetes_io_component": "other"}),
    }
    job["static_configs"] = [
        {"targets": [target], "labels": {**labels, "__meta_kubernetes_pod_container_port_name": port}}
        for target, (port, labels) in discovered.items()
    ]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump({"global": {"scrape_interval": "1h"}, **config}))
    port = free_port()
    process = subprocess.Popen(
        [
            require_binary("prometheus"),
            f"--config.file={path}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=2) as response:
                    targets = json.loads(response.read())["data"]
                if targets["activeTargets"] or time.monotonic() > deadline:
                    break
            except OSError:
                assert time.monotonic() < deadline, "prometheus did not start"
            time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(timeout=30)
    kept = {target["labels"]["instance"]: target["labels"] for target in targets["activeTargets"]}
    assert set(kept) == {"127.0.0.1:9", "127.0.0.1:10"}
    for labels in kept.values():
        assert labels["namespace"] == "ticket-classifier" and labels["pod"] == "ticket-classifier-7d9-x2"
    assert len(targets["droppedTargets"]) == 2


def test_the_documented_prometheus_rule_wrapper_gives_the_committed_rules():
    """docs/scaling.md's shell lines that wrap the recording rules in a PrometheusRule, run as written."""
    docs = (ROOT / "docs" / "scaling.md").read_text()
    command = re.search(r"^(\{ printf .*?;\n.*?\}) \| kubectl apply -f -$", docs, re.MULTILINE | re.DOTALL).group(1)
    result = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    rule = yaml.safe_load(result.stdout)
    assert rule["kind"] == "PrometheusRule" and rule["apiVersion"] == "monitoring.coreos.com/v1"
    committed = yaml.safe_load((ROOT / "monitoring" / "prometheus" / "rules" / "recording.yml").read_text())
    assert rule["spec"] == committed


def test_the_docker_build_context_leaves_out_environments_data_and_secrets():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv*", "artifacts", "data", "model_repository", "*.key"} <= set(ignored)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/deploy/test_manifests.py --update   (rewrites the golden files)")
    GOLDEN.mkdir(exist_ok=True)
    for name in OVERLAYS:
        (GOLDEN / f"{name}.yaml").write_text(render(name, shutil.which("kubectl") or "kubectl"))
        print(f"wrote {GOLDEN / name}.yaml")
