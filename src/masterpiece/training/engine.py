"""The training loop: data, objective, schedule, checkpoints, validation, torchrun support."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import cv2
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm import tqdm

from ..color.lab import rgb_to_lab_array
from ..models._base import ColorizationModel, ColorPrediction
from ..models._registry import create_model
from ..models.runtime import cpu_supports_bf16
from .checkpoints import export_weights, load_training_state, save_training_state
from .config import TrainConfig
from .data import ColorPhotoDataset, collect_image_paths
from .distributed import DistributedContext, init_distributed, shutdown_distributed
from .hints import simulate_hints
from .losses import ColorizationLoss, class_prior_from_ab
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

    Args:
        config: the run's settings (validated here).
        progress_callback: called on the main process after each epoch with its record.
    """

    def __init__(self, config: TrainConfig, progress_callback: Callable[[dict], None] | None = None) -> None:
        self.config = config.validate()
        self.progress_callback = progress_callback
        self.out_dir = Path(config.out_dir)
        self.context: DistributedContext = init_distributed(config.device)
        torch.manual_seed(config.seed + self.context.rank)
        self.generator = torch.Generator().manual_seed(config.seed + 1000 * self.context.rank)

    def run(self) -> TrainResult:
        try:
            return self._run()
        finally:
            shutdown_distributed(self.context)

    def _run(self) -> TrainResult:
        config, context = self.config, self.context
        paths = collect_image_paths(config.train_data)
        dataset = ColorPhotoDataset(paths, config.crop_size, config.min_scale, config.min_chroma)
        model: ColorizationModel = create_model(config.model, pretrained=False).to(context.device)
        state = self._load_resume_state()
        prior = state["prior"] if state else estimate_prior(dataset, model, config.prior_sigma)
        criterion = ColorizationLoss(
            model.bin_centers.cpu(), prior, config.rebalance_mix, config.target_neighbors,
            config.target_sigma, config.regression_weight,
        ).to(context.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        start_epoch, step, best_score, elapsed_before = 0, 0, None, 0.0
        if state:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_epoch, step = state["epoch"], state["step"]
            best_score, elapsed_before = state.get("best_score"), state.get("elapsed_seconds", 0.0)
            self.generator.set_state(state["generator"])
            logger.info("resumed from epoch %d (step %d)", start_epoch, step)
        if context.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            config.save(self.out_dir / "config.json")
            logger.info("training on %d images (%d skipped)", len(dataset), len(dataset.skipped))
        train_model = DistributedDataParallel(model) if context.enabled else model
        sampler = (
            DistributedSampler(dataset, shuffle=True, seed=config.seed)
            if context.enabled
            else RandomSampler(dataset, generator=torch.Generator().manual_seed(config.seed))
        )
        loader = DataLoader(
            dataset, batch_size=config.batch_size, sampler=sampler, drop_last=len(dataset) >= config.batch_size,
            num_workers=config.num_workers, persistent_workers=config.num_workers > 0,
        )
        started = time.monotonic() - elapsed_before
        epoch = start_epoch
        for epoch in range(start_epoch, config.epochs):
            if context.enabled:
                sampler.set_epoch(epoch)
            if hasattr(sampler, "generator") and sampler.generator is not None:
                sampler.generator.manual_seed(config.seed + epoch)
            record, step = self._train_epoch(train_model, model, criterion, optimizer, loader, epoch, step, started)
            validation = self._validate(model) if context.is_main else None
            if validation is not None:
                record["validation"] = validation.to_dict()
            best_score = self._save(model, optimizer, prior, epoch + 1, step, best_score, validation, time.monotonic() - started)
            if context.is_main:
                self._log_epoch(record)
            context.barrier()
            if self._out_of_time(started):
                logger.info("time budget of %.1f minutes spent after epoch %d", config.time_budget_minutes, epoch + 1)
                epoch += 1
                break
        else:
            epoch = config.epochs
        final = self.out_dir / FINAL_WEIGHTS
        if context.is_main:
            export_weights(final, model)
        best = self.out_dir / BEST_WEIGHTS
        return TrainResult(self.out_dir, epoch, step, best_score, final, best if best.exists() else None)

    def _out_of_time(self, started: float) -> bool:
        budget = self.config.time_budget_minutes
        return budget is not None and time.monotonic() - started >= budget * 60.0

    def _progress(self, epoch_fraction: float, started: float) -> float:
        budget = self.config.time_budget_minutes
        if budget is not None:
            return (time.monotonic() - started) / (budget * 60.0)
        return epoch_fraction / self.config.epochs

    def _train_epoch(self, train_model, model, criterion, optimizer, loader, epoch, step, started):
        config, context = self.config, self.context
        model.train()
        totals: dict[str, float] = {}
        images, epoch_start = 0, time.monotonic()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}", disable=not context.is_main, leave=False, unit="batch")
        for index, lab in enumerate(bar):
            lab = lab.to(context.device, non_blocking=True)
            lightness, true_ab = lab[:, :1], lab[:, 1:]
            hint_ab, hint_mask = simulate_hints(
                true_ab, self.generator, config.hint_probability, config.hint_geometric_p, config.max_hint_patch
            )
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(config, step, self._progress(epoch + index / len(loader), started))
            with autocast_for(config.precision, context.device):
                prediction = model.predict(lightness, hint_ab, hint_mask) if train_model is model else _ddp_predict(
                    train_model, lightness, hint_ab, hint_mask
                )
            losses = criterion(prediction, true_ab)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
            step += 1
            images += len(lab)
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + float(value.detach())
            rate = images * context.world_size / max(1e-9, time.monotonic() - epoch_start)
            bar.set_postfix(loss=f"{losses['loss'].item():.3f}", img_s=f"{rate:.1f}")
        batches = max(1, len(loader))
        record = {name: context.all_reduce_mean(torch.tensor(total / batches)).item() for name, total in totals.items()}
        record.update(
            epoch=epoch + 1, step=step, learning_rate=optimizer.param_groups[0]["lr"],
            images_per_second=images * context.world_size / max(1e-9, time.monotonic() - epoch_start),
            elapsed_minutes=(time.monotonic() - started) / 60.0,
        )
        return record, step

    def _validate(self, model: ColorizationModel) -> ValidationResult | None:
        if not self.config.val_data:
            return None
        return validate(model, self.config.val_data, self.config.val_limit, self.config.val_size)

    def _save(self, model, optimizer, prior, epoch, step, best_score, validation, elapsed):
        if not self.context.is_main:
            return best_score
        state = {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "prior": prior,
            "epoch": epoch, "step": step, "best_score": best_score, "elapsed_seconds": elapsed,
            "generator": self.generator.get_state(), "config": json.loads(self.config.to_json()),
        }
        if validation is not None and (best_score is None or validation.score > best_score):
            best_score = state["best_score"] = validation.score
            export_weights(self.out_dir / BEST_WEIGHTS, model)
        if self.config.checkpoint_every and epoch % self.config.checkpoint_every == 0:
            export_weights(self.out_dir / f"epoch_{epoch:04d}.safetensors", model)
        save_training_state(self.out_dir / LAST_CHECKPOINT, state)
        return best_score

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


def _ddp_predict(train_model: DistributedDataParallel, lightness, hint_ab, hint_mask):
    """DDP only synchronizes gradients through ``forward``; route ``predict`` through it."""
    logits, ab = train_model(lightness, hint_ab, hint_mask, predict_only=True)
    return ColorPrediction(logits=logits, ab=ab)


def train(config: TrainConfig, progress_callback: Callable[[dict], None] | None = None) -> TrainResult:
    """Train (or resume) the run described by ``config``; see :class:`Trainer`."""
    return Trainer(config, progress_callback).run()
