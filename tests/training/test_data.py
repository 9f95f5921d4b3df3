"""The training data: gray and near-gray photographs are skipped, the others served as crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masterpiece.errors import DataError
from masterpiece.training.data import ColorPhotoDataset, collect_image_paths, mean_chroma


def test_gray_and_near_gray_images_are_skipped(mixed_photos: Path) -> None:
    def chroma(name: str) -> float:
        return mean_chroma(np.asarray(Image.open(mixed_photos / name)))

    assert chroma("faint.png") < 4.0 < chroma("sepia.png")
    dataset = ColorPhotoDataset(collect_image_paths([mixed_photos]), crop_size=32, min_chroma=4.0)
    skipped = {item.path.name: item.reason for item in dataset.skipped}
    assert skipped.keys() == {"gray.png", "gray_rgb.png", "faint.png"}
    assert skipped["gray.png"] == skipped["gray_rgb.png"] == "grayscale"
    assert skipped["faint.png"].startswith("near-gray")
    kept = {path.name for path in dataset.paths}
    assert kept == {f"colour_{i}.png" for i in range(6)} | {"sepia.png"} and len(dataset) == 7
    assert dataset[0].shape == (3, 32, 32)
    # min_chroma 0 keeps the faint print; a gray file is never a colour example
    loose = ColorPhotoDataset(collect_image_paths([mixed_photos]), crop_size=32, min_chroma=0.0)
    assert {item.path.name for item in loose.skipped} == {"gray.png", "gray_rgb.png"}


def test_only_gray_images_is_a_data_error(mixed_photos: Path) -> None:
    paths = [mixed_photos / name for name in ("gray.png", "gray_rgb.png", "faint.png")]
    with pytest.raises(DataError, match="none of the 3 training images is usable"):
        ColorPhotoDataset(paths, crop_size=32)
