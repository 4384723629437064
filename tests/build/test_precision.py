"""``precision: auto``: the device's fastest precision whose export passed its parity gate."""

import json

import pytest

from ticket_classifier.build.gates import resolve_precision


@pytest.mark.parametrize(
    "passed, device, expected",
    [
        ({"fp32": True, "fp16": True, "int8": True}, "cpu", "int8"),
        ({"fp32": True, "fp16": True, "int8": False}, "cpu", "fp32"),  # a failed INT8 gate: FP32, not INT8
        ({"fp32": True}, "cpu", "fp32"),  # INT8 not exported
        ({"fp32": True, "fp16": True, "int8": True}, "gpu", "fp16"),
        ({"fp32": True, "fp16": False}, "gpu", "fp32"),
    ],
)
def test_auto_precision_is_the_fastest_that_passed_its_gate(tmp_path, passed, device, expected):
    variants = [{"precision": precision, "passed": ok} for precision, ok in passed.items()]
    (tmp_path / "build_report.json").write_text(json.dumps({"variants": variants}))
    assert resolve_precision(tmp_path, "auto", device) == expected
    assert resolve_precision(tmp_path, "fp16", device) == "fp16"  # an explicit choice is kept (and gated later)
