"""Reading uploads into photos (errors as messages), and the per-session cache."""

from __future__ import annotations

import io

import numpy as np

from masterpiece.app.session import DISPLAY_SIDE, LruCache, read_upload

from .conftest import png_bytes


def named(data: bytes, name: str) -> io.BytesIO:
    upload = io.BytesIO(data)
    upload.name = name
    upload.read()  # Streamlit may hand over a file that was read already
    return upload


def test_a_readable_upload(gray_photo: np.ndarray) -> None:
    photo = read_upload("id-1", named(png_bytes(gray_photo), "street.png"), max_bytes=10**6)
    assert photo.error == "" and photo.stem == "street"
    assert photo.image.size == (128, 96) and photo.image.source_name == "street.png"
    # small enough to show as it is, made from the decoded pixels: no float32 copy of the whole
    # upload is kept in the session (12 bytes a pixel; 600 MB for a 50 MP scan)
    assert "rgb" not in vars(photo.image)
    np.testing.assert_allclose(photo.preview, photo.image.rgb, atol=1e-6)


def test_large_uploads_get_a_screen_sized_preview() -> None:
    big = np.zeros((DISPLAY_SIDE, DISPLAY_SIDE * 2), np.uint8)
    photo = read_upload("id-2", named(png_bytes(big), "wide.png"), max_bytes=10**8)
    assert photo.preview.shape == (DISPLAY_SIDE // 2, DISPLAY_SIDE, 3)


def test_unreadable_uploads_carry_the_message(monkeypatch) -> None:
    photo = read_upload("id-3", named(b"not an image", "notes.png"), max_bytes=10**6)
    assert photo.image is None and "cannot read 'notes.png'" in photo.error
    too_big = read_upload("id-4", named(b"x" * 100, "big.png"), max_bytes=10)
    assert "larger than the limit of 10 bytes" in too_big.error
    monkeypatch.setenv("MASTERPIECE_MAX_PIXELS", "100")
    tiny_limit = read_upload("id-5", named(png_bytes(np.zeros((20, 20), np.uint8)), "a.png"), 10**6)
    assert "more than the limit of 100" in tiny_limit.error


def test_lru_cache_keeps_the_most_recently_used() -> None:
    cache: LruCache[int] = LruCache(2)
    calls = []

    def compute(value: int):
        return lambda: calls.append(value) or value

    assert cache.get("a", compute(1)) == 1
    assert cache.get("b", compute(2)) == 2
    assert cache.get("a", compute(99)) == 1  # kept, and now the most recent
    cache.get("c", compute(3))  # drops "b"
    assert "a" in cache and "c" in cache and "b" not in cache
    assert calls == [1, 2, 3]
