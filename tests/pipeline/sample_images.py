"""Small images made in memory for the pipeline's decoding, encoding and folder tests."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

LEVEL_8 = 1 / 255
LEVEL_16 = 1 / 65535


def gradient(height: int = 12, width: int = 16) -> np.ndarray:
    """(H, W, 3) uint8, smooth (for lossy codecs) and asymmetric (for orientations)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(
        [x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 255 // (width + height - 2)],
        axis=-1,
    ).astype(np.uint8)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """``image`` encoded by Pillow as ``fmt``."""
    buffer = BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def save(tmp_path: Path, name: str, image: Image.Image, **options: object) -> Path:
    """``image`` saved by Pillow as ``tmp_path / name``."""
    path = tmp_path / name
    image.save(path, **options)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
