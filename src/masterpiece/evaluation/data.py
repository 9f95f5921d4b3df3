"""The evaluation images: colour photographs read from a folder, at a fixed working size.

Every regular, non-hidden file below the folder (recursively, sorted by relative path) is a
candidate. Files that cannot be read and grayscale images (as
:func:`masterpiece.pipeline.decoding.read_image` judges: a gray mode, or channels equal within
1/255) are skipped and listed, never fatal; a folder without any usable image is a
:class:`~masterpiece.errors.DataError`.

Images are resized so that their long side is ``eval_size`` (``0`` keeps the original size)
before anything is measured: the ground truth and the model's input ``L`` both come from that
resized image, so scores are comparable across images of any size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..color.lab import rgb_to_lab
from ..errors import DataError, InvalidImageError, InvalidInputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalImage:
    """One usable evaluation image at the working size.

    Attributes:
        name: path relative to the data folder (POSIX separators).
        rgb: ``(1, 3, H, W)`` float32 sRGB in [0, 1].
        lab: ``(1, 3, H, W)`` float32 Lab of ``rgb`` (``L`` in [0, 100]).
        original_size: ``(width, height)`` of the file.
    """

    name: str
    rgb: torch.Tensor
    lab: torch.Tensor
    original_size: tuple[int, int]

    @classmethod
    def from_rgb(
        cls, name: str, rgb: torch.Tensor, original_size: tuple[int, int] | None = None
    ) -> EvalImage:
        """Build from ``(1, 3, H, W)`` float RGB in [0, 1] already at the working size."""
        rgb = rgb.float().clamp(0.0, 1.0).contiguous()
        height, width = rgb.shape[-2:]
        return cls(
            name=name,
            rgb=rgb,
            lab=rgb_to_lab(rgb),
            original_size=original_size or (int(width), int(height)),
        )

    @property
    def lightness(self) -> torch.Tensor:
        """``(1, 1, H, W)`` L in [0, 100]: the model's input."""
        return self.lab[:, :1]

    @property
    def ab(self) -> torch.Tensor:
        """``(1, 2, H, W)`` ground-truth ab in Lab units."""
        return self.lab[:, 1:]


@dataclass(frozen=True)
class SkippedFile:
    """A file of the data folder that was not evaluated, and why."""

    name: str
    reason: str


def resize_long_side(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(B, C, H, W)`` so that its long side is ``size`` (antialiased bilinear).

    The short side is rounded to the nearest pixel (at least 1). ``size = 0`` or an image
    already of that size returns the input unchanged.
    """
    height, width = image.shape[-2:]
    if size <= 0 or max(height, width) == size:
        return image
    scale = size / max(height, width)
    target = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(image, size=target, mode="bilinear", align_corners=False, antialias=True)


def list_candidate_files(data_dir: str | Path) -> list[Path]:
    """Regular, non-hidden files below ``data_dir``, sorted by relative path.

    Raises:
        InvalidInputError: ``data_dir`` is not a folder.
        DataError: it holds no file (cheap to check before loading any model).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InvalidInputError(
            f"{data_dir} is not a folder; pass --data DIR with colour photographs"
        )
    files = (p for p in data_dir.rglob("*") if p.is_file())
    visible = [
        p for p in files if not any(part.startswith(".") for part in p.relative_to(data_dir).parts)
    ]
    if not visible:
        raise DataError(f"{data_dir} holds no files; pass --data DIR with colour photographs")
    return sorted(visible, key=lambda p: p.relative_to(data_dir).as_posix())


def load_eval_image(path: Path, name: str, eval_size: int) -> EvalImage:
    """Read one colour photograph and bring it to the working size.

    Raises:
        InvalidImageError: unreadable, or grayscale.
    """
    from ..pipeline.decoding import read_image

    loaded = read_image(path)
    if loaded.is_grayscale:
        raise InvalidImageError(f"{name} is grayscale (no colour to compare with)")
    original = torch.from_numpy(loaded.rgb).permute(2, 0, 1).unsqueeze(0).float()
    height, width = original.shape[-2:]
    return EvalImage.from_rgb(
        name, resize_long_side(original, eval_size), (int(width), int(height))
    )


def iter_eval_images(
    data_dir: str | Path,
    eval_size: int,
    limit: int | None = None,
    skipped: list[SkippedFile] | None = None,
) -> Iterator[EvalImage]:
    """Yield the usable images of ``data_dir`` in order, at most ``limit`` of them.

    Args:
        data_dir: the folder of colour photographs.
        eval_size: long side of the working size in pixels (0: original size).
        limit: stop after this many usable images (``None``: all).
        skipped: files that were passed over are appended here, with the reason.
    """
    data_dir = Path(data_dir)
    used = 0
    for path in list_candidate_files(data_dir):
        if limit is not None and used >= limit:
            return
        name = path.relative_to(data_dir).as_posix()
        try:
            image = load_eval_image(path, name, eval_size)
        except InvalidImageError as error:
            logger.warning("skipping %s: %s", name, error)
            if skipped is not None:
                skipped.append(SkippedFile(name, str(error)))
            continue
        used += 1
        yield image


def load_eval_images(
    data_dir: str | Path, eval_size: int, limit: int | None = None
) -> tuple[list[EvalImage], list[SkippedFile]]:
    """All usable images of ``data_dir`` (see :func:`iter_eval_images`) and the skipped files.

    Memory: 24 bytes per pixel at the working size (about 1 MB per image at 256 x 171).

    Raises:
        InvalidInputError: ``data_dir`` is not a folder.
        DataError: no file, or no usable image, in it.
    """
    skipped: list[SkippedFile] = []
    images = list(iter_eval_images(data_dir, eval_size, limit, skipped))
    if not images:
        reasons = "; ".join(f"{s.name}: {s.reason}" for s in skipped[:5])
        raise DataError(f"no usable colour image in {data_dir} ({len(skipped)} skipped: {reasons})")
    return images, skipped
