"""The training configuration: one dataclass, saved as JSON next to the checkpoints."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import ConfigError


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Attributes:
        model: registered architecture to train (``masterpiece models list``).
        train_data: folders or list files (one path per line) of colour photographs.
        out_dir: where ``config.json``, checkpoints and ``history.jsonl`` go.
        val_data: folder of colour photographs for the per-epoch validation pass, or ``None``.
        epochs: maximum number of passes over the training images.
        max_steps: if set, training stops after this many optimizer steps and the learning
            rate follows the cosine schedule over them: the schedule then depends on nothing
            but the step, so a stopped run resumes exactly (the recommended mode).
        time_budget_minutes: if set, training stops after this wall time; without
            ``max_steps`` the cosine schedule follows that time (not exactly resumable).
        init_weights: weights file (safetensors) to start a new run from (fine-tuning);
            ignored when resuming from ``last.pt``.
        batch_size: images per step (per process under torchrun).
        crop_size: side of the square training crops (pixels, multiple of 16).
        min_scale: images are resized so their short side is ``U(crop_size, short side)``
            times at least ``min_scale`` of the original before cropping.
        learning_rate, weight_decay, warmup_steps: AdamW and its schedule.
        rebalance_mix: the paper's lambda for class rebalancing (1/2).
        prior_sigma, target_sigma, target_neighbors: Gaussian widths (ab units) of the
            prior smoothing and of the soft encoding, and how many bins share a target.
        regression_weight: weight of the auxiliary smooth-L1 loss on the regression head.
        hint_probability: fraction of training images that get simulated hints (the others
            train the automatic mode).
        hint_geometric_p: the number of hints of a hinted image is geometric with this p.
        max_hint_patch: hint patches are squares of side 1..max_hint_patch pixels.
        min_chroma: images whose mean chroma is below this (ab units) are skipped as gray.
        precision: ``auto`` (bfloat16 autocast on CPUs that support it, mixed precision on
            CUDA), ``bf16``, ``fp16`` (CUDA only) or ``fp32``.
        device: ``auto``, ``cpu`` or ``cuda``.
        num_workers: DataLoader worker processes.
        seed: seed of every random choice.
        val_limit: validate on at most this many images.
        val_size: long side of validation images (pixels).
        checkpoint_every: also keep ``epoch_NNNN.safetensors`` every this many epochs.
        checkpoint_every_steps: also write ``last.pt`` every this many steps inside an epoch
            (0: only at epoch ends and when stopped).
    """

    model: str = "compact"
    train_data: list[str] = field(default_factory=list)
    out_dir: str = "runs/compact"
    val_data: str | None = None
    epochs: int = 100
    max_steps: int | None = None
    time_budget_minutes: float | None = None
    init_weights: str | None = None
    batch_size: int = 24
    crop_size: int = 176
    min_scale: float = 0.6
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    rebalance_mix: float = 0.5
    prior_sigma: float = 5.0
    target_sigma: float = 5.0
    target_neighbors: int = 5
    regression_weight: float = 10.0
    hint_probability: float = 0.5
    hint_geometric_p: float = 0.125
    max_hint_patch: int = 9
    min_chroma: float = 4.0
    precision: str = "auto"
    device: str = "auto"
    num_workers: int = 0
    seed: int = 0
    val_limit: int = 90
    val_size: int = 256
    checkpoint_every: int = 5
    checkpoint_every_steps: int = 500

    def validate(self) -> TrainConfig:
        """Check ranges; raises :class:`ConfigError` naming the setting and what is allowed."""
        if not self.train_data:
            raise ConfigError("no training data given: pass one or more folders of colour photographs")
        checks = {
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "crop_size": self.crop_size >= 32 and self.crop_size % 16 == 0,
            "min_scale": 0.0 < self.min_scale <= 1.0,
            "learning_rate": self.learning_rate > 0,
            "rebalance_mix": 0.0 <= self.rebalance_mix <= 1.0,
            "hint_probability": 0.0 <= self.hint_probability <= 1.0,
            "hint_geometric_p": 0.0 < self.hint_geometric_p <= 1.0,
            "max_hint_patch": self.max_hint_patch >= 1,
            "precision": self.precision in {"auto", "bf16", "fp16", "fp32"},
            "device": self.device in {"auto", "cpu", "cuda"},
            "time_budget_minutes": self.time_budget_minutes is None or self.time_budget_minutes > 0,
            "max_steps": self.max_steps is None or self.max_steps >= 1,
            "checkpoint_every_steps": self.checkpoint_every_steps >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise ConfigError(f"invalid training settings: {values} (see `masterpiece train --help`)")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def save(self, path: Path) -> None:
        path.write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """Read a config file; unknown keys are an error (a typo must not pass silently)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ConfigError(f"cannot read training config {path}: {error}") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown settings in {path}: {', '.join(unknown)}")
        return cls(**data)
