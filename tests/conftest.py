"""Shared fixtures: tiny randomly initialised encoders, trained, exported and served for real.

Two architectures are covered everywhere a model is needed: a BERT-style encoder (takes
``token_type_ids``, like the bundled MiniLM) and a DistilBERT-style one (does not).
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
os.chdir(REPO_ROOT)  # commands and configs are given relative to the repository, as in the README
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ARCHITECTURES = ("bert", "distilbert")
# Skips that are expected somewhere the suite runs; with STRICT_SKIPS=1 (CI) any other skip fails the run.
ALLOWED_SKIPS = (
    "real data ",  # ../shared/data is on the development machines, not in a user's clone
    "wandb is installed here",  # the test of its absence
)
_skipped: list[tuple[str, str]] = []


# Fixtures that train a model or start a server: a test using one must be marked slow or integration,
# so that `make test-fast` neither trains nor serves (checked at collection).
HEAVY_FIXTURES = {"tiny_model", "tiny_encoders", "tiny_server", "make_training_config", "serve_command"}


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="record the served predictions as the new golden file (make update-golden)",
    )


def pytest_collection_modifyitems(config, items):
    """Refuse to run a test that trains or serves without the marker that says so."""
    unmarked = [
        item.nodeid
        for item in items
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ()))
        and not ({"slow", "integration"} & {mark.name for mark in item.iter_markers()})
    ]
    if unmarked:
        raise pytest.UsageError("tests that train or serve must be marked slow or integration: " + ", ".join(unmarked))


def pytest_runtest_logreport(report):
    """Remember every skip and its reason."""
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append((report.nodeid, reason.removeprefix("Skipped: ")))


def pytest_sessionfinish(session, exitstatus):
    """With STRICT_SKIPS=1, a skip whose reason is not on ALLOWED_SKIPS fails the run."""
    if os.environ.get("STRICT_SKIPS") != "1":
        return
    unexpected = [(nodeid, reason) for nodeid, reason in _skipped if not reason.startswith(ALLOWED_SKIPS)]
    if unexpected:
        for nodeid, reason in unexpected:
            print(f"\nunexpected skip: {nodeid}: {reason}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


DEBIAN_PACKAGES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "nginx": "nginx-light",
    "wrk": "wrk",
    "kubectl": "kubectl",
}
DEMO_ROWS = 480


@dataclass
class TinyModel:
    """A tiny model taken through the whole build: checkpoint, ONNX, model repository."""

    architecture: str
    checkpoint: Path
    onnx: Path
    repository: Path


def tiny_wordpiece(texts: list[str]):
    """An uncased WordPiece tokenizer of at most 3,000 tokens from ``texts`` (small vocabulary: tiny models
    learn fast): every character seen, then the most frequent words.

    Built by hand rather than by ``WordPieceTrainer``, whose vocabulary differs from run to run (ties at
    the size limit), so that the tiny models, and what the server answers for them, are the same in
    every session (``tests/integration/test_served_predictions.py``).
    """
    from collections import Counter

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = Counter(
        word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    characters = sorted({character for word in words for character in word})
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters, *(f"##{c}" for c in characters)]
    known = set(vocabulary)
    frequent = [word for word, _ in sorted(words.items(), key=lambda item: (-item[1], item[0])) if word not in known]
    vocabulary += frequent[: 3000 - len(vocabulary)]
    tokenizer = Tokenizer(models.WordPiece({token: index for index, token in enumerate(vocabulary)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))],
    )
    return tokenizer


def make_tiny_encoder(architecture: str, directory: Path) -> Path:
    """Save a small random encoder and its tokenizer (vocabulary from other demo tickets) into ``directory``."""
    import torch
    from transformers import (
        BertConfig,
        BertModel,
        BertTokenizerFast,
        DistilBertConfig,
        DistilBertModel,
        DistilBertTokenizerFast,
    )

    from ticket_classifier.training.demo_data import generate_tickets

    backend = tiny_wordpiece([f"{t.subject} {t.description}" for t in generate_tickets(2000, seed=1)])
    torch.manual_seed(0)
    if architecture == "bert":
        tokenizer = BertTokenizerFast(tokenizer_object=backend)
        config = BertConfig(
            vocab_size=backend.get_vocab_size(),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
        model = BertModel(config)
    else:
        tokenizer = DistilBertTokenizerFast(tokenizer_object=backend)
        config = DistilBertConfig(
            vocab_size=backend.get_vocab_size(),
            dim=32,
            n_layers=2,
            n_heads=2,
            hidden_dim=64,
            max_position_embeddings=128,
        )
        model = DistilBertModel(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def require_binary():
    """``require_binary(name)``: the path of a system tool (Debian packages prometheus, nginx-light).

    Skips without it, except where REQUIRE_SYSTEM_TOOLS=1 (CI, which installs them): there it fails.
    """

    def find(name: str) -> str:
        found = shutil.which(name)
        if found is None:
            if os.environ.get("REQUIRE_SYSTEM_TOOLS") == "1":
                pytest.fail(f"{name} is required here (Debian package {DEBIAN_PACKAGES.get(name, name)})")
            pytest.skip(f"{name} not installed (Debian package {DEBIAN_PACKAGES.get(name, name)}); .ci/run installs it")
        return found

    return find


@pytest.fixture(scope="session")
def demo_csv(tmp_path_factory) -> Path:
    """A small demo data file (seeded, so identical in every run)."""
    from ticket_classifier.training.demo_data import write_demo_csv

    return write_demo_csv(tmp_path_factory.mktemp("data") / "tickets.csv", DEMO_ROWS, seed=5)


def tiny_training_config(encoder: Path, data: Path, output_dir: Path):
    """A training config that runs in seconds (also offered as the ``make_training_config`` fixture)."""
    from ticket_classifier.training.config import (
        DataConfig,
        EncoderConfig,
        EvaluationConfig,
        OptimizationConfig,
        TrainingConfig,
    )

    # No TF-IDF baseline: a tiny random encoder is far below it, and the quality gate of
    # build-repository would refuse it (tests/build/test_gates.py exercises the gate itself).
    return TrainingConfig(
        data=DataConfig(path=str(data), timestamp_field="created_at"),
        model=EncoderConfig(encoder=str(encoder), max_length=64),
        optimization=OptimizationConfig(
            epochs=4, batch_size=16, learning_rate=5e-3, loss="cross_entropy", class_weights="none", seed=3
        ),
        evaluation=EvaluationConfig(baseline=False),
        output_dir=str(output_dir),
    )


@pytest.fixture(scope="session")
def make_training_config():
    """The factory of tiny training configs: ``make_training_config(encoder, data, output_dir)``."""
    return tiny_training_config


@pytest.fixture(scope="session")
def tiny_encoders(tmp_path_factory) -> dict:
    """Both tiny encoders, saved once per session: architecture -> folder."""
    root = tmp_path_factory.mktemp("encoders")
    return {architecture: make_tiny_encoder(architecture, root / architecture) for architecture in ARCHITECTURES}


def three_step_options():
    """Repository options of the three-step ensemble (tokenizer, classifier, postprocess), one classifier
    instance: the layout of ``tiny_model``'s repository, which the tests of each step are written for."""
    from ticket_classifier.build.model_configs import THREE_STEP_LAYOUT, RepositoryOptions

    return RepositoryOptions(**THREE_STEP_LAYOUT)


@pytest.fixture(scope="session")
def three_steps():
    """:func:`three_step_options`, for tests that build a repository of that layout themselves."""
    return three_step_options()


@pytest.fixture(scope="session", params=ARCHITECTURES)
def tiny_model(request, tmp_path_factory, demo_csv, tiny_encoders) -> TinyModel:
    """A tiny model trained on the demo data, exported to ONNX and built into a repository."""
    from ticket_classifier.build.layout import onnx_filename
    from ticket_classifier.build.onnx_export import export_variants
    from ticket_classifier.build.repository import build_repository
    from ticket_classifier.training.pipeline import train

    architecture = request.param
    root = tmp_path_factory.mktemp(f"tiny-{architecture}")
    result = train(
        tiny_training_config(tiny_encoders[architecture], demo_csv, root / "checkpoint"), show_progress=False
    )
    export_variants(result.checkpoint_dir, root / "onnx", precisions=("fp32",))
    built = build_repository(result.checkpoint_dir, root / "onnx", root / "model_repository", three_step_options())
    return TinyModel(architecture, result.checkpoint_dir, root / "onnx" / onnx_filename("fp32"), built.path)


@pytest.fixture(scope="session")
def tiny_server(tiny_model):
    """A real tritonserver serving the tiny model's repository on free ports."""
    from ticket_classifier.server import ServerConfig, TritonServer

    config = ServerConfig.on_free_ports()
    with TritonServer(tiny_model.repository, config) as server:
        yield server


@pytest.fixture(scope="session")
def fused_tiny_server(tiny_model, tmp_path_factory):
    """The tiny model built with the default options (on the CPU: the fused step, two instances) into its
    own repository, and served."""
    from ticket_classifier.build.model_configs import RepositoryOptions
    from ticket_classifier.build.repository import build_repository
    from ticket_classifier.server import ServerConfig, TritonServer

    repository = tmp_path_factory.mktemp(f"fused-{tiny_model.architecture}") / "repository"
    options = RepositoryOptions()
    assert options.fused
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository, options)
    with TritonServer(repository, ServerConfig.on_free_ports()) as server:
        yield server


@pytest.fixture(params=["three-steps", "fused"])
def either_layout_server(request, tiny_server, fused_tiny_server):
    """The tiny model served as the three-step ensemble, then as the fused pipeline."""
    return tiny_server if request.param == "three-steps" else fused_tiny_server


def prometheus_total(text: str, metric: str, **labels) -> float:
    """The sum of the samples of ``metric`` whose labels include ``labels``, from a Prometheus text page."""
    values = []
    for line in text.splitlines():
        if line.startswith(metric + "{") and all(f'{key}="{value}"' in line for key, value in labels.items()):
            values.append(float(line.rsplit(" ", 1)[1]))
    return sum(values)


@pytest.fixture(scope="session")
def metric_total():
    """``metric_total(text, metric, **labels)``: the sum of a metric's matching samples on a metrics page."""
    return prometheus_total


def readme_blocks(section: str | None = None) -> list[tuple[str, str]]:
    """``(language, text)`` of every fenced code block of README.md, in order (of one ``## `` section when
    ``section`` names its heading)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    if section is not None:
        start = text.index(section)
        text = text[start : text.index("\n## ", start + len(section))]
    return re.findall(r"```(\w+)\n(.*?)```", text, flags=re.S)


def readme_commands(section: str | None = None) -> list[list[str]]:
    """The ``ticket-classifier`` commands of README.md's bash blocks (of ``section``), in order, continuation
    lines joined, split as a shell would."""
    blocks = [text.replace("\\\n", " ") for language, text in readme_blocks(section) if language == "bash"]
    lines = [line for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("ticket-classifier ")]


@pytest.fixture(scope="session")
def readme():
    """README.md's code: ``readme.blocks(section=None)`` and ``readme.commands(section=None)``."""
    return SimpleNamespace(blocks=readme_blocks, commands=readme_commands)


@dataclass
class ServeProcess:
    """A ``ticket-classifier serve`` subprocess and the ports it was told to use."""

    process: subprocess.Popen
    http_port: int
    health_port: int
    grpc_port: int

    def read_until(self, text: str, stream: str = "stdout", max_lines: int = 200) -> str:
        """Read output lines until one contains ``text`` (log lines may come first); returns that line."""
        source = getattr(self.process, stream)
        seen = []
        for _ in range(max_lines):
            line = source.readline()
            if not line:
                break
            if text in line:
                return line
            seen.append(line)
        raise AssertionError(f"{text!r} never appeared on {stream}; got:\n{''.join(seen)}")


@pytest.fixture
def serve_command(tmp_path):
    """Start ``ticket-classifier serve`` on free ports as a subprocess, in ``tmp_path`` (where it keeps Triton's
    log); killed at teardown if still running."""
    from ticket_classifier.server import free_ports

    started = []

    def start(
        repository: Path, *, stderr=subprocess.STDOUT, extra: tuple = (), env: dict | None = None
    ) -> ServeProcess:
        http, grpc, metrics, health = free_ports(4)
        command = [sys.executable, "-m", "ticket_classifier.cli", "serve", "--model-repository", str(repository)]
        command += ["--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics)]
        command += ["--health-port", str(health), *extra]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=tmp_path)
        started.append(process)
        return ServeProcess(process, http, health, grpc)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
