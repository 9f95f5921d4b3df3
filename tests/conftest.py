"""Fixtures shared by the whole suite.

Every test gets its own weights cache (``MASTERPIECE_CACHE``): the suite never reads or
writes the user's real cache. Downloads are only made from local files and loopback servers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Before any fixture runs (session-scoped ones included): a throw-away weights cache and
    float32, so nothing the suite does reaches the user's cache or exports int8 copies there."""
    import os
    import tempfile

    os.environ["MASTERPIECE_CACHE"] = tempfile.mkdtemp(prefix="masterpiece-test-cache-")
    os.environ["MASTERPIECE_PRECISION"] = "fp32"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path_factory.mktemp("weights-cache")
    monkeypatch.setenv("MASTERPIECE_CACHE", str(cache))
    # the default precision (auto) exports an int8 copy of each model on first use: seconds per
    # test with a fresh cache; tests run float32 unless they ask (tests/pipeline/test_precision.py)
    monkeypatch.setenv("MASTERPIECE_PRECISION", "fp32")
    return cache


@pytest.fixture(scope="session")
def compact_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A safetensors file of the compact architecture with random (seeded) weights."""
    from masterpiece.models import create_model
    from masterpiece.training.checkpoints import export_weights

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "compact-random.safetensors"
    export_weights(path, create_model("compact", pretrained=False))
    return path


@pytest.fixture
def gray_photo() -> np.ndarray:
    """A 96x128 uint8 grayscale image with some structure (gradient and a disc)."""
    rows, cols = np.mgrid[0:96, 0:128]
    image = (rows * 1.5 + cols).astype(np.float32)
    image[(rows - 48) ** 2 + (cols - 64) ** 2 < 400] = 220
    return np.clip(image, 0, 255).astype(np.uint8)


def shared_data(split: str) -> Path:
    """``../shared/data/<split>``, or skip the test with a reason when it is absent."""
    path = SHARED_DATA / split
    if not path.is_dir():
        pytest.skip(f"{path} is absent (the project's shared data is not next to this checkout)")
    return path


@pytest.fixture
def deep_ramp() -> np.ndarray:
    """A 256x256 uint16 gray ramp holding each of the 65536 levels once (row-major).

    Its low byte carries the detail: dropping it (8-bit values times 257) moves the lightness
    by up to half an 8-bit step.
    """
    return np.arange(65536, dtype=np.uint16).reshape(256, 256)


@pytest.fixture(scope="session")
def red_blue_profile() -> bytes:
    """An RGB ICC profile that is not sRGB: LittleCMS's sRGB with its red and blue primaries
    (the ``rXYZ`` and ``bXYZ`` tags) exchanged and its description renamed, so that pixels
    tagged with it are sRGB with red and blue swapped."""
    from PIL import ImageCms

    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = int.from_bytes(profile[128:132], "big")
    entries = {bytes(profile[132 + 12 * i : 136 + 12 * i]): 136 + 12 * i for i in range(count)}
    red = slice(entries[b"rXYZ"], entries[b"rXYZ"] + 8)  # (offset, size) of the tag's data
    blue = slice(entries[b"bXYZ"], entries[b"bXYZ"] + 8)
    profile[red], profile[blue] = profile[blue], profile[red]
    return bytes(profile).replace("sRGB".encode("utf-16-be"), "xRGB".encode("utf-16-be"))


@pytest.fixture(scope="session")
def photo_ab() -> torch.Tensor:
    """``(1, 2, 360, 728)`` ab (Lab units) of a real photograph: the README's before/after
    picture (``docs/before_after.jpg``, its left half gray, its right half in colour)."""
    from PIL import Image

    from masterpiece.color.lab import rgb_to_lab

    with Image.open(REPO_ROOT / "docs" / "before_after.jpg") as photo:
        rgb = torch.from_numpy(np.asarray(photo.convert("RGB"), dtype=np.float32) / 255.0)
    return rgb_to_lab(rgb.permute(2, 0, 1)[None].contiguous())[:, 1:]
