"""Reading the evaluation folder: working size, skipped files, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from masterpiece.errors import DataError, InvalidInputError
from masterpiece.evaluation.data import load_eval_images, resize_long_side


def write_colour(path: Path, width: int = 48, height: int = 32, seed: int = 0) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Two colour photographs (one in a subfolder), a grayscale one, a broken one, a hidden one."""
    write_colour(tmp_path / "b_colour.png", seed=1)
    write_colour(tmp_path / "sub" / "c_colour.jpg", width=30, height=60, seed=2)
    Image.fromarray(np.full((16, 16), 120, dtype=np.uint8), "L").save(tmp_path / "a_gray.png")
    (tmp_path / "d_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    write_colour(tmp_path / ".hidden" / "e.png")
    return tmp_path


def test_usable_images_are_loaded_at_the_working_size_and_others_listed(mixed_folder: Path) -> None:
    images, skipped = load_eval_images(mixed_folder, eval_size=24)
    assert [image.name for image in images] == ["b_colour.png", "sub/c_colour.jpg"]
    assert images[0].rgb.shape == (1, 3, 16, 24) and images[0].original_size == (48, 32)
    assert images[1].lab.shape == (1, 3, 24, 12) and images[1].original_size == (30, 60)
    assert float(images[0].lightness.min()) >= 0 and float(images[0].lightness.max()) <= 100
    assert [s.name for s in skipped] == ["a_gray.png", "d_broken.png"]
    assert "grayscale" in skipped[0].reason and skipped[1].reason


def test_limit_counts_usable_images_and_zero_keeps_the_original_size(mixed_folder: Path) -> None:
    images, skipped = load_eval_images(mixed_folder, eval_size=0, limit=1)
    assert [image.name for image in images] == ["b_colour.png"]
    assert images[0].rgb.shape == (1, 3, 32, 48)
    assert [s.name for s in skipped] == ["a_gray.png"]


def test_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="holds no files"):
        load_eval_images(tmp_path, 256)


def test_a_folder_of_unusable_files_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match="no usable colour image.*notes.txt"):
        load_eval_images(tmp_path, 256)


def test_a_missing_folder_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="is not a folder"):
        load_eval_images(tmp_path / "absent", 256)


def test_resize_long_side_keeps_the_aspect_ratio() -> None:
    assert resize_long_side(torch.rand(1, 3, 512, 768), 256).shape == (1, 3, 171, 256)
    assert resize_long_side(torch.rand(1, 3, 768, 512), 256).shape == (1, 3, 256, 171)
    same = torch.rand(1, 3, 10, 20)
    assert resize_long_side(same, 0) is same and resize_long_side(same, 20) is same
