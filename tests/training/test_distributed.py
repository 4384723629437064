"""Multi-process training (DistributedDataParallel, gloo on CPU) against one process, with real processes.

The tiny BERT is trained three ways on the same data and config: by one process (the reference),
and by two processes with the same global batch, paused after 30 steps by ``train --nproc 2``
(torchrun) and resumed by two processes started by hand with torchrun's environment, each in its
own working folder with the same relative ``--output-dir``: rank 1 resumes from a copy of the
paused state, and that copy must come out untouched (it writes nothing).
"""

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from ticket_classifier.cli import build_parser, main
from ticket_classifier.commands.train import _worker_arguments
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.server import free_port
from ticket_classifier.training.checkpoint import check_checkpoint
from ticket_classifier.training.config import DataConfig, TrainingConfig
from ticket_classifier.training.demo_data import write_demo_csv
from ticket_classifier.training.distributed import World, current_world
from ticket_classifier.training.losses import FocalLoss
from ticket_classifier.training.pipeline import train
from ticket_classifier.training.trainer import METRICS_LOG_FILENAME, STATE_DIRNAME, STATE_FILENAME

# Measured on 2 CPU cores: at most 2.4e-6 apart (most tensors under 1e-7; float sums in another order and
# per-process padding), while training moved every tensor by 1.7e-2 or more. Attention key biases are left
# out: their gradient is zero but for rounding (softmax ignores a shift shared by all keys), and AdamW
# scales that noise up to steps as large as the ones they took (1.6e-5 apart after moving 1.4e-5).
WEIGHT_TOLERANCE = 1e-5
BATCH = 14  # the global batch: 7 rows for each of the two processes
ROWS = 481  # 385 training rows: 27 batches of 14 and one of 7, which the processes share 4 and 3
PAUSE_AFTER = 30  # steps: past the first epoch (28 steps), so the paused part validated and kept best weights


def snapshot(folder: Path) -> dict:
    """Every file under ``folder``: its size, modification time and SHA-256."""
    return {
        str(path.relative_to(folder)): (
            path.stat().st_size,
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def files(folder: Path) -> set[str]:
    return set(snapshot(folder))


@pytest.fixture(scope="module")
def runs(tiny_encoders, make_training_config, tmp_path_factory):
    """The three runs (see the module docstring): their folders, and rank 1's folder before and after."""
    root = tmp_path_factory.mktemp("distributed")
    encoder = shutil.copytree(tiny_encoders["bert"], root / "encoder")
    settings = json.loads((encoder / "config.json").read_text())
    settings.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # dropout masks differ per process
    (encoder / "config.json").write_text(json.dumps(settings))
    data = write_demo_csv(root / "tickets.csv", ROWS, seed=5)
    config = make_training_config(encoder, data, root / "single")
    config.optimization.epochs, config.optimization.batch_size = 2, BATCH
    config.optimization.early_stopping_patience = 5
    config.optimization.loss, config.optimization.class_weights = "focal", "inverse_frequency"  # a weighted mean
    config_file = root / "config.yaml"
    config_file.write_text(yaml.safe_dump(dataclasses.asdict(config)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each of the two processes (OMP_NUM_THREADS=1)
    try:
        train(config, show_progress=False)
    finally:
        torch.set_num_threads(threads)

    rank0, rank1 = root / "rank0", root / "rank1"
    rank0.mkdir()
    arguments = ["train", "--config", str(config_file), "--output-dir", "run"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(rank0)
        patch.setenv("OMP_NUM_THREADS", "1")
        assert main([*arguments, "--nproc", "2", "--max-steps", str(PAUSE_AFTER)]) == 0
    paused = {"files": files(rank0 / "run"), "state": torch.load(rank0 / "run" / STATE_DIRNAME / STATE_FILENAME)}
    shutil.copytree(rank0 / "run", rank1 / "run")
    before = snapshot(rank1)

    port = free_port()
    processes = []
    for rank, folder in enumerate((rank0, rank1)):
        environment = os.environ | {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2"}
        environment |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "ticket_classifier.cli", *arguments, "--resume"]
        processes.append(subprocess.Popen(command, cwd=folder, env=environment, stderr=subprocess.PIPE, text=True))
    try:
        for process in processes:
            _, errors = process.communicate(timeout=300)
            assert process.returncode == 0, errors
    finally:
        for process in processes:
            process.kill()
            process.wait()
    return {
        "single": root / "single",
        "distributed": rank0 / "run",
        "paused": paused,
        "rank1": (before, snapshot(rank1)),
        "encoder": encoder,
    }


def metrics_log(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / METRICS_LOG_FILENAME).read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_train_the_model_of_one_process_at_the_same_global_batch(runs):
    single = load_file(str(runs["single"] / "model.safetensors"))
    distributed = load_file(str(runs["distributed"] / "model.safetensors"))
    initial = load_file(str(runs["encoder"] / "model.safetensors"))
    assert single.keys() == distributed.keys()
    compared = [name for name in single if not name.endswith("attention.self.key.bias")]
    assert len(compared) == len(single) - 2
    for name in compared:
        torch.testing.assert_close(distributed[name], single[name], rtol=0, atol=WEIGHT_TOLERANCE, msg=name)
        if name.removeprefix("bert.") in initial:  # training moved it far more than the tolerance
            assert (single[name] - initial[name.removeprefix("bert.")]).abs().max() > 1000 * WEIGHT_TOLERANCE, name
    # The same validation scores, so the same best epoch and early stopping decisions.
    single_history, distributed_history = (
        json.loads((runs[run] / "metrics.json").read_text())["history"] for run in ("single", "distributed")
    )
    assert [e["validation"] for e in distributed_history] == [e["validation"] for e in single_history]
    # The same losses up to rounding: the mean over both processes is the global batch's. (Epoch 1 only: an
    # epoch's train loss is the mean of the steps of the sitting that finished it, and epoch 2 was resumed.)
    assert distributed_history[0]["train_loss"] == pytest.approx(single_history[0]["train_loss"], rel=1e-6)


@pytest.mark.slow
def test_only_the_main_process_writes(runs):
    before, after = runs["rank1"]
    assert after == before, "rank 1 wrote into its output folder"
    assert files(runs["distributed"]) == files(runs["single"])
    assert len(metrics_log(runs["distributed"])) == len(metrics_log(runs["single"]))  # no line twice


@pytest.mark.slow
def test_a_run_paused_under_two_processes_resumes_to_a_complete_checkpoint(runs):
    paused = runs["paused"]
    assert paused["files"] == {
        "train.log",
        METRICS_LOG_FILENAME,
        f"{STATE_DIRNAME}/{STATE_FILENAME}",
        f"{STATE_DIRNAME}/best.safetensors",
    }
    assert paused["state"]["loop"]["global_step"] == PAUSE_AFTER
    names = set(paused["state"]["model"])
    assert not any(name.startswith("module.") for name in names), "the plain model's names, as from one process"
    assert set(load_file(str(runs["single"] / "model.safetensors"))) <= names
    check_checkpoint(runs["distributed"])


def test_the_world_comes_from_torchrun_s_environment():
    assert current_world({}) == World(rank=0, local_rank=0, size=1)
    assert current_world({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"}) == World(3, 1, 4)
    assert not current_world({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"}).is_main
    with pytest.raises(TicketClassifierError, match="RANK must be too"):
        current_world({"WORLD_SIZE": "2"})
    with pytest.raises(TicketClassifierError, match="outside a world of 2"):
        current_world({"RANK": "2", "WORLD_SIZE": "2"})


@pytest.mark.parametrize("batch", [16, 5, 1])
def test_the_shares_of_a_batch_give_the_whole_batch_s_mean_loss_and_gradient(batch):
    generator = torch.Generator().manual_seed(batch)
    logits = torch.randn(batch, 4, generator=generator, requires_grad=True)
    targets = torch.randint(0, 4, (batch,), generator=generator)
    loss_fn = FocalLoss(gamma=2.0, alpha=torch.tensor([0.5, 1.0, 2.0, 0.5]))
    rows = np.arange(batch)
    shares = [World(rank, rank, 2).share(rows) for rank in range(2)]
    assert sorted(np.concatenate([share for share, factor in shares if factor]).tolist()) == rows.tolist()
    # DDP's average over the two processes of each one's mean loss times its factor:
    averaged = sum(loss_fn(logits[share], targets[share]) * factor for share, factor in shares) / 2
    (gradient,) = torch.autograd.grad(averaged, logits)
    (expected,) = torch.autograd.grad(loss_fn(logits, targets), logits)
    torch.testing.assert_close(averaged, loss_fn(logits, targets))
    torch.testing.assert_close(gradient, expected)


def test_the_processes_run_the_same_command_without_nproc():
    parser = build_parser()
    command = ["-v", "train", "--data", "t.csv", "--text-columns", "a,b", "--epochs", "2", "--resume", "--nproc", "2"]
    args = parser.parse_args(command)
    train_parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    worker = _worker_arguments(train_parser, args)
    assert "--nproc" not in worker
    again = vars(parser.parse_args(worker))
    assert {k: v for k, v in again.items() if k not in ("nproc", "handler")} == {
        k: v for k, v in vars(args).items() if k not in ("nproc", "handler")
    }


@pytest.mark.parametrize("value", ["0", "-2"])
def test_nproc_below_one_is_a_clear_error(value, capsys):
    assert main(["train", "--data", "tickets.csv", "--nproc", value]) == 1
    assert f"--nproc must be at least 1, got {value}" in capsys.readouterr().err


def test_a_batch_the_processes_cannot_share_is_refused_before_any_starts(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "tickets.csv", "--nproc", "3"]) == 1  # the default batch is 32
    assert "batch_size 32 is the global batch and must divide evenly among the 3" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv("WORLD_SIZE", "3")  # as torchrun sets it
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(TicketClassifierError, match="must divide evenly among the 3 training processes"):
        train(TrainingConfig(data=DataConfig(path="tickets.csv"), output_dir=str(tmp_path / "run")))
    assert not list(tmp_path.iterdir())
    assert main(["train", "--data", "tickets.csv", "--nproc", "2"]) == 1
    assert "leave it out under torchrun" in capsys.readouterr().err
