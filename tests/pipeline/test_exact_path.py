"""Only an explicit fp32 takes the exact (slow) colour conversion; auto that picks float32 stays fast."""

from __future__ import annotations

import numpy as np
import pytest

from masterpiece import Colorizer
from masterpiece.pipeline import image


@pytest.mark.parametrize(("precision", "exact"), [("fp32", True), ("auto", False), ("int8", False)])
def test_the_exact_conversion_follows_the_requested_precision(
    monkeypatch: pytest.MonkeyPatch, precision: str, exact: bool
) -> None:
    colorizer = Colorizer("compact", precision=precision)
    if precision == "auto":  # whatever auto measured, pretend it chose float32
        monkeypatch.setattr(colorizer, "precision", "fp32")
    seen: list[bool] = []
    real = image.lab_band_to_rgb

    def recording(lightness, ab, fast):
        seen.append(fast)
        return real(lightness, ab, fast)

    monkeypatch.setattr(image, "lab_band_to_rgb", recording)
    colorizer.colorize(np.full((64, 64), 100, np.uint8))
    assert colorizer.exact is exact
    assert seen and all(fast is not exact for fast in seen)
