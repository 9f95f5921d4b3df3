"""Training and export of the learned filler (needs torch; never imported at inference).

::

    python -m masterpiece.restoration.filler_training train --out /root/runs/restore-filler --minutes 80
    python -m masterpiece.restoration.filler_training bundle --checkpoint /root/runs/restore-filler/last.pt
    python -m masterpiece.restoration.filler_training export     # rebuild the ONNX from the shipped safetensors

The filler (:class:`FillNet`) corrects OpenCV's Navier-Stokes inpainting inside the damage
mask. It sees three planes at full resolution (:func:`.learned_fill.filler_planes`): the
damaged lightness ``D``, its inpainting ``I`` and the mask ``M``, packs each 4x4 block into
channels, runs a 1x1 mix and four dilated 3x3 convolutions at 1/4 resolution (a reach of
about 60 pixels, enough to compare a stain's inside with its surroundings), and unpacks three
coefficient maps ``u, v, r`` per pixel. Inside the mask the result is

    I + u (D - I) + v (D - 50) + 25 r,   clipped to [0, 100];

outside it is ``D`` bit for bit. The form lets a small network do what a water stain or a
half-transparent scratch needs (keep the picture that survives under it, ``u = 1``, and undo
its darkening, a gain ``1 + v``) as well as what a tear needs (the inpainting, ``u = v = 0``,
plus a correction ``r``). The last layer starts at zero, so training starts from the
inpainting itself.

Training crops come from ``train`` and ``train_people`` only (never the validation sets or
``bw``), as for the detector (:mod:`.training`): 128x128 lightness crops with the detector's
training damage drawn afresh, the drawn mask then perturbed as a detector's would be (grown
by a pixel or two, some regions left out, a few false marks on clean pixels), the loss the
mean squared error of the masked pixels against the clean crop.
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

import cv2
import numpy as np
import torch
from torch import nn

from ..atomic import atomic_path
from ..models.bundled_onnx import BundledOnnxFile, file_sha256
from ._export import export_onnx, fuse_space_to_depth, save_weights
from ._onnx import detector_dir
from .damage import DamageConfig, draw_damage
from .features import BLOCK
from .fill import FILL_METHODS
from .learned_fill import FILLER_NAME, FILLER_PLANES, FILLER_WEIGHTS, INPAINT_RADIUS, filler_planes
from .training import (
    CROP,
    TRAINING_DAMAGE,
    crop_bank,
    held_out_photos,
    load_lightness,
    scheduled_learning_rate,
    training_photos,
)

logger = logging.getLogger(__name__)

#: the damage drawn on the filler's training crops: the detector's, with crack networks
FILLER_DAMAGE = dataclasses.replace(TRAINING_DAMAGE, cracks=1.0)
#: coefficient maps per pixel: u, v, r
_COEFFICIENTS = 3


class FillNet(nn.Module):
    """(B, 3, H, W) filler planes, H and W multiples of 4 -> (B, 1, H, W) filled L in [0, 100].

    The planes are ``(D - 50) / 50``, ``(I - 50) / 50`` and ``M`` (:func:`.learned_fill.filler_planes`);
    outside the mask the output is ``D`` (rebuilt from its plane, so within float rounding:
    :class:`.learned_fill.LearnedFiller` copies the input's own pixels back there), inside it
    ``I + u (D - I) + v (D - 50) + 25 r``.

    ``smoothing``: the side (odd, 1 for none) of a fixed binomial filter over the coefficient
    maps (edges replicated) before they are applied. The maps come out of depth-to-space, one
    4 x 4 block at a time; unsmoothed, their block-to-block steps show as a 4-pixel checkerboard
    in wide filled regions.
    """

    def __init__(self, width: int = 16, dilations: Sequence[int] = (1, 2, 4, 8), smoothing: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.PixelUnshuffle(BLOCK), nn.Conv2d(FILLER_PLANES * BLOCK * BLOCK, width, 1),
                                   nn.ReLU(inplace=True)]
        for dilation in dilations:
            layers += [nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
        last = nn.Conv2d(width, _COEFFICIENTS * BLOCK * BLOCK, 1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        layers += [last, nn.PixelShuffle(BLOCK)]
        self.body = nn.Sequential(*layers)
        self.width, self.dilations, self.smoothing = width, tuple(dilations), smoothing
        if smoothing < 1 or smoothing % 2 == 0:
            raise ValueError(f"smoothing must be an odd side of at least 1, not {smoothing}")
        taps = torch.tensor([math.comb(smoothing - 1, k) for k in range(smoothing)], dtype=torch.float32)
        kernel = torch.outer(taps, taps) / taps.sum() ** 2
        self.register_buffer("_kernel", kernel.expand(_COEFFICIENTS, 1, smoothing, smoothing).clone(), persistent=False)

    def forward(self, planes: torch.Tensor) -> torch.Tensor:
        coefficients = self.body(planes)  # what the ONNX export computes (the body alone)
        if self.smoothing > 1:
            half = self.smoothing // 2
            coefficients = nn.functional.conv2d(nn.functional.pad(coefficients, (half,) * 4, mode="replicate"),
                                                self._kernel, groups=_COEFFICIENTS)
        damaged = planes[:, 0:1] * 50 + 50
        inpainted = planes[:, 1:2] * 50 + 50
        mask = planes[:, 2:3]
        u, v, r = coefficients[:, 0:1], coefficients[:, 1:2], coefficients[:, 2:3]
        filled = torch.clamp(inpainted + u * (damaged - inpainted) + v * (damaged - 50) + 25 * r, 0, 100)
        return damaged + mask * (filled - damaged)

    @property
    def band_context(self) -> int:
        """Rows of context above and below a band (on the block grid) for its output to equal the
        whole image's, given the same inpainting: the body's blocks and the smoothing's reach,
        rounded up to whole blocks."""
        return BLOCK * sum(self.dilations) + BLOCK * -(-(self.smoothing // 2) // BLOCK)


# --------------------------------------------------------------------------- data


def detector_like_mask(drawn: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The drawn mask perturbed as a detector's would be: (H, W) bool -> (H, W) bool.

    Grown by one pixel (40 % of crops) or two (10 %), a fifth of its regions left out (their
    damage stays in the picture as context), and up to three false marks (ellipses with
    semi-axes of 1-5 px) on the crop in half of them.
    """
    mask = drawn.astype(np.uint8)
    roll = rng.random()
    if roll < 0.5:
        size = 3 if roll < 0.4 else 5
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    count, labels = cv2.connectedComponents(mask, connectivity=8)
    if count > 2:
        dropped = np.flatnonzero(rng.random(count) < 0.2)
        dropped = dropped[dropped > 0]
        if dropped.size:
            mask[np.isin(labels, dropped)] = 0
    if rng.random() < 0.5:
        height, width = mask.shape
        for _ in range(int(rng.integers(1, 4))):
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            axes = (int(rng.uniform(1.5, 6)), int(rng.uniform(1.5, 6)))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return mask.astype(bool)


def filler_sample(crop: np.ndarray, rng: np.random.Generator, config: DamageConfig = FILLER_DAMAGE
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training sample from a stored (176, 176) uint8 crop: (3, 128, 128) planes, (128, 128)
    clean L, (128, 128) float32 mask (where the loss counts)."""
    top, left = rng.integers(0, crop.shape[0] - CROP + 1, 2)
    clean = crop[top:top + CROP, left:left + CROP].astype(np.float32) / np.float32(2.55)
    if rng.random() < 0.5:
        clean = clean[:, ::-1]
    if rng.random() < 0.3:  # faded prints: lower contrast
        low, high = rng.uniform(0, 25), rng.uniform(75, 100)
        clean = low + clean * np.float32((high - low) / 100)
    clean = np.ascontiguousarray(clean, np.float32)
    damaged, drawn = draw_damage(clean, int(rng.integers(1 << 62)), config)
    mask = detector_like_mask(drawn, rng)
    inpainted = np.clip(cv2.inpaint(damaged, mask.view(np.uint8), INPAINT_RADIUS, FILL_METHODS["ns"]), 0, 100)
    return filler_planes(damaged, inpainted, mask), clean, mask.astype(np.float32)


class _Samples(torch.utils.data.IterableDataset):
    def __init__(self, bank: np.ndarray, seed: int, batch: int, config: DamageConfig) -> None:
        self.bank, self.seed, self.batch, self.config = bank, seed, batch, config

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, 0 if info is None else info.id])
        while True:
            picks = rng.integers(0, len(self.bank), self.batch)
            samples = [filler_sample(self.bank[index], rng, self.config) for index in picks]
            yield tuple(torch.from_numpy(np.stack(part)) for part in zip(*samples))  # type: ignore[misc]


def filler_loss(filled: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the masked pixels, in units of 10 L (the PSNR's measure)."""
    squared = ((filled[:, 0] - clean) / 10) ** 2
    return (squared * mask).sum() / mask.sum().clamp(min=1.0)


# --------------------------------------------------------------------------- training


def train(out: Path, data_root: Path, minutes: float, *, width: int = 16, dilations: Sequence[int] = (1, 2, 4, 8),
          batch: int = 16, photos: int = 3000, seed: int = 0, threads: int = 2, learning_rate: float = 3e-3,
          init: Path | None = None, config: DamageConfig = FILLER_DAMAGE) -> Path:
    """Train :class:`FillNet` for about ``minutes`` of wall time; returns the last checkpoint.

    The last 64 photographs of ``train`` are held out (measured by :func:`held_out_psnr`), as for
    the detector. Checkpoints (``last.pt``) go to ``out`` every 200 steps; ``init`` continues from
    a checkpoint's weights (and its layout: ``width`` and ``dilations`` are then not used) with
    its own seed and schedule.
    """
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    held_out = set(held_out_photos(data_root))
    paths = [path for path in training_photos(data_root) if path not in held_out]
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(paths), size=min(photos, len(paths)), replace=False))
    bank = crop_bank([paths[index] for index in chosen], 2, seed)
    logger.info("crop bank: %d crops of %d px from %d photographs", len(bank), bank.shape[1], len(chosen))
    model = load_checkpoint(init) if init is not None else FillNet(width, dilations)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    loader = torch.utils.data.DataLoader(_Samples(bank, seed, batch, config), batch_size=None, num_workers=1,
                                         prefetch_factor=4)
    deadline = time.monotonic() + minutes * 60
    started, recent = time.monotonic(), []
    with open(out / "log.jsonl", "a", encoding="utf-8") as log:
        for step, (planes, clean, mask) in enumerate(loader, start=1):
            progress = min(1.0, (time.monotonic() - started) / (minutes * 60))
            for group in optimizer.param_groups:
                group["lr"] = scheduled_learning_rate(learning_rate, progress, step)
            loss = filler_loss(model(planes), clean, mask)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            recent.append(float(loss.detach()))
            if step % 50 == 0:
                _log(log, {"step": step, "loss": float(np.mean(recent)), "elapsed_s": round(time.monotonic() - started),
                           "lr": optimizer.param_groups[0]["lr"]})
                recent = []
            if step % 200 == 0 or time.monotonic() > deadline:
                _save(out / "last.pt", model, step, config)
            if time.monotonic() > deadline:
                break
    return out / "last.pt"


def _log(log: TextIO, record: dict) -> None:
    log.write(json.dumps(record) + "\n")
    log.flush()


def _save(path: Path, model: FillNet, step: int, config: DamageConfig) -> None:
    with atomic_path(path) as temporary:
        torch.save({"state_dict": model.state_dict(), "width": model.width, "dilations": model.dilations,
                    "smoothing": model.smoothing,
                    "step": step, "damage": json.dumps(config.as_dict())}, temporary)


def load_checkpoint(path: Path, smoothing: int | None = None) -> FillNet:
    """The network of a :func:`train` checkpoint (loaded with ``weights_only=True``), with its own
    smoothing of the coefficient maps unless ``smoothing`` says otherwise."""
    content = torch.load(path, map_location="cpu", weights_only=True)
    model = FillNet(content["width"], content["dilations"], smoothing or content.get("smoothing", 1))
    model.load_state_dict(content["state_dict"])
    return model.eval()


def held_out_psnr(model: FillNet, data_root: Path, seed: int = 1, limit: int | None = None) -> dict[str, float]:
    """PSNR (peak 100) of the damaged pixels of the held-out photographs with
    :class:`DamageConfig` damage and the drawn mask: the damaged input, the inpainting alone and
    the filler's result."""
    squared = {"damaged": 0.0, "inpainted": 0.0, "filled": 0.0}
    count = 0
    with torch.no_grad():
        for index, path in enumerate(held_out_photos(data_root)[:limit]):
            clean = load_lightness(path)
            clean = np.ascontiguousarray(clean[: clean.shape[0] // BLOCK * BLOCK, : clean.shape[1] // BLOCK * BLOCK])
            damaged, mask = draw_damage(clean, seed * 1000 + index)
            inpainted = np.clip(cv2.inpaint(damaged, mask.view(np.uint8), INPAINT_RADIUS, FILL_METHODS["ns"]), 0, 100)
            filled = model(torch.from_numpy(filler_planes(damaged, inpainted, mask))[None])[0, 0].numpy()
            for name, plane in (("damaged", damaged), ("inpainted", inpainted), ("filled", filled)):
                squared[name] += float(((plane - clean)[mask].astype(np.float64) ** 2).sum())
            count += int(mask.sum())
    return {name: float(10 * np.log10(100.0**2 / max(value / max(count, 1), 1e-12))) for name, value in squared.items()}


# --------------------------------------------------------------------------- bundling


def bundle(checkpoint: Path, data_root: Path, directory: Path | None = None,
           smoothing: int | None = None) -> dict[str, BundledOnnxFile]:
    """Write the bundled filler from a training checkpoint (safetensors with its layout and the
    held-out PSNR in the metadata), then its ONNX file and manifest entry; ``smoothing``
    overrides the checkpoint's smoothing of the coefficient maps."""
    model = load_checkpoint(checkpoint, smoothing)
    directory = detector_dir() if directory is None else Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    figures = held_out_psnr(model, data_root)
    logger.info("held-out PSNR of the damaged pixels: %s", figures)
    content = torch.load(checkpoint, map_location="cpu", weights_only=True)
    settings = {"width": str(model.width), "dilations": json.dumps(list(model.dilations)),
                "smoothing": str(model.smoothing),
                "held_out_psnr": json.dumps({key: round(value, 3) for key, value in figures.items()}),
                "damage": content.get("damage") or json.dumps(FILLER_DAMAGE.as_dict())}
    save_weights(model, directory / FILLER_WEIGHTS[0], settings)
    return export_bundled_filler(directory)


def load_bundled_weights(path: Path) -> tuple[FillNet, dict[str, str]]:
    """The network of a bundled safetensors file and the file's metadata."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as file:
        metadata = dict(file.metadata() or {})
    model = FillNet(int(metadata["width"]), json.loads(metadata["dilations"]), int(metadata.get("smoothing", "1")))
    model.load_state_dict(load_file(str(path)))
    return model.eval(), metadata


def export_bundled_filler(directory: Path | None = None) -> dict[str, BundledOnnxFile]:
    """Rebuild the filler's ONNX file and manifest entry from the bundled safetensors
    (``python -m masterpiece.restoration.filler_training export``; the same bytes each time)."""
    directory = detector_dir() if directory is None else Path(directory)
    weights = directory / FILLER_WEIGHTS[0]
    model, settings = load_bundled_weights(weights)
    metadata = {"masterpiece.model": FILLER_NAME, "masterpiece.source_sha256": file_sha256(weights),
                "masterpiece.damage": settings.get("damage", ""), "masterpiece.context_rows": str(model.band_context),
                "masterpiece.smoothing": str(model.smoothing)}
    # the body alone: the smoothing and the combination run in OpenCV and NumPy at inference
    # (LearnedFiller), where a separable filter is far faster than a grouped convolution; the
    # space-to-depth is fused into the first convolution (a third of the network's time)
    return export_onnx(fuse_space_to_depth(model.body), weights, FILLER_NAME, FILLER_PLANES, ("planes", "coefficients"), metadata)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m masterpiece.restoration.filler_training {train,bundle,export} ...``"""
    parser = argparse.ArgumentParser(prog="python -m masterpiece.restoration.filler_training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True)
    data = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    run = actions.add_parser("train", help="train the filler on synthetic damage")
    run.add_argument("--out", type=Path, required=True, help="checkpoint folder (outside the repository)")
    run.add_argument("--data", type=Path, default=data, help=f"folder with train/ and train_people/ (default {data})")
    run.add_argument("--minutes", type=float, default=80.0)
    run.add_argument("--width", type=int, default=16, help="channels of the body")
    run.add_argument("--dilations", type=int, nargs="+", default=[1, 2, 4, 8])
    run.add_argument("--threads", type=int, default=2)
    run.add_argument("--init", type=Path, help="continue from the weights of this checkpoint")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--learning-rate", type=float, default=3e-3)
    pack = actions.add_parser("bundle", help="write the bundled safetensors, ONNX and manifest from a checkpoint")
    pack.add_argument("--checkpoint", type=Path, required=True)
    pack.add_argument("--data", type=Path, default=data)
    pack.add_argument("--out", type=Path, help="folder (default: the package's restoration/bundled)")
    pack.add_argument("--smoothing", type=int, help="binomial filter side over the coefficient maps (default: the checkpoint's)")
    rebuild = actions.add_parser("export", help="rebuild the ONNX file and manifest from the bundled safetensors")
    rebuild.add_argument("--out", type=Path, help="folder holding the safetensors (default: restoration/bundled)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.action == "train":
        print(train(args.out, args.data, args.minutes, width=args.width, dilations=args.dilations,
                    threads=args.threads, init=args.init, seed=args.seed, learning_rate=args.learning_rate))
    else:
        files = (bundle(args.checkpoint, args.data, args.out, args.smoothing) if args.action == "bundle"
                 else export_bundled_filler(args.out))
        for precision, entry in files.items():
            print(f"{precision}: {entry.filename} ({entry.size / 1e3:.0f} kB, sha256 {entry.sha256})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
