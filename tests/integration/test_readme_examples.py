"""The README's Python examples run as written, against a real server (addresses swapped in),
and print what the README says they print."""

import ast
import json
import subprocess

import pytest

from ticket_classifier.labels import read_labels
from ticket_classifier.runtime.contract import CATEGORY, CONFIDENCE, MODEL_VERSION, REQUIRES_REVIEW, REVIEW_REASONS

pytestmark = pytest.mark.integration


def python_blocks(readme) -> list[str]:
    """README.md's Python examples, in order."""
    return [text for language, text in readme.blocks() if language == "python"]


def run_block(readme, index: int, server) -> dict:
    """Execute README python block ``index`` against ``server``; its global names afterwards."""
    code = python_blocks(readme)[index]
    code = code.replace("localhost:8001", server.grpc_url).replace("localhost:8000", server.http_url)
    namespace = {"__name__": "readme_example"}
    exec(compile(code, f"README.md python block {index}", "exec"), namespace)
    return namespace


def assert_prediction(prediction, labels):
    assert prediction.category in labels
    assert 0.0 < prediction.confidence <= 1.0
    assert [label for label, _ in prediction.top_k[:1]] == [prediction.category]
    scores = [score for _, score in prediction.top_k]
    assert len(prediction.top_k) >= 3 and scores == sorted(scores, reverse=True)
    assert prediction.requires_review == bool(prediction.review_reasons)


def test_readme_has_python_examples(readme):
    assert len(python_blocks(readme)) == 2


def test_readme_sync_example_prints_a_prediction(tiny_server, tiny_model, capsys, readme):
    labels = read_labels(tiny_model.checkpoint)
    namespace = run_block(readme, 0, tiny_server)
    prediction, predictions = namespace["prediction"], namespace["predictions"]
    assert_prediction(prediction, labels)
    assert len(predictions) == 2
    for each in predictions:
        assert_prediction(each, labels)
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith(f"{prediction.category} {round(prediction.confidence, 2)} [(")
    assert first.endswith(str(prediction.requires_review))
    assert ast.literal_eval(second) == prediction.to_dict()
    assert {"category", "confidence", "top_3_predictions", "requires_review", "review_reasons"} <= set(
        prediction.to_dict()
    )


def test_readme_async_example_prints_eight_categories(tiny_server, tiny_model, capsys, readme):
    labels = read_labels(tiny_model.checkpoint)
    run_block(readme, 1, tiny_server)
    printed = ast.literal_eval(capsys.readouterr().out.strip())
    assert len(printed) == 8 and set(printed) <= set(labels)


def test_readme_curl_example_answers_with_the_requested_outputs(tiny_server, tiny_model, readme):
    (block,) = [code for language, code in readme.blocks() if language == "bash" and "curl" in code]
    command = block.replace("localhost:8000", tiny_server.http_url)
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True)
    answer = json.loads(result.stdout)
    outputs = {output["name"]: output["data"] for output in answer["outputs"]}
    assert set(outputs) == {CATEGORY, CONFIDENCE, REQUIRES_REVIEW, REVIEW_REASONS, MODEL_VERSION}
    assert outputs[CATEGORY][0] in read_labels(tiny_model.checkpoint)
    assert 0.0 < outputs[CONFIDENCE][0] <= 1.0 and outputs[MODEL_VERSION][0].startswith("1-fp32-")
