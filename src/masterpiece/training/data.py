"""Training data: colour photographs held in memory, random scale/crop/flip, gray ones skipped."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..color.lab import rgb_to_lab_array
from ..errors import DataError, InvalidImageError
from ..pipeline.decoding import read_image
from ..pipeline.folders import iter_image_files

logger = logging.getLogger(__name__)


def collect_image_paths(sources: list[str] | list[Path]) -> list[Path]:
    """Image files from folders (recursive) and list files (one path per line, ``#`` comments).

    Raises:
        DataError: a source does not exist, or no image was found at all.
    """
    paths: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            paths.extend(iter_image_files(source))
        elif source.is_file() and source.suffix.lower() in {".txt", ".lst", ".list"}:
            lines = source.read_text(encoding="utf-8").splitlines()
            paths.extend(source.parent / line.strip() for line in lines if line.strip() and not line.startswith("#"))
        elif source.is_file():
            paths.append(source)
        else:
            raise DataError(f"training data {source} does not exist; pass folders of colour photographs or list files")
    if not paths:
        raise DataError(f"no images found in {', '.join(map(str, sources))}")
    return paths


def mean_chroma(rgb: np.ndarray) -> float:
    """Mean ab chroma (Lab units) of an ``(H, W, 3)`` uint8 image, on a small copy."""
    small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
    ab = rgb_to_lab_array(small)[..., 1:]
    return float(np.sqrt((ab**2).sum(-1)).mean())


@dataclass
class SkippedImage:
    path: Path
    reason: str


class ColorPhotoDataset(Dataset):
    """Colour photographs decoded once into memory (uint8), served as random crops.

    Args:
        paths: image files.
        crop_size: side of the square crops.
        min_scale: smallest resize factor relative to the largest that still covers a crop.
        min_chroma: skip images whose mean chroma (ab units) is below this (gray, near-gray).
        max_side: images are downscaled on load so their short side is at most this.
        seed: the run's seed; with the item key it fixes each item's augmentation.

    Items are ``(3, crop, crop)`` float32 Lab tensors. An item is asked for by its index or
    by an ``(epoch, index)`` key (:mod:`.sampling`): the scale, crop and flip are drawn from
    ``(seed, epoch, index)``, so a resumed run sees exactly the crops of an uninterrupted one.
    """

    def __init__(
        self,
        paths: list[Path],
        crop_size: int,
        min_scale: float = 0.6,
        min_chroma: float = 4.0,
        max_side: int = 320,
        seed: int = 0,
    ) -> None:
        self.crop_size = crop_size
        self.seed = seed
        self.min_scale = min_scale
        self.images: list[np.ndarray] = []
        self.paths: list[Path] = []
        self.skipped: list[SkippedImage] = []
        for path in paths:
            reason = self._load(path, min_chroma, max_side)
            if reason:
                self.skipped.append(SkippedImage(path, reason))
        if self.skipped:
            logger.info("skipped %d of %d training images", len(self.skipped), len(paths))
        if not self.images:
            raise DataError(
                f"none of the {len(paths)} training images is usable "
                f"(first problem: {self.skipped[0].path}: {self.skipped[0].reason})"
            )

    def _load(self, path: Path, min_chroma: float, max_side: int) -> str | None:
        try:
            loaded = read_image(path)
        except InvalidImageError as error:
            return str(error)
        if loaded.is_grayscale:
            return "grayscale"
        rgb = np.ascontiguousarray((loaded.rgb * 255.0 + 0.5).astype(np.uint8))
        short = min(rgb.shape[:2])
        if short < self.crop_size:
            scale = self.crop_size / short
        else:
            scale = min(1.0, max_side / short)
        if scale != 1.0:
            size = (max(self.crop_size, round(rgb.shape[1] * scale)), max(self.crop_size, round(rgb.shape[0] * scale)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        if mean_chroma(rgb) < min_chroma:
            return f"near-gray (mean chroma below {min_chroma})"
        self.images.append(rgb)
        self.paths.append(path)
        return None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: int | tuple[int, int]) -> torch.Tensor:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rgb = self.images[index]
        rng = np.random.default_rng((self.seed, epoch, index))
        height, width = rgb.shape[:2]
        short = min(height, width)
        smallest = max(self.crop_size / short, self.min_scale)
        scale = rng.uniform(min(smallest, 1.0), 1.0)
        new_h = max(self.crop_size, round(height * scale))
        new_w = max(self.crop_size, round(width * scale))
        if (new_h, new_w) != (height, width):
            rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
        top = rng.integers(0, new_h - self.crop_size + 1)
        left = rng.integers(0, new_w - self.crop_size + 1)
        crop = rgb[top : top + self.crop_size, left : left + self.crop_size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return torch.from_numpy(rgb_to_lab_array(crop)).permute(2, 0, 1)
