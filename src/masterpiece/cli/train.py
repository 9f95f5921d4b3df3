"""``masterpiece train``: train a registered architecture on a folder of colour photographs.

Run it under ``torchrun --nproc-per-node N -m masterpiece.cli train ...`` for data-parallel
training on several GPUs (or CPU processes with gloo) and nodes.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from .main import EXIT_INTERRUPTED, EXIT_OK

_OPTION_HELP = {
    "epochs": "maximum passes over the training images",
    "max_steps": "stop after this many steps; the learning rate is annealed over them (exact resume)",
    "time_budget_minutes": "stop after this many minutes (anneals over that time unless --max-steps)",
    "init_weights": "start a new run from these weights (safetensors; fine-tuning)",
    "batch_size": "images per step and process",
    "crop_size": "side of the square training crops (multiple of 16)",
    "learning_rate": "AdamW peak learning rate",
    "regression_weight": "weight of the auxiliary regression loss (0 disables it)",
    "hint_probability": "fraction of images trained with simulated colour hints",
    "precision": "auto, bf16, fp16 (CUDA) or fp32",
    "device": "auto, cpu or cuda",
    "num_workers": "data-loading worker processes",
    "seed": "random seed",
    "val_limit": "validate on at most this many images",
    "checkpoint_every": "also keep the weights every this many epochs",
    "checkpoint_every_steps": "also save the resumable state every this many steps (0: epoch ends only)",
}


_NONE_DEFAULT_TYPES = {"time_budget_minutes": float, "max_steps": int, "init_weights": str}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model on your own colour photographs",
        description="Train a colorization model (the paper's rebalanced soft-target objective, "
        "with simulated colour hints). Resumes automatically from OUT/last.pt.",
    )
    parser.add_argument("data", nargs="*", help="folders of colour photographs, or files listing image paths")
    parser.add_argument("--config", type=Path, help="a config.json to start from (options below override it)")
    parser.add_argument("--model", help="architecture to train (default: compact)")
    parser.add_argument("--out", dest="out_dir", help="run directory for config, checkpoints and history")
    parser.add_argument("--val", dest="val_data", help="folder of colour photographs validated on after each epoch")
    from ..training.config import TrainConfig  # no torch import: the config is plain data

    for field in fields(TrainConfig):
        if field.name in _OPTION_HELP:
            kind = type(field.default) if field.default is not None else _NONE_DEFAULT_TYPES[field.name]
            parser.add_argument(
                f"--{field.name.replace('_', '-')}", dest=field.name, type=kind,
                help=f"{_OPTION_HELP[field.name]} (default: {field.default})",
            )
    parser.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    """Merge ``--config`` with the command-line options (options win)."""
    from ..training.config import TrainConfig

    config = TrainConfig.load(args.config) if args.config else TrainConfig()
    if args.data:
        config.train_data = [str(path) for path in args.data]
    for field in fields(TrainConfig):
        value = getattr(args, field.name, None)
        if value is not None and field.name != "train_data":
            setattr(config, field.name, value)
    return config.validate()


def run(args: argparse.Namespace) -> int:
    import logging

    from .._optional import require_torch

    require_torch("training")
    from ..training.engine import train

    logging.getLogger("masterpiece").setLevel(logging.INFO)
    config = build_config(args)
    result = train(config)
    if result.stopped_early:
        print(f"stopped at step {result.steps}; run the same command again to resume from {result.out_dir / 'last.pt'}")
        return EXIT_INTERRUPTED
    print(f"trained {result.epochs_completed} epochs ({result.steps} steps); weights: {result.final_weights}")
    if result.best_weights:
        print(f"best validation checkpoint: {result.best_weights} (score {result.best_score:.2f})")
    return EXIT_OK
