"""Training the colorization networks (PyTorch; the ``torch`` extra).

``config`` (:class:`TrainConfig`, saved as JSON beside the checkpoints; no torch), ``data``
(colour photographs, random crops, gray ones skipped), ``losses`` (the paper's rebalanced
cross-entropy), ``hints`` (simulated user hints), ``engine`` (the loop: :func:`train`,
:class:`Trainer`, ``torchrun`` support), ``checkpoints`` (resumable state, exported
safetensors), ``validation`` (the per-epoch pass), ``sampling`` (a data order that resumes
mid-epoch), ``distributed`` (process groups), ``pack`` (the photographs packed small for a machine that
can take little data: ``python -m masterpiece.training.pack``).

::

    from masterpiece.training import TrainConfig, train

    result = train(TrainConfig(model="compact", train_data=["photos/"], out_dir="runs/compact"))

The names below are imported lazily, so that ``masterpiece.training.config`` does not load
torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_LAZY = {
    "export_weights": "checkpoints",
    "load_training_state": "checkpoints",
    "save_training_state": "checkpoints",
    "TrainConfig": "config",
    "ColorPhotoDataset": "data",
    "collect_image_paths": "data",
    "BEST_WEIGHTS": "engine",
    "FINAL_WEIGHTS": "engine",
    "LAST_CHECKPOINT": "engine",
    "TrainResult": "engine",
    "Trainer": "engine",
    "train": "engine",
    "simulate_hints": "hints",
    "ColorizationLoss": "losses",
    "class_prior_from_ab": "losses",
    "ValidationResult": "validation",
    "validate": "validation",
}

__all__ = [
    "BEST_WEIGHTS",
    "FINAL_WEIGHTS",
    "LAST_CHECKPOINT",
    "ColorPhotoDataset",
    "ColorizationLoss",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "ValidationResult",
    "class_prior_from_ab",
    "collect_image_paths",
    "export_weights",
    "load_training_state",
    "save_training_state",
    "simulate_hints",
    "train",
    "validate",
]

if TYPE_CHECKING:
    from .checkpoints import export_weights, load_training_state, save_training_state
    from .config import TrainConfig
    from .data import ColorPhotoDataset, collect_image_paths
    from .engine import BEST_WEIGHTS, FINAL_WEIGHTS, LAST_CHECKPOINT, Trainer, TrainResult, train
    from .hints import simulate_hints
    from .losses import ColorizationLoss, class_prior_from_ab
    from .validation import ValidationResult, validate

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
