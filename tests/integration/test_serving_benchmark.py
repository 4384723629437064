"""The serving benchmark and the tuner: perf_analyzer against a real server, wrk against real peers."""

import json

import pytest
import yaml

from ticket_classifier.cli import main

pytestmark = pytest.mark.integration
with_tiny_model = pytest.mark.parametrize("tiny_model", ["bert"], indirect=True)
SHORT = ["--window-ms", "400", "--peer-seconds", "1", "--ceiling-seconds", "1", "--tickets", "60"]


def model_flags(tiny_model, data) -> list[str]:
    """The tiny model and the demo tickets."""
    return ["--checkpoint", str(tiny_model.checkpoint), "--onnx-dir", str(tiny_model.onnx.parent), "--data", str(data)]


@with_tiny_model
def test_benchmark_measures_triton_the_ceiling_and_the_peers(tiny_model, demo_csv, tmp_path, capsys, require_binary):
    require_binary("wrk")
    output = tmp_path / "serving.json"
    arguments = ["--variants", "fp32", "--concurrency", "1,2", "--output", str(output), *SHORT]
    assert main(["benchmark-serving", *model_flags(tiny_model, demo_csv), *arguments]) == 0
    results = json.loads(output.read_text())
    served = [(row["target"], row["protocol"], row["concurrency"]) for row in results["served"]]
    assert served == [("fp32", protocol, level) for protocol in ("grpc", "http") for level in (1, 2)]
    assert all(row["errors"] == 0 and row["requests"] > 0 and row["average_batch"] >= 1 for row in results["served"])
    # CPU per request on both sides of the boundary: Triton's own process and the model processes.
    cpu = [row["server_cpu_ms"] for row in results["served"]]
    assert all(side["front_end"] > 0 and side["models"] > 0 for side in cpu), cpu
    assert all(row["server_rss_mb"] > 50 for row in results["served"])
    steps = results["served"][0]["steps"]
    assert {"ticket_classifier", "ticket_classifier_pipeline"} == set(steps)  # the default layout on the CPU
    peers = {(row["target"], row["concurrency"]) for row in results["peers"]}
    assert peers == {(name, level) for name in ("fastapi-pytorch-fp32", "fastapi-onnxruntime-fp32") for level in (1, 2)}
    assert all(row["errors"] == 0 and row["generator"] == "wrk" for row in results["peers"])
    assert [row["split"] for row in results["ceiling"]["splits"]][0].startswith("1x")
    ratios = results["ratios"]
    assert ratios["p50_over_in_process_at_1_ms"] is not None and ratios["served_over_ceiling_at_16"] is None
    out = capsys.readouterr().out
    assert "ratios (fp32, grpc)" in out and "ms per request" in out and "gen CPU" in out and "server+models" in out
    assert results["ratios"]["ceiling_cpu_ms_per_text"] > 0


@with_tiny_model
def test_a_student_is_measured_beside_its_teacher_in_the_same_run(tiny_model, demo_csv, tmp_path):
    from ticket_classifier.build.onnx_export import export_variants

    student = tmp_path / "student"
    assert main(["distill", "--teacher", str(tiny_model.checkpoint), "--output-dir", str(student),
                 "--student", "cnn", "--epochs", "1"]) == 0  # fmt: skip
    export_variants(student, tmp_path / "student_onnx", precisions=("fp32",))
    output = tmp_path / "serving.json"
    arguments = ["--variants", "fp32", "--concurrency", "16", "--protocols", "grpc", "--peers", "none", *SHORT]
    compare = ["--compare", f"{student}:{tmp_path / 'student_onnx'}", "--output", str(output)]
    assert main(["benchmark-serving", *model_flags(tiny_model, demo_csv), *arguments, *compare]) == 0
    (model,) = json.loads(output.read_text())["compared"]
    assert model["checkpoint"] == str(student) and model["precision"] == "fp32"
    assert [(row["target"], row["concurrency"], row["errors"]) for row in model["served"]] == [("student", 16, 0)]
    assert model["ceiling"]["texts_per_s"] > 0
    assert model["ratios"]["served_throughput_over_reference_at_16"] > 0


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--compare", "no-colon"], "--compare takes CHECKPOINT:ONNX_DIR"),
        (["--compare", "/nowhere:/nowhere/onnx"], "folder not found: /nowhere"),
        (["--variants", "fp64"], "unknown benchmark variant"),
        (["--protocols", "grpc,smtp"], "unknown benchmark protocol"),
        (["--peers", "flask"], "unknown benchmark peer"),
        (["--concurrency", "a,b"], "--concurrency must be comma-separated integers"),
        (["--concurrency", "0"], "at least 1"),
        (["--window-ms", "10"], "--window-ms must be at least 100"),
        (["--text-fields", "a,b,c"], "--text-fields"),
        (["--text-fields", "subject,body"], "lacks column(s) body"),
        (["--tickets", "0"], "--tickets must be at least 1"),
    ],
)
@with_tiny_model
def test_bad_arguments(tiny_model, demo_csv, arguments, message, capsys):
    code = main(["benchmark-serving", *model_flags(tiny_model, demo_csv), *arguments])
    assert code == 1 and message in capsys.readouterr().err


def test_bad_data_files(tmp_path, capsys):
    assert main(["benchmark-serving", "--data", str(tmp_path / "none.csv")]) == 1
    assert "data file not found" in capsys.readouterr().err
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("subject,description\nCaf\xe9,x\n".encode("latin-1"))
    assert main(["benchmark-serving", "--data", str(latin1)]) == 1
    assert "is not UTF-8" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("subject,description\n, \n")
    assert main(["benchmark-serving", "--data", str(empty)]) == 1
    assert "has no tickets with text" in capsys.readouterr().err


@with_tiny_model
def test_missing_load_generator_is_named_before_anything_runs(tiny_model, demo_csv, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither wrk nor a perf_analyzer on PATH
    monkeypatch.chdir(tmp_path)  # no .perf-tools here
    monkeypatch.delenv("TICKET_CLASSIFIER_PERF_ANALYZER", raising=False)
    assert main(["benchmark-serving", *model_flags(tiny_model, demo_csv), *SHORT]) == 1
    captured = capsys.readouterr()
    assert "perf_analyzer not found: run `make install`" in captured.err and "ceiling" not in captured.out


@pytest.mark.parametrize("cores", [1, 2, 4])
def test_tune_candidates_split_the_cores_with_and_without_the_fused_step(cores):
    from ticket_classifier.build.model_configs import RepositoryOptions
    from ticket_classifier.commands.tune import candidates

    names = [name for name, _ in candidates(RepositoryOptions(), cores)]
    assert len(names) == len(set(names))
    assert {f"1x{cores}", f"1x{cores}-buckets", f"1x{cores}-spin", f"1x{cores}-buckets-spin"} <= set(names)
    assert (
        f"fused-2x{cores}" in names
        and f"fused-2x{cores}-batched-buckets" in names
        and f"fused-{cores + 1}x{cores}" in names
    )
    assert not any(name.startswith("fused-") and "-buckets" in name and "-batched" not in name for name in names)
    assert not any(name.startswith("fused-1x") for name in names)  # the fused step needs two instances
    shapes = [name.removeprefix("fused-").split("-")[0].split("x") for name in names]
    assert all(int(threads) == cores or int(instances) * int(threads) == cores for instances, threads in shapes)
    native = [name for name, _ in candidates(RepositoryOptions(classifier_backend="onnxruntime"), cores)]
    assert native and not any(name.startswith("fused-") for name in native)  # the fused step is Python-backend only


@with_tiny_model
def test_tune_tries_the_candidates_and_writes_the_best_as_a_production_config(tiny_model, demo_csv, tmp_path, capsys):
    from ticket_classifier.runtime.onnx_threads import available_cores

    cores = available_cores()
    output = tmp_path / "tuning"
    arguments = ["--window-ms", "300", "--tickets", "40", "--concurrency", "4", "--output-dir", str(output)]
    arguments += ["--candidates", f"1x{cores}-buckets,fused-2x{cores}"]  # one of each layout (all: 10 servers)
    assert main(["tune", *model_flags(tiny_model, demo_csv), "--config", "configs/production.yaml", *arguments]) == 0
    tuning = json.loads((output / "tuning.json").read_text())
    names = [row["candidate"] for row in tuning["candidates"]]
    assert names == [f"1x{cores}-buckets", f"fused-2x{cores}"] and tuning["cores"] == cores
    assert tuning["best"] in names and all(row["throughput_at_load"] > 0 for row in tuning["candidates"])
    written = yaml.safe_load((output / "production.yaml").read_text())
    best = next(row for row in tuning["candidates"] if row["candidate"] == tuning["best"])
    assert {key: written["repository"][key] for key in best["changes"]} == best["changes"]
    assert written["review"] == yaml.safe_load(open("configs/production.yaml"))["review"]  # the rest is kept
    from ticket_classifier.commands.production import load_production_config

    assert load_production_config(str(output / "production.yaml")).repository.classifier_instances >= 1
    assert "best: " in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--concurrency", "1"], "must be at least 2"),
        (["--config", "missing.yaml"], "missing.yaml"),
        (["--candidates", "1x2,9x9-turbo"], "unknown tuning candidate(s) 9x9-turbo; on this machine: "),
        (["--candidates", ","], "unknown tuning candidate(s) (none given)"),
    ],
)
@with_tiny_model
def test_tune_bad_arguments(tiny_model, demo_csv, arguments, message, capsys):
    assert main(["tune", *model_flags(tiny_model, demo_csv), *arguments]) == 1
    assert message in capsys.readouterr().err


def test_the_help_names_every_variant(capsys):
    from ticket_classifier.commands.serving_benchmark import VARIANTS

    with pytest.raises(SystemExit):
        main(["benchmark-serving", "--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines, also at hyphens
    assert all(name in text for name in VARIANTS)
