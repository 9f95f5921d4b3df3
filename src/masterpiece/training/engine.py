"""The training loop: data, objective, schedule, checkpoints, validation, torchrun support."""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..color.hint_maps import HintMaps
from ..color.lab import rgb_to_lab_array
from ..models import ColorizationModel, ColorPrediction, create_model
from ..models import load_state_dict as load_weights_file
from ..models.runtime import cpu_supports_bf16
from .checkpoints import export_weights, load_training_state, save_training_state
from .config import TrainConfig
from .data import ColorPhotoDataset, collect_image_paths
from .distributed import DistributedContext, init_distributed, shutdown_distributed
from .hints import simulate_hints
from .losses import ColorizationLoss, class_prior_from_ab
from .sampling import ResumableEpochSampler
from .validation import ValidationResult, validate

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.pt"
BEST_WEIGHTS = "best.safetensors"
FINAL_WEIGHTS = "final.safetensors"


@dataclass
class TrainResult:
    """What a finished run produced."""

    out_dir: Path
    epochs_completed: int
    steps: int
    best_score: float | None
    final_weights: Path
    best_weights: Path | None
    stopped_early: bool = False


def autocast_for(precision: str, device: torch.device):
    """The autocast context for a precision setting (see :class:`TrainConfig`)."""
    if precision == "fp32":
        return nullcontext()
    if device.type == "cuda":
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        if precision == "auto" and not torch.cuda.is_bf16_supported():
            dtype = torch.float16
        return torch.autocast("cuda", dtype=dtype)
    if precision == "auto" and not cpu_supports_bf16():
        return nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)


def learning_rate_at(config: TrainConfig, step: int, progress: float) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 1 % over ``progress`` in [0, 1]."""
    warmup = min(1.0, (step + 1) / max(1, config.warmup_steps))
    cosine = 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return config.learning_rate * warmup * cosine


def estimate_prior(dataset: ColorPhotoDataset, model: ColorizationModel, sigma: float) -> torch.Tensor:
    """The smoothed ab prior of the training images (downscaled for speed)."""
    batches = []
    for rgb in dataset.images:
        small = cv2.resize(rgb, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
        batches.append(torch.from_numpy(rgb_to_lab_array(small)).permute(2, 0, 1)[None, 1:])
    return class_prior_from_ab(batches, model.bin_centers, sigma)


class Trainer:
    """Runs one training job described by a :class:`TrainConfig`.

    A run can be stopped at any step (:meth:`request_stop`, SIGINT or SIGTERM under
    :func:`train`) and resumed exactly from ``OUT/last.pt``: the model, the optimizer, the
    schedule position, the data order inside the epoch (:mod:`.sampling`), each crop and the
    simulated hints continue as if the run had never stopped.

    Args:
        config: the run's settings (validated here).
        progress_callback: called on the main process after each epoch with its record.
        step_callback: called after every optimizer step with ``(trainer, step)``; it may
            call :meth:`request_stop`.
    """

    def __init__(
        self,
        config: TrainConfig,
        progress_callback: Callable[[dict], None] | None = None,
        step_callback: Callable[[Trainer, int], None] | None = None,
    ) -> None:
        self.config = config.validate()
        self.progress_callback = progress_callback
        self.step_callback = step_callback
        self.out_dir = Path(config.out_dir)
        self.context: DistributedContext = init_distributed(config.device)
        torch.manual_seed(config.seed + self.context.rank)
        self.generator = torch.Generator().manual_seed(config.seed + 1000 * self.context.rank)
        self._stop_requested = False
        self.stopped_early = False

    def request_stop(self) -> None:
        """Stop after the current step, saving a checkpoint to resume from."""
        self._stop_requested = True

    def run(self) -> TrainResult:
        try:
            return self._run()
        finally:
            shutdown_distributed(self.context)

    def _run(self) -> TrainResult:
        config, context = self.config, self.context
        paths = collect_image_paths(config.train_data)
        dataset = ColorPhotoDataset(paths, config.crop_size, config.min_scale, config.min_chroma, seed=config.seed)
        model: ColorizationModel = create_model(config.model, pretrained=False).to(context.device)
        state = self._load_resume_state()
        if state is None and config.init_weights:
            model.load_state_dict(load_weights_file(Path(config.init_weights)))
            logger.info("starting from the weights in %s", config.init_weights)
        prior = state["prior"] if state else estimate_prior(dataset, model, config.prior_sigma)
        criterion = ColorizationLoss(
            model.bin_centers.cpu(), prior, config.rebalance_mix, config.target_neighbors,
            config.target_sigma, config.regression_weight,
        ).to(context.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        progress = _EpochProgress()
        self._prior, self._best_score = prior, None
        start_epoch, step, elapsed_before = 0, 0, 0.0
        if state:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_epoch, step = state["epoch"], state["step"]
            self._best_score, elapsed_before = state.get("best_score"), state.get("elapsed_seconds", 0.0)
            self.generator.set_state(state["generator"])
            progress = _EpochProgress.from_state(state.get("epoch_progress"))
            logger.info("resumed at epoch %d, step %d (%d items into the epoch)", start_epoch + 1, step, progress.items)
        if context.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            config.save(self.out_dir / "config.json")
            logger.info("training on %d images (%d skipped)", len(dataset), len(dataset.skipped))
        train_model = DistributedDataParallel(model) if context.enabled else model
        sampler = ResumableEpochSampler(len(dataset), config.seed, context.rank, context.world_size)
        drop_last = sampler.items_per_epoch() >= config.batch_size
        loader = DataLoader(
            dataset, batch_size=config.batch_size, sampler=sampler, drop_last=drop_last,
            num_workers=config.num_workers,
        )
        started = time.monotonic() - elapsed_before
        epoch = start_epoch
        finished = False
        for epoch in range(start_epoch, config.epochs):
            sampler.set_epoch(epoch, progress.items)
            step = self._train_epoch(train_model, model, criterion, optimizer, loader, epoch, step, started, progress)
            if self._stop_requested:
                self._save(model, optimizer, epoch, step, time.monotonic() - started, progress)
                self.stopped_early = True
                logger.info("stopped at step %d; run the same command again to resume", step)
                break
            record = progress.record(context, epoch, step, optimizer, started)
            validation = self._validate(model) if context.is_main else None
            if validation is not None:
                record["validation"] = validation.to_dict()
            progress = _EpochProgress()
            self._save(model, optimizer, epoch + 1, step, time.monotonic() - started, progress, validation)
            if context.is_main:
                self._log_epoch(record)
            context.barrier()
            if self._out_of_steps(step) or self._out_of_time(started):
                logger.info("schedule finished after epoch %d (step %d)", epoch + 1, step)
                epoch += 1
                finished = True
                break
        else:
            epoch = config.epochs
            finished = True
        final = self.out_dir / FINAL_WEIGHTS
        if context.is_main and finished:
            export_weights(final, model)
        best = self.out_dir / BEST_WEIGHTS
        return TrainResult(
            self.out_dir, epoch, step, self._best_score, final, best if best.exists() else None, self.stopped_early
        )

    def _out_of_steps(self, step: int) -> bool:
        return self.config.max_steps is not None and step >= self.config.max_steps

    def _out_of_time(self, started: float) -> bool:
        budget = self.config.time_budget_minutes
        return budget is not None and time.monotonic() - started >= budget * 60.0

    def _schedule_progress(self, step: int, epoch_fraction: float, started: float) -> float:
        """Where the cosine schedule stands, 0..1: by steps, else by wall time, else by epochs."""
        if self.config.max_steps is not None:
            return step / self.config.max_steps
        budget = self.config.time_budget_minutes
        if budget is not None:
            return (time.monotonic() - started) / (budget * 60.0)
        return epoch_fraction / self.config.epochs

    def _train_epoch(self, train_model, model, criterion, optimizer, loader, epoch, step, started, progress):
        config, context = self.config, self.context
        model.train()
        per_epoch = max(1, loader.sampler.items_per_epoch())
        bar = tqdm(loader, desc=f"epoch {epoch + 1}", disable=not context.is_main, leave=False, unit="batch")
        for lab in bar:
            lab = lab.to(context.device, non_blocking=True)
            lightness, true_ab = lab[:, :1], lab[:, 1:]
            hints = simulate_hints(
                true_ab, self.generator, config.hint_probability, config.hint_geometric_p, config.max_hint_patch
            )
            position = self._schedule_progress(step, epoch + progress.items / per_epoch, started)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(config, step, position)
            with autocast_for(config.precision, context.device):
                prediction = model.predict(lightness, *hints) if train_model is model else _ddp_predict(
                    train_model, lightness, hints
                )
            losses = criterion(prediction, true_ab)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
            step += 1
            progress.add(losses, len(lab))
            bar.set_postfix(loss=f"{losses['loss'].item():.3f}", img_s=f"{progress.rate(context.world_size):.1f}")
            if self.step_callback is not None:
                self.step_callback(self, step)
            if self._out_of_steps(step):
                break
            if config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0:
                self._save(model, optimizer, epoch, step, time.monotonic() - started, progress)
            if self._stop_requested:
                break
        return step

    def _validate(self, model: ColorizationModel) -> ValidationResult | None:
        if not self.config.val_data:
            return None
        return validate(model, self.config.val_data, self.config.val_limit, self.config.val_size)

    def _save(self, model, optimizer, epoch, step, elapsed, progress, validation=None):
        """Write ``last.pt``; at an epoch's end also the best and the periodic weights."""
        if not self.context.is_main:
            return
        if validation is not None and (self._best_score is None or validation.score > self._best_score):
            self._best_score = validation.score
            export_weights(self.out_dir / BEST_WEIGHTS, model)
        at_epoch_end = progress.items == 0
        if at_epoch_end and self.config.checkpoint_every and epoch % self.config.checkpoint_every == 0:
            export_weights(self.out_dir / f"epoch_{epoch:04d}.safetensors", model)
        state = {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "prior": self._prior,
            "epoch": epoch, "step": step, "best_score": self._best_score, "elapsed_seconds": elapsed,
            "generator": self.generator.get_state(), "config": json.loads(self.config.to_json()),
            "epoch_progress": progress.to_state(),
        }
        save_training_state(self.out_dir / LAST_CHECKPOINT, state)

    def _load_resume_state(self) -> dict | None:
        path = self.out_dir / LAST_CHECKPOINT
        if not path.exists():
            return None
        state = load_training_state(path)
        saved = state.get("config", {})
        if saved.get("model") != self.config.model:
            from ..errors import ConfigError

            raise ConfigError(
                f"{path} was trained as {saved.get('model')!r}, not {self.config.model!r}; "
                "use another --out directory or the same model"
            )
        return state

    def _log_epoch(self, record: dict) -> None:
        with open(self.out_dir / "history.jsonl", "a", encoding="utf-8") as history:
            history.write(json.dumps(record) + "\n")
        summary = f"epoch {record['epoch']}: loss {record['loss']:.4f}, {record['images_per_second']:.1f} img/s"
        if "validation" in record:
            v = record["validation"]
            summary += f", val AuC {v['auc_raw']:.2f} raw / {v['auc_rebalanced']:.2f} rebalanced"
        logger.info(summary)
        if self.progress_callback:
            self.progress_callback(record)


@dataclass
class _EpochProgress:
    """Running sums of the current epoch (kept in the checkpoint so a resumed epoch reports whole)."""

    items: int = 0
    batches: int = 0
    totals: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    _since: float = field(default_factory=time.monotonic, repr=False)

    def add(self, losses: dict[str, torch.Tensor], items: int) -> None:
        self.items += items
        self.batches += 1
        for name, value in losses.items():
            self.totals[name] = self.totals.get(name, 0.0) + float(value.detach())

    def elapsed(self) -> float:
        return self.seconds + time.monotonic() - self._since

    def rate(self, world_size: int) -> float:
        return self.items * world_size / max(1e-9, self.elapsed())

    def record(self, context: DistributedContext, epoch: int, step: int, optimizer, started: float) -> dict:
        batches = max(1, self.batches)
        record = {
            name: context.all_reduce_mean(torch.tensor(total / batches)).item() for name, total in self.totals.items()
        }
        record.update(
            epoch=epoch + 1, step=step, learning_rate=optimizer.param_groups[0]["lr"],
            images_per_second=self.rate(context.world_size), elapsed_minutes=(time.monotonic() - started) / 60.0,
        )
        return record

    def to_state(self) -> dict:
        return {"items": self.items, "batches": self.batches, "totals": dict(self.totals), "seconds": self.elapsed()}

    @classmethod
    def from_state(cls, state: dict | None) -> _EpochProgress:
        if not state:
            return cls()
        return cls(state["items"], state["batches"], dict(state["totals"]), state["seconds"])


def _ddp_predict(train_model: DistributedDataParallel, lightness: torch.Tensor, hints: HintMaps) -> ColorPrediction:
    """DDP only synchronizes gradients through ``forward``; route ``predict`` through it."""
    logits, ab = train_model(lightness, *hints, predict_only=True)
    return ColorPrediction(logits=logits, ab=ab)


def train(config: TrainConfig, progress_callback: Callable[[dict], None] | None = None) -> TrainResult:
    """Train (or resume) the run described by ``config``; see :class:`Trainer`.

    SIGINT and SIGTERM stop the run after the current step with a checkpoint to resume from
    (on the main thread; elsewhere the signals keep their handlers).
    """
    trainer = Trainer(config, progress_callback)
    with _stop_on_signals(trainer):
        return trainer.run()


@contextmanager
def _stop_on_signals(trainer: Trainer):
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        logger.info("signal %d: stopping after this step", signum)
        trainer.request_stop()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
