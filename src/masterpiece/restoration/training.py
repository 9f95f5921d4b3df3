"""Training and export of the learned damage detector (needs torch; never imported at inference).

::

    python -m masterpiece.restoration.training train --out /root/runs/restore-detector --minutes 40
    python -m masterpiece.restoration.training bundle --checkpoint /root/runs/restore-detector/last.pt
    python -m masterpiece.restoration.training export      # rebuild the ONNX from the shipped safetensors

The network (:class:`DamageNet`) packs each 4x4 block of the three feature planes
(:mod:`.features`) into 48 channels, mixes them to ``width`` channels (1x1), runs four 3x3
convolutions at 1/4 resolution (dilations 1, 2, 4, 8: a receptive field of 124 pixels) and
unpacks two maps per pixel; a full-resolution head of two 3x3 convolutions (8 channels)
over those maps and the features draws the outline: about 1,850 multiply-adds per pixel at
width 24.

Training crops come from ``train`` and ``train_people`` only (never the validation sets or
``bw``): lightness crops of 128x128 with synthetic damage drawn on the fly
(:data:`TRAINING_DAMAGE`, denser than the measurement's default so that a small crop holds
some), loss binary cross-entropy plus a soft-F1 term. ``bundle`` picks the probability
threshold with the best F1 on held-out training photographs (among those marking at most 0.3 %
of the clean photographs) and writes the safetensors;
``export`` (also run by ``bundle``) rebuilds the ONNX file from the shipped safetensors
(threshold in its metadata) and records both in the bundled folder's manifest.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..atomic import atomic_path
from ..color.lab_np import gray_to_lightness
from ..errors import ConfigError
from ..models.bundled_onnx import BundledOnnxFile, file_sha256
from ._export import export_onnx, fuse_space_to_depth, save_weights
from .damage import DamageConfig, draw_damage
from .features import BLOCK, FEATURE_CHANNELS, FEATURE_ELEMENT, detector_features
from .learned import DETECTOR_NAME, DETECTOR_WEIGHTS, detector_dir

logger = logging.getLogger(__name__)

#: the damage drawn on training crops: the measurement's kinds, about 4x denser per pixel
TRAINING_DAMAGE = DamageConfig(scratches=8.0, hairlines=8.0, creases=2.0, dust=100.0, spots=6.0,
                               torn_probability=0.08, missing=2.0, stains=2.0, torn_size=(0.1, 0.35))
CROP = 128
_STORED_CROP = 176
#: maps per pixel the body hands to the full-resolution head
_COARSE = 2


class DamageNet(nn.Module):
    """(B, 3, H, W) detector features, H and W multiples of 4 -> (B, 1, H, W) damage logits.

    A body at 1/4 resolution (space-to-depth, 1x1 mix, 3x3 convolutions with ``dilations``)
    gives two maps per pixel (depth-to-space); a full-resolution head (two 3x3 convolutions
    over those maps and the features) draws the pixel-exact outline.
    """

    def __init__(self, width: int = 24, dilations: Sequence[int] = (1, 2, 4, 8), head: int = 8) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.PixelUnshuffle(BLOCK), nn.Conv2d(FEATURE_CHANNELS * BLOCK * BLOCK, width, 1),
                                   nn.ReLU(inplace=True)]
        for dilation in dilations:
            layers += [nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(width, _COARSE * BLOCK * BLOCK, 1), nn.PixelShuffle(BLOCK)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(_COARSE + FEATURE_CHANNELS, head, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(head, 1, 3, padding=1))
        self.width, self.dilations, self.head_width = width, tuple(dilations), head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.body(features), features], dim=1))

    @property
    def receptive_radius(self) -> int:
        """Pixels on each side a pixel's logit can depend on: the body's dilated convolutions
        (whole blocks, and up to ``BLOCK - 1`` more for where in its block a pixel lies), the
        head's two 3x3 convolutions, and the top-hat's opening or closing (an erosion, then a
        dilation: twice the structuring element's radius)."""
        return BLOCK * sum(self.dilations) + BLOCK - 1 + 2 + 2 * (FEATURE_ELEMENT // 2)

    @property
    def band_context(self) -> int:
        """Rows of context above and below a band that starts and ends on the block grid for
        its logits to equal the whole image's: the body's blocks, the block the head's two
        pixels can reach into, and the top-hat's reach (72 for the first detector)."""
        return BLOCK * sum(self.dilations) + BLOCK * -(-2 // BLOCK) + 2 * (FEATURE_ELEMENT // 2)


def widen(model: DamageNet, width: int, dilations: Sequence[int]) -> DamageNet:
    """A wider and deeper :class:`DamageNet` that computes exactly what ``model`` does.

    The new channels get small random weights in and zero weights out, so they start silent
    and learn; each added convolution (``dilations`` must begin with ``model``'s) starts as
    the identity on the old channels, which the ReLU after it keeps (its inputs are never
    negative). A continued training thus starts from the smaller network's quality.
    """
    dilations = tuple(dilations)
    old_width, old_dilations = model.width, model.dilations
    if width < old_width or dilations[: len(old_dilations)] != old_dilations:
        raise ValueError(f"cannot widen width {old_width}, dilations {old_dilations} to {width}, {dilations}")
    wider = DamageNet(width, dilations, model.head_width)
    old_convs = [layer for layer in model.body if isinstance(layer, nn.Conv2d)]
    new_convs = [layer for layer in wider.body if isinstance(layer, nn.Conv2d)]
    with torch.no_grad():
        for index, layer in enumerate(new_convs):
            layer.weight.mul_(0.1)  # the new channels' inputs: small random
            layer.bias.zero_()
            if index == 0 or index == len(new_convs) - 1:
                source = old_convs[0 if index == 0 else -1]
            elif index <= len(old_dilations):
                source = old_convs[index]
            else:  # an added layer: the identity on the old channels
                source = None
            if index > 0:
                layer.weight[:, old_width:] = 0  # nothing flows out of the new channels
            outputs = slice(None) if index == len(new_convs) - 1 else slice(0, old_width)
            inputs = slice(None) if index == 0 else slice(0, old_width)
            if source is None:
                layer.weight[outputs, inputs] = 0
                layer.weight[outputs, inputs, 1, 1] = torch.eye(old_width)
            else:
                layer.weight[outputs, inputs] = source.weight
                layer.bias[outputs] = source.bias
        wider.head.load_state_dict(model.head.state_dict())
    return wider


# --------------------------------------------------------------------------- data


def training_photos(data_root: Path) -> list[Path]:
    """The photographs of ``train`` and ``train_people`` under ``data_root``, sorted (never val)."""
    photos = []
    for folder in ("train", "train_people"):
        photos += sorted(path for path in (data_root / folder).glob("*")
                         if path.suffix.lower() in {".jpg", ".jpeg", ".png"})
    return photos


def load_lightness(path: Path, max_side: int | None = None) -> np.ndarray:
    """A photograph converted to gray, as (H, W) float32 CIE L in [0, 100]."""
    with Image.open(path) as image:
        gray = image.convert("L")
        if max_side is not None:
            gray.thumbnail((max_side, max_side))
        return gray_to_lightness(np.asarray(gray, np.float32) / 255).astype(np.float32)


def crop_bank(paths: Sequence[Path], per_photo: int, seed: int) -> np.ndarray:
    """(N, 176, 176) uint8 crops (L x 2.55) from ``paths``, ``per_photo`` each."""
    rng = np.random.default_rng(seed)
    crops = []
    for path in paths:
        lightness = load_lightness(path)
        height, width = lightness.shape
        if min(height, width) < _STORED_CROP:
            continue
        for _ in range(per_photo):
            top, left = rng.integers(0, height - _STORED_CROP + 1), rng.integers(0, width - _STORED_CROP + 1)
            crops.append(np.round(lightness[top:top + _STORED_CROP, left:left + _STORED_CROP] * 2.55).astype(np.uint8))
    return np.stack(crops)


def damaged_sample(crop: np.ndarray, rng: np.random.Generator, config: DamageConfig = TRAINING_DAMAGE
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training sample from a stored crop: (3, 128, 128) features, (128, 128) target, weight."""
    top, left = rng.integers(0, _STORED_CROP - CROP + 1, 2)
    clean = crop[top:top + CROP, left:left + CROP].astype(np.float32) / np.float32(2.55)
    if rng.random() < 0.5:
        clean = clean[:, ::-1]
    if rng.random() < 0.3:  # faded prints: lower contrast
        low, high = rng.uniform(0, 25), rng.uniform(75, 100)
        clean = low + clean * np.float32((high - low) / 100)
    clean = np.ascontiguousarray(clean, np.float32)
    damaged, mask = draw_damage(clean, int(rng.integers(1 << 62)), config)
    ring = np.zeros_like(mask)
    ring[1:-1, 1:-1] = (mask[:-2, 1:-1] | mask[2:, 1:-1] | mask[1:-1, :-2] | mask[1:-1, 2:])[...]
    weight = np.where(ring & ~mask, 0.3, 1.0).astype(np.float32)  # the anti-aliased rims are ambiguous
    return detector_features(damaged), mask.astype(np.float32), weight


#: a crop with grain only (no damage): what a clean photograph teaches
_CLEAN = DamageConfig(kinds=())


class _Samples(torch.utils.data.IterableDataset):
    def __init__(self, bank: np.ndarray, seed: int, batch: int, clean_fraction: float, damage: DamageConfig) -> None:
        self.bank, self.seed, self.batch, self.clean_fraction, self.damage = bank, seed, batch, clean_fraction, damage

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, 0 if info is None else info.id])
        while True:
            picks = rng.integers(0, len(self.bank), self.batch)
            samples = [damaged_sample(self.bank[index], rng,
                                      _CLEAN if rng.random() < self.clean_fraction else self.damage)
                       for index in picks]
            yield tuple(torch.from_numpy(np.stack(part)) for part in zip(*samples))  # type: ignore[misc]


def detector_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted binary cross-entropy (damage weighted 2x) plus 0.5 x (1 - soft F1)."""
    logits = logits[:, 0]
    pixel_weight = weight * (1 + target)
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target, pixel_weight)
    probability = torch.sigmoid(logits)
    true_positive = (probability * target).sum()
    soft_f1 = 2 * true_positive / (probability.sum() + target.sum() + 1.0)
    return bce + 0.5 * (1 - soft_f1)


# --------------------------------------------------------------------------- training


def train(out: Path, data_root: Path, minutes: float, *, width: int | None = None, dilations: Sequence[int] | None = None,
          batch: int = 12, photos: int = 3000, seed: int = 0, threads: int = 2, learning_rate: float = 3e-3,
          init: Path | None = None, clean_fraction: float = 0.0, damage: DamageConfig = TRAINING_DAMAGE,
          warmup_steps: int = 0, device: str = "cpu", workers: int = 1) -> Path:
    """Train :class:`DamageNet` for about ``minutes`` of wall time; returns the last checkpoint.

    The last 64 photographs of ``train`` are held out (threshold choice in :func:`bundle`).
    Checkpoints (``last.pt``, a plain state dict and the settings) go to ``out`` every 200 steps.
    ``init``: start from the weights of a checkpoint or a bundled safetensors file (a
    continuation gets its own seed and schedule), widened (:func:`widen`) when ``width`` or
    ``dilations`` are larger than its own (``None``: the init's, or 24 and 1, 2, 4, 8 from
    scratch); ``clean_fraction``: the share of crops with grain and
    no damage; ``damage``: what is drawn on the other crops; ``warmup_steps``: a linear warm-up
    of the learning rate (AdamW's first steps are about ``learning_rate`` per weight whatever the
    gradient, a jolt to an initialised network; the shipped detector's phases ran without);
    ``device``: where the network trains (``cuda`` on a lent GPU; the damage is drawn on the
    CPU); ``workers``: processes drawing the damage, each with its own seeded stream (the
    drawing, not the network, is what a GPU machine's many cores speed up).
    """
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, not {workers}")
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    paths = [path for path in training_photos(data_root) if path not in set(held_out_photos(data_root))]
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(paths), size=min(photos, len(paths)), replace=False))
    bank = crop_bank([paths[index] for index in chosen], 2, seed)
    logger.info("crop bank: %d crops of %d px from %d photographs", len(bank), _STORED_CROP, len(chosen))
    if init is None:
        model = DamageNet(width or 24, dilations or (1, 2, 4, 8))
    else:
        model = load_initial(init)
        width, dilations = width or model.width, tuple(dilations or model.dilations)
        if (model.width, model.dilations) != (width, dilations):
            logger.info("widening %d channels %s to %d channels %s", model.width, model.dilations, width, dilations)
            model = widen(model, width, dilations)
    model.to(device).train()
    logger.info("damage drawn by %d worker process(es), the network on %s", workers, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    loader = torch.utils.data.DataLoader(_Samples(bank, seed, batch, clean_fraction, damage), batch_size=None,
                                         num_workers=workers, prefetch_factor=4, pin_memory=device != "cpu")
    with open(out / "log.jsonl", "a", encoding="utf-8") as log:
        _loop(model, optimizer, loader, log, out, minutes, learning_rate, damage, warmup_steps)
    return out / "last.pt"


def scheduled_learning_rate(peak: float, progress: float, step: int, warmup_steps: int = 0) -> float:
    """The learning rate at ``progress`` (0-1) of the time budget: a cosine from ``peak`` down to
    5 % of it, times a linear warm-up over the first ``warmup_steps`` steps (``step`` counts from 1)."""
    warmup = min(1.0, step / warmup_steps) if warmup_steps > 0 else 1.0
    return peak * warmup * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def _loop(model: DamageNet, optimizer: torch.optim.Optimizer, loader: torch.utils.data.DataLoader,
          log: TextIO, out: Path, minutes: float, learning_rate: float, damage: DamageConfig,
          warmup_steps: int = 0) -> None:
    deadline = time.monotonic() + minutes * 60
    started, recent = time.monotonic(), []
    device = next(model.parameters()).device
    for step, batch in enumerate(loader, start=1):
        features, target, weight = (part.to(device, non_blocking=True) for part in batch)
        progress = min(1.0, (time.monotonic() - started) / (minutes * 60))
        for group in optimizer.param_groups:
            group["lr"] = scheduled_learning_rate(learning_rate, progress, step, warmup_steps)
        loss = detector_loss(model(features), target, weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        recent.append(float(loss.detach()))
        if step % 50 == 0:
            record = {"step": step, "loss": float(np.mean(recent)), "elapsed_s": round(time.monotonic() - started),
                      "lr": optimizer.param_groups[0]["lr"]}
            log.write(json.dumps(record) + "\n")
            log.flush()
            recent = []
        if step % 200 == 0 or time.monotonic() > deadline:
            _save(out / "last.pt", model, step, damage)
        if time.monotonic() > deadline:
            break


def _save(path: Path, model: DamageNet, step: int, damage: DamageConfig) -> None:
    with atomic_path(path) as temporary:
        torch.save({"state_dict": model.state_dict(), "width": model.width, "dilations": model.dilations,
                    "head": model.head_width, "step": step, "damage": json.dumps(damage.as_dict())}, temporary)


def load_checkpoint(path: Path) -> DamageNet:
    """The network of a :func:`train` checkpoint (loaded with ``weights_only=True``)."""
    content = torch.load(path, map_location="cpu", weights_only=True)
    model = DamageNet(content["width"], content["dilations"], content["head"])
    model.load_state_dict(content["state_dict"])
    return model.eval()


def checkpoint_damage(path: Path) -> str:
    """The training damage of a :func:`train` checkpoint as JSON (older checkpoints: :data:`TRAINING_DAMAGE`)."""
    content = torch.load(path, map_location="cpu", weights_only=True)
    return content.get("damage") or json.dumps(TRAINING_DAMAGE.as_dict())


def load_initial(path: Path) -> DamageNet:
    """The network of a :func:`train` checkpoint (``.pt``) or of a bundled safetensors file."""
    return load_bundled_weights(path)[0] if Path(path).suffix == ".safetensors" else load_checkpoint(path)


def held_out_photos(data_root: Path, count: int = 64) -> list[Path]:
    """The training photographs kept out of training to choose the threshold on."""
    train_only = sorted(path for path in (data_root / "train").glob("*")
                        if path.suffix.lower() in {".jpg", ".jpeg", ".png"})
    return train_only[-count:]


# --------------------------------------------------------------------------- bundling


#: the most pixels of a clean photograph the chosen threshold may mark (the target is at most
#: 0.5 % changed): 0.3 %, a margin for photographs unlike the held-out ones (at 0.4 % the third
#: detector marked 0.38 % of the held-out photographs but changed 0.61 % of `val`'s; MODEL_CARD.md)
CLEAN_MARKED_LIMIT = 0.003


def choose_threshold(model: DamageNet, data_root: Path, seed: int = 1) -> tuple[float, float]:
    """The probability threshold with the best pooled F1 on the held-out photographs with
    :class:`DamageConfig` damage (the measurement's kind) among those that mark at most
    :data:`CLEAN_MARKED_LIMIT` of the clean photographs' pixels; returns (threshold, F1)."""
    damaged_probability, targets, clean_probability = [], [], []
    with torch.no_grad():
        for index, path in enumerate(held_out_photos(data_root)):
            clean = load_lightness(path)
            clean = np.ascontiguousarray(clean[: clean.shape[0] // BLOCK * BLOCK, : clean.shape[1] // BLOCK * BLOCK])
            damaged, mask = draw_damage(clean, seed * 1000 + index)
            for plane, into in ((damaged, damaged_probability), (clean, clean_probability)):
                logits = model(torch.from_numpy(detector_features(plane))[None])[0, 0]
                into.append(torch.sigmoid(logits).numpy().ravel())
            targets.append(mask.ravel())
    probability, target = np.concatenate(damaged_probability), np.concatenate(targets)
    on_clean = np.concatenate(clean_probability)
    candidates = []
    for threshold in np.arange(0.2, 0.96, 0.025):
        predicted = probability > threshold
        f1 = 2 * (predicted & target).sum() / max(1, predicted.sum() + target.sum())
        candidates.append((round(float(threshold), 3), float(f1), float((on_clean > threshold).mean())))
        logger.info("threshold %.3f: F1 %.4f, clean marked %.4f", *candidates[-1])
    allowed = [item for item in candidates if item[2] <= CLEAN_MARKED_LIMIT] or [min(candidates, key=lambda c: c[2])]
    best = max(allowed, key=lambda item: item[1])
    return best[0], best[1]


def bundle(checkpoint: Path, data_root: Path, directory: Path | None = None) -> dict[str, BundledOnnxFile]:
    """Write the bundled detector from a training checkpoint: the safetensors (with the
    threshold chosen on held-out training photographs in its metadata), then the ONNX file and
    manifest entry (:func:`export_bundled_detector`)."""
    model = load_checkpoint(checkpoint)
    directory = detector_dir() if directory is None else Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    threshold, f1 = choose_threshold(model, data_root)
    logger.info("threshold %.3f (held-out F1 %.3f)", threshold, f1)
    settings = {"width": str(model.width), "dilations": json.dumps(list(model.dilations)), "head": str(model.head_width),
                "threshold": str(threshold), "held_out_f1": f"{f1:.4f}", "damage": checkpoint_damage(checkpoint)}
    save_weights(model, directory / DETECTOR_WEIGHTS[0], settings)
    return export_bundled_detector(directory)


def load_bundled_weights(path: Path) -> tuple[DamageNet, dict[str, str]]:
    """The network of a bundled safetensors file and the file's metadata (threshold, layout)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as file:
        metadata = dict(file.metadata() or {})
    model = DamageNet(int(metadata["width"]), json.loads(metadata["dilations"]), int(metadata["head"]))
    model.load_state_dict(load_file(str(path)))
    return model.eval(), metadata


def export_bundled_detector(directory: Path | None = None) -> dict[str, BundledOnnxFile]:
    """Rebuild the detector's ONNX file and manifest entry from the bundled safetensors.

    ``python -m masterpiece.restoration.training export``: the same safetensors and tool
    versions give the same bytes.
    """
    directory = detector_dir() if directory is None else Path(directory)
    weights = directory / DETECTOR_WEIGHTS[0]
    model, settings = load_bundled_weights(weights)
    metadata = {"masterpiece.model": DETECTOR_NAME, "masterpiece.threshold": settings["threshold"],
                "masterpiece.source_sha256": file_sha256(weights),
                "masterpiece.damage": settings.get("damage") or json.dumps(TRAINING_DAMAGE.as_dict()),
                "masterpiece.context_rows": str(model.band_context)}
    model.body = fuse_space_to_depth(model.body)  # loaded only to be exported: the same sums, less ONNX Runtime time
    return export_onnx(model, weights, DETECTOR_NAME, FEATURE_CHANNELS, ("features", "logits"), metadata)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m masterpiece.restoration.training {train,bundle} ...``"""
    parser = argparse.ArgumentParser(prog="python -m masterpiece.restoration.training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True)
    data = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    run = actions.add_parser("train", help="train the detector on synthetic damage")
    run.add_argument("--out", type=Path, required=True, help="checkpoint folder (outside the repository)")
    run.add_argument("--data", type=Path, default=data, help=f"folder with train/ and train_people/ (default {data})")
    run.add_argument("--minutes", type=float, default=40.0)
    run.add_argument("--width", type=int, help="channels of the body (default: --init's, or 24; larger: widened)")
    run.add_argument("--dilations", type=int, nargs="+",
                     help="of the body's 3x3 convolutions (default: --init's, or 1 2 4 8; longer: deepened)")
    run.add_argument("--cracks", type=float, default=TRAINING_DAMAGE.cracks,
                     help="crack networks per 512 x 512 in the training damage")
    run.add_argument("--threads", type=int, default=2)
    run.add_argument("--device", default="cpu", help="where the network trains: cpu or cuda (default cpu)")
    run.add_argument("--workers", type=int, default=1, help="processes drawing the damage (default 1)")
    run.add_argument("--init", type=Path, help="start from the weights of this checkpoint or bundled safetensors")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--learning-rate", type=float, default=3e-3)
    run.add_argument("--clean-fraction", type=float, default=0.0, help="share of crops without damage")
    run.add_argument("--warmup-steps", type=int, default=0, help="linear learning-rate warm-up (useful with --init)")
    pack = actions.add_parser("bundle", help="write the bundled safetensors, ONNX and manifest from a checkpoint")
    pack.add_argument("--checkpoint", type=Path, required=True)
    pack.add_argument("--data", type=Path, default=data)
    pack.add_argument("--out", type=Path, help="folder (default: the package's restoration/bundled)")
    rebuild = actions.add_parser("export", help="rebuild the ONNX file and manifest from the bundled safetensors")
    rebuild.add_argument("--out", type=Path, help="folder holding the safetensors (default: restoration/bundled)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.action == "train":
        print(train(args.out, args.data, args.minutes, width=args.width, dilations=args.dilations, threads=args.threads,
                    init=args.init, seed=args.seed, learning_rate=args.learning_rate,
                    clean_fraction=args.clean_fraction, damage=dataclasses.replace(TRAINING_DAMAGE, cracks=args.cracks),
                    warmup_steps=args.warmup_steps, device=args.device, workers=args.workers))
    else:
        files = bundle(args.checkpoint, args.data, args.out) if args.action == "bundle" else export_bundled_detector(args.out)
        for precision, entry in files.items():
            print(f"{precision}: {entry.filename} ({entry.size / 1e3:.0f} kB, sha256 {entry.sha256})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
