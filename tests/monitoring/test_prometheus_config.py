"""The Prometheus configuration and rules, checked and unit-tested by promtool."""

import subprocess
from pathlib import Path

import pytest

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus"


@pytest.mark.parametrize(
    "arguments",
    [
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "rules/recording.yml", "rules/alerts.yml"],
        ["test", "rules", "tests/rules_test.yml"],
    ],
    ids=["check-config", "check-rules", "test-rules"],
)
def test_promtool(require_binary, arguments):
    result = subprocess.run(
        [require_binary("promtool"), *arguments], cwd=PROMETHEUS_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
