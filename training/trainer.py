"""The fine-tuning loop.

AdamW with linear warm-up and decay, gradient clipping, mixed precision on a GPU, dynamic
padding over length-grouped batches, early stopping on validation macro-F1 and resumable
state. The best weights by validation macro-F1 are kept on disk, so an interrupted run
resumes (``resume=True``) without losing them. Every ``log_every_steps`` steps and every
epoch a line goes to ``metrics.jsonl``.

Under torchrun (several processes, see ``training/distributed.py``) the model is wrapped in
DistributedDataParallel and each process trains on its share of every global batch. The main
process alone validates (and sends the result to the others, so that every process takes the same
early-stopping decision), writes the log, the best weights and the state, and shows progress; every
process reads the state on resume.
"""

import json
import logging
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.tokenization import TicketTokenizer
from ticket_classifier.training.checkpoint import PAUSED_STATE_DIRNAME
from ticket_classifier.training.config import TrainingConfig
from ticket_classifier.training.data import DatasetSplits
from ticket_classifier.training.distributed import SINGLE_PROCESS, World, from_main_process, mean_over_processes
from ticket_classifier.training.encoder import default_learning_rate
from ticket_classifier.training.inference import predict_logits
from ticket_classifier.training.losses import supervised_contrastive_loss
from ticket_classifier.training.metrics import summary_from_logits
from ticket_classifier.training.novelty import head_layer

log = logging.getLogger(__name__)

STATE_DIRNAME = PAUSED_STATE_DIRNAME
STATE_FILENAME = "state.pt"
BEST_WEIGHTS_FILENAME = "best.safetensors"
METRICS_LOG_FILENAME = "metrics.jsonl"
BATCHES_PER_LENGTH_GROUP = 50


@dataclass
class LoopState:
    """Where the loop is: enough to resume it exactly."""

    epoch: int = 1
    step_in_epoch: int = 0
    global_step: int = 0
    best_f1: float = -1.0
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    paused: bool = False


def set_seed(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int) -> list[np.ndarray]:
    """Shuffled batches of similar-length texts (less padding), the same for the same seed."""
    generator = np.random.default_rng(seed)
    order = generator.permutation(len(lengths))
    group = batch_size * BATCHES_PER_LENGTH_GROUP
    batches = []
    for start in range(0, len(order), group):
        chunk = order[start : start + group]
        chunk = chunk[np.argsort([lengths[i] for i in chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in generator.permutation(len(batches))]


class Trainer:
    """Fits a sequence classifier on :class:`DatasetSplits`; see the module docstring."""

    def __init__(
        self,
        model,
        tokenizer: TicketTokenizer,
        splits: DatasetSplits,
        loss_fn,
        config: TrainingConfig,
        world: World = SINGLE_PROCESS,
        teacher_logits: np.ndarray | None = None,
    ):
        self.config = config
        self.teacher_logits = teacher_logits  # distillation: the loss also takes the teacher's logits of each row
        self.optimization = config.optimization
        self.world = world
        self.device = world.device()
        self.model = model.to(self.device)  # the plain module: its state_dict is the same with any number of processes
        self.network = self.model  # what the training steps call: the model wrapped in DDP during fit() with processes
        self.tokenizer = tokenizer
        self.splits = splits
        self.loss_fn = loss_fn.to(self.device)
        self._head_inputs: list[torch.Tensor] = []  # the head's input of the training step, when the loss needs it
        if self.optimization.contrastive_weight > 0:
            head_layer(self.model).register_forward_hook(self._keep_head_input)
        self.label_index = {label: index for index, label in enumerate(splits.labels)}
        self.train_targets = np.array([self.label_index[label] for label in splits.train.labels])
        self.validation_targets = [self.label_index[label] for label in splits.validation.labels]
        self.train_lengths = [len(text) for text in splits.train.texts]
        self.steps_per_epoch = int(np.ceil(len(splits.train) / self.optimization.batch_size))
        self.optimizer = torch.optim.AdamW(
            parameter_groups(self.model, self.optimization, config.model.encoder),
            weight_decay=self.optimization.weight_decay,
        )
        self.scheduler = _linear_schedule(
            self.optimizer, self.steps_per_epoch * self.optimization.epochs, self.optimization.warmup_ratio
        )
        use_amp = self.optimization.mixed_precision and self.device.type == "cuda"
        self.autocast_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
        self.use_amp = use_amp
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_amp and self.autocast_dtype == torch.float16)
        self.output_dir = Path(config.output_dir)
        self.state_dir = self.output_dir / STATE_DIRNAME
        self.state = LoopState()
        self.wandb_run = None
        self._pause_at: int | None = None

    def fit(self, *, resume: bool = False, max_steps: int | None = None, show_progress: bool = True) -> LoopState:
        """Train until the last epoch or early stopping; leave the best weights loaded (in the main process).

        With ``max_steps``, stop after that many steps in this sitting, save the state and
        return with ``state.paused`` set: a later ``fit(resume=True)`` continues exactly there.
        """
        if self.world.size > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.network = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        try:
            return self._fit(resume, max_steps, show_progress)
        finally:
            self.network = self.model  # DDP lets go of the process group before it is destroyed (distributed.py)

    def _fit(self, resume: bool, max_steps: int | None, show_progress: bool) -> LoopState:
        """The loop of :meth:`fit`."""
        if resume:
            self._load_state()
        elif self.world.is_main:
            self._start_fresh()
        self.state.paused = False
        self._pause_at = None if max_steps is None else self.state.global_step + max_steps
        while self.state.epoch <= self.optimization.epochs and not self.state.stopped_early:
            self._run_epoch(show_progress)
            if self.state.paused:
                log.info("paused after step %d; continue with resume", self.state.global_step)
                return self.state
        if self.world.is_main:
            self.model.load_state_dict(load_file(str(self.state_dir / BEST_WEIGHTS_FILENAME)))
        self.model.eval()
        return self.state

    def _start_fresh(self) -> None:
        """A new run: clear the previous run's state and log."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for stale in (self.state_dir / STATE_FILENAME, self.state_dir / BEST_WEIGHTS_FILENAME):
            stale.unlink(missing_ok=True)
        (self.output_dir / METRICS_LOG_FILENAME).write_text("")

    def _run_epoch(self, show_progress: bool) -> None:
        """One epoch (or its remainder after a resume), then validation and early stopping."""
        state, optimization = self.state, self.optimization
        batches = length_grouped_batches(self.train_lengths, optimization.batch_size, optimization.seed + state.epoch)
        self.model.train()
        bar = tqdm(
            total=len(batches),
            initial=state.step_in_epoch,
            desc=f"epoch {state.epoch}/{optimization.epochs}",
            disable=not show_progress or not self.world.is_main,
            dynamic_ncols=True,
        )
        recent = []
        for rows in batches[state.step_in_epoch :]:
            recent.append(self._train_step(rows))
            state.step_in_epoch += 1
            state.global_step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(recent[-20:]):.4f}", best_f1=f"{max(state.best_f1, 0):.4f}")
            if state.global_step % optimization.log_every_steps == 0:
                self._log_line(
                    {
                        "event": "step",
                        "epoch": state.epoch,
                        "step": state.global_step,
                        "loss": float(np.mean(recent[-optimization.log_every_steps :])),
                        "learning_rate": self.scheduler.get_last_lr()[0],
                    }
                )
            if optimization.save_every_steps and state.global_step % optimization.save_every_steps == 0:
                self._save_state()
            if state.global_step == self._pause_at:
                state.paused = True
                self._save_state()
                bar.close()
                return
        bar.close()
        self._end_epoch(float(np.mean(recent)) if recent else float("nan"))

    def _train_step(self, rows: np.ndarray) -> float:
        """Forward, backward, clip and step on one global batch (this process's share of it); returns its loss."""
        rows, factor = self.world.share(rows)
        texts = [self.splits.train.texts[i] for i in rows]
        inputs = {name: torch.from_numpy(array).to(self.device) for name, array in self.tokenizer.encode(texts).items()}
        targets = torch.from_numpy(self.train_targets[rows]).to(self.device)
        teacher = () if self.teacher_logits is None else (torch.from_numpy(self.teacher_logits[rows]).to(self.device),)
        self._head_inputs.clear()
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.use_amp):
            loss = self.loss_fn(self.network(**inputs).logits, targets, *teacher)
            if self._head_inputs:
                loss = loss + self.optimization.contrastive_weight * supervised_contrastive_loss(
                    self._head_inputs[-1], targets, self.optimization.contrastive_temperature
                )
            loss = loss * factor
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.optimization.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return mean_over_processes(loss, self.world)

    def _keep_head_input(self, module, inputs, output) -> None:
        """Forward hook on the classification head: keeps its input while training (validation passes
        through the same head in eval mode and is not kept)."""
        if module.training:
            self._head_inputs.append(inputs[0])

    def _end_epoch(self, train_loss: float) -> None:
        """Validate (the main process), keep the best weights, decide on early stopping, save the state."""
        state = self.state
        validation = None
        if self.world.is_main:
            logits = predict_logits(self.model, self.tokenizer, self.splits.validation.texts)
            validation = summary_from_logits(logits, self.validation_targets)
        validation = from_main_process(validation, self.world)
        entry = {"event": "epoch", "epoch": state.epoch, "train_loss": train_loss, "validation": validation}
        state.history.append(entry)
        self._log_line(entry)
        improved = validation["macro_f1"] > state.best_f1
        if improved:
            state.best_f1, state.best_epoch, state.epochs_without_improvement = validation["macro_f1"], state.epoch, 0
            if self.world.is_main:
                weights = {name: tensor.detach().cpu().contiguous() for name, tensor in self.model.state_dict().items()}
                save_file(weights, str(self.state_dir / BEST_WEIGHTS_FILENAME))
        else:
            state.epochs_without_improvement += 1
        log.info(
            "epoch %d: train loss %.4f, validation accuracy %.4f, macro-F1 %.4f%s",
            state.epoch,
            train_loss,
            validation["accuracy"],
            validation["macro_f1"],
            " (best)" if improved else "",
        )
        if state.epochs_without_improvement >= self.optimization.early_stopping_patience:
            state.stopped_early = True
            log.info("early stopping: no better validation macro-F1 for %d epochs", state.epochs_without_improvement)
        state.epoch += 1
        state.step_in_epoch = 0
        self.model.train()
        self._save_state()

    def _log_line(self, entry: dict) -> None:
        """Append one JSON line to the metrics log (and to Weights & Biases when enabled); main process only."""
        if not self.world.is_main:
            return
        with (self.output_dir / METRICS_LOG_FILENAME).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        if self.wandb_run is not None:
            flat = {key: value for key, value in entry.items() if isinstance(value, (int, float))}
            flat.update({f"validation/{k}": v for k, v in entry.get("validation", {}).items()})
            self.wandb_run.log(flat, step=self.state.global_step)

    def _save_state(self) -> None:
        """Write everything needed to resume (the main process; every process holds the same state)."""
        if not self.world.is_main:
            return
        torch.save(
            {
                "loop": asdict(self.state),
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "config": asdict(self.config),
            },
            self.state_dir / STATE_FILENAME,
        )

    def _load_state(self) -> None:
        """Continue from the saved state; the configuration must match (epochs may grow)."""
        path = self.state_dir / STATE_FILENAME
        if not path.is_file():
            raise TicketClassifierError(f"nothing to resume: {path} does not exist")
        saved = torch.load(path, map_location=self.device, weights_only=False)
        differences = _config_differences(saved["config"], asdict(self.config))
        if differences:
            raise TicketClassifierError(
                f"cannot resume {self.output_dir}: the config changed ({', '.join(differences)})"
            )
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["torch_rng"])
        self.state = LoopState(**saved["loop"])
        log.info("resuming %s at epoch %d, step %d", self.output_dir, self.state.epoch, self.state.step_in_epoch)


def _config_differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, ignoring ``optimization.epochs``."""
    differences = []
    for key in sorted(set(saved) | set(current)):
        name = f"{prefix}{key}"
        if name == "optimization.epochs":
            continue
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict) and not name.endswith("class_weights"):
            differences += _config_differences(old, new, f"{name}.")
        elif old != new:
            differences.append(name)
    return differences


def parameter_groups(model, optimization, encoder: str) -> list[dict]:
    """The trainable parameters in two groups: the classification head at ``head_learning_rate``, the rest
    (the pretrained encoder) at ``learning_rate`` (or the encoder's default)."""
    learning_rate = optimization.learning_rate or default_learning_rate(encoder)
    log.info("learning rates: encoder %.3g, classification head %.3g", learning_rate, optimization.head_learning_rate)
    head = {id(parameter) for parameter in head_layer(model).parameters()}
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    return [
        {"params": [p for p in trainable if id(p) not in head], "lr": learning_rate},
        {"params": [p for p in trainable if id(p) in head], "lr": optimization.head_learning_rate},
    ]


def _linear_schedule(optimizer, total_steps: int, warmup_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the base rate, then linear decay to zero."""
    warmup = max(1, int(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
