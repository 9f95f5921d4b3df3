"""The Colorizer: input kinds, luminance preservation, hints, temperature and saturation."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageCms
from skimage.color import rgb2lab

from masterpiece.color.lab import rgb_to_lab
from masterpiece.errors import ConfigError, InvalidHintError, OutputExistsError, UnknownModelError
from masterpiece.models import create_model
from masterpiece.pipeline.image import ColorHint, Colorizer, colorize, hint_maps


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    torch.manual_seed(0)
    return Colorizer(create_model("compact", pretrained=False))


def _lightness(rgb_uint8: np.ndarray) -> np.ndarray:
    image = torch.from_numpy(rgb_uint8).permute(2, 0, 1).double() / 255.0
    return rgb_to_lab(image)[0].numpy()


def test_array_in_array_out_keeps_shape_and_dtype(colorizer, gray_photo):
    out = colorizer.colorize(gray_photo)
    assert out.shape == (*gray_photo.shape, 3) and out.dtype == np.uint8


def test_output_keeps_the_input_lightness(colorizer, gray_photo):
    colorizer_vivid = Colorizer(colorizer.model, saturation=3.0)  # push colours out of gamut
    out = colorizer_vivid.colorize(gray_photo)
    expected = _lightness(np.repeat(gray_photo[..., None], 3, axis=2))
    assert np.abs(_lightness(out) - expected).max() < 1.0


def test_sepia_input_uses_only_its_lightness(colorizer, gray_photo):
    sepia = np.stack([gray_photo, (gray_photo * 0.85).astype(np.uint8), (gray_photo * 0.65).astype(np.uint8)], -1)
    from_sepia = colorizer.colorize(sepia)
    expected = _lightness(sepia)
    assert np.abs(_lightness(from_sepia) - expected).max() < 1.0


def test_saturation_zero_gives_gray(colorizer, gray_photo):
    out = Colorizer(colorizer.model, saturation=0.0).colorize(gray_photo).astype(int)
    assert np.abs(out[..., 0] - out[..., 1]).max() <= 1 and np.abs(out[..., 1] - out[..., 2]).max() <= 1


def test_temperature_one_is_the_plain_mean(colorizer):
    lightness = torch.rand(1, 1, 64, 64) * 100
    model = colorizer.model
    prediction = model.predict(lightness)
    probabilities = torch.softmax(prediction.logits, dim=1)
    expected = torch.einsum("bqhw,qc->bchw", probabilities, model.bin_centers)
    weight = model.annealed_weight  # the compact model blends in its regression head
    expected = weight * expected + (1 - weight) * prediction.ab
    mean = lambda ab: ab.mean(dim=(2, 3), keepdim=True)  # and takes its tint
    expected = expected + model.regression_tint * (mean(prediction.ab) - mean(expected))
    assert torch.allclose(model.decode(prediction, 1.0), expected, atol=1e-4)


def test_pil_bytes_and_path_inputs(colorizer, gray_photo, tmp_path):
    pil = Image.fromarray(gray_photo).convert("LA")
    out = colorizer.colorize(pil)
    assert isinstance(out, Image.Image) and out.mode == "RGBA" and out.size == pil.size
    buffer = io.BytesIO()
    Image.fromarray(gray_photo).save(buffer, "JPEG")
    encoded = colorizer.colorize(buffer.getvalue())
    assert Image.open(io.BytesIO(encoded)).format == "JPEG"
    source = tmp_path / "old photo é.png"
    Image.fromarray(gray_photo).save(source)
    written = colorizer.colorize(source)
    assert written == tmp_path / "old photo é_colorized.png" and written.exists()
    with pytest.raises(OutputExistsError):
        colorizer.colorize(source)
    with pytest.raises(OutputExistsError, match="input"):
        colorizer.colorize_file(source, source, overwrite=True)


def _lab_lightness(rgb: np.ndarray) -> np.ndarray:
    """L of ``(H, W, 3)`` uint8 or uint16 sRGB, by scikit-image (independent of the package)."""
    return rgb2lab(rgb.astype(np.float64) / np.iinfo(rgb.dtype).max)[..., 0]


def _read_rgb(path) -> np.ndarray:
    """A written PNG or TIFF as stored: ``(H, W, 3)`` uint8 or uint16 RGB."""
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]


@pytest.mark.parametrize("extension", [".png", ".tif"])
def test_sixteen_bit_detail_survives_colorize_file(colorizer, deep_ramp, tmp_path, extension):
    source = tmp_path / f"deep{extension}"
    Image.fromarray(deep_ramp).save(source)  # I;16: 65536 levels, the low byte matters
    expected = _lab_lightness(np.repeat(deep_ramp[..., None], 3, axis=2))
    out = _read_rgb(colorizer.colorize_file(source, tmp_path / f"out{extension}"))
    assert out.dtype == np.uint16 and out.shape == (256, 256, 3)
    error = np.abs(_lab_lightness(out) - expected)
    # one 8-bit step is 0.39 L on average; dropping the low byte gives a mean error of 0.13
    assert error.mean() < 0.01 and error.max() < 0.1
    neutral = Colorizer(colorizer.model, saturation=0.0)
    gray = neutral.colorize_file(source, tmp_path / f"g{extension}")
    assert np.unique(_read_rgb(gray)[..., 1]).size > 60000  # the ramp's levels, not 256 of them
    shallow = colorizer.colorize_file(source, tmp_path / f"8{extension}", bit_depth=8)
    assert _read_rgb(shallow).dtype == np.uint8


def _png_with_profile(pixels: np.ndarray, profile: bytes) -> bytes:
    """A PNG of ``(H, W, 3)`` uint8 or uint16 RGB with an ``iCCP`` chunk, written without the
    package (OpenCV for the pixels, the chunk inserted after ``IHDR``)."""
    png = cv2.imencode(".png", np.ascontiguousarray(pixels[..., ::-1]))[1].tobytes()
    data = b"test profile\x00\x00" + zlib.compress(profile)
    crc = struct.pack(">I", zlib.crc32(b"iCCP" + data))
    chunk = struct.pack(">I", len(data)) + b"iCCP" + data + crc
    return png[:33] + chunk + png[33:]  # signature (8) and IHDR (25) first


def _sepia(depth: int) -> np.ndarray:
    """A 64x96 toned print, red above green above blue, as uint8 or uint16."""
    rows, cols = np.mgrid[0:64, 0:96]
    tone = (rows + cols) / 158.0
    rgb = np.stack([0.3 + 0.65 * tone, 0.2 + 0.5 * tone, 0.1 + 0.3 * tone], -1)
    top = 255 if depth == 8 else 65535
    return np.round(rgb * top).astype(np.uint8 if depth == 8 else np.uint16)


def test_srgb_profile_is_kept_byte_for_byte(colorizer, tmp_path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = tmp_path / "srgb.png"
    source.write_bytes(_png_with_profile(_sepia(8), srgb))
    for name in ("out.png", "out.jpg", "out.tif"):
        out = colorizer.colorize_file(source, tmp_path / name)
        with Image.open(out) as written:
            assert written.info.get("icc_profile") == srgb, name


def test_other_profile_is_converted_to_srgb_and_not_embedded(colorizer, red_blue_profile, tmp_path):
    sepia = _sepia(8)
    source = tmp_path / "wide.png"
    source.write_bytes(_png_with_profile(sepia, red_blue_profile))
    out = colorizer.colorize_file(source, tmp_path / "out.png")
    assert b"iCCP" not in out.read_bytes()  # the pixels are sRGB now: no profile to mislabel them
    # the lightness is that of the pixels in sRGB (red and blue swapped back), not the raw values
    srgb = sepia[..., ::-1]
    assert np.abs(_lab_lightness(_read_rgb(out)) - _lab_lightness(srgb)).max() < 1.0
    assert np.abs(_lab_lightness(sepia) - _lab_lightness(srgb)).min() > 3.0


def test_other_profile_on_sixteen_bit_colour_is_passed_on(colorizer, red_blue_profile, tmp_path):
    """16-bit colour is not converted (the reader keeps its pixels as they are): the output
    carries the profile its pixels are in."""
    source = tmp_path / "deep.png"
    source.write_bytes(_png_with_profile(_sepia(16), red_blue_profile))
    out = colorizer.colorize_file(source, tmp_path / "out.png")
    with Image.open(out) as written:
        assert written.info.get("icc_profile") == red_blue_profile
    assert _read_rgb(out).dtype == np.uint16


def test_hints_reach_the_network(colorizer):
    lightness = torch.full((1, 1, 64, 64), 50.0)
    hints = hint_maps([ColorHint(32, 32, "#ff0000", size=9)], (64, 64), (64, 64))
    smooth = Colorizer(colorizer.model, temperature=1.0, size=64)
    plain = smooth.predict_ab(lightness)
    hinted = smooth.predict_ab(lightness, hints)
    assert (plain - hinted).abs().max() > 1e-3


def test_hint_maps_place_the_patch_at_the_scaled_position():
    ab, mask = hint_maps([ColorHint(50, 25, (255, 0, 0), size=3)], (100, 50), (32, 32))
    assert mask.sum().item() == 9 and mask[0, 0, 16, 16] == 1
    assert ab[0, 0, 16, 16] > 50  # red has a large positive a


@pytest.mark.parametrize(
    "hint", [ColorHint(500, 5, "#ff0000"), ColorHint(5, 5, "red"), ColorHint(5, 5, (300, 0, 0)), ColorHint(5, 5, "#ff0000", size=20)]
)
def test_bad_hints_are_rejected(colorizer, gray_photo, hint):
    with pytest.raises(InvalidHintError):
        colorizer.colorize(gray_photo, hints=[hint])


def test_models_without_hint_input_refuse_hints(gray_photo):
    eccv16 = Colorizer(create_model("eccv16", pretrained=False), size=64)
    with pytest.raises(InvalidHintError, match="does not accept"):
        eccv16.colorize(gray_photo, hints=[ColorHint(5, 5, "#ff0000")])


@pytest.mark.parametrize("settings", [{"size": 100}, {"temperature": 0}, {"saturation": -1}])
def test_bad_settings_are_config_errors(settings):
    with pytest.raises(ConfigError):
        Colorizer(create_model("compact", pretrained=False), **settings)


def test_unknown_model_name_is_reported():
    with pytest.raises(UnknownModelError, match="models list"):
        Colorizer("no-such-model")


def test_colorize_function_with_weights_file(compact_weights, gray_photo):
    out = colorize(gray_photo, "compact", weights=compact_weights)
    assert out.shape == (*gray_photo.shape, 3)


def test_exif_is_kept_and_orientation_applied(colorizer, gray_photo, tmp_path):
    exif = Image.Exif()
    exif[0x013B] = "Grandpa's camera"  # Artist
    exif[0x0112] = 6  # rotated: stored sideways, shown upright
    source = tmp_path / "exif.jpg"
    Image.fromarray(gray_photo).save(source, exif=exif.tobytes())
    out = Image.open(colorizer.colorize_file(source, tmp_path / "exif_out.jpg", quality=80))
    assert out.size == (gray_photo.shape[0], gray_photo.shape[1])  # orientation applied
    kept = out.getexif()
    assert kept[0x013B] == "Grandpa's camera" and kept.get(0x0112, 1) == 1


def test_alpha_channel_is_kept(colorizer, gray_photo, tmp_path):
    alpha = np.zeros_like(gray_photo)
    alpha[:, 64:] = 255
    source = tmp_path / "alpha.png"
    Image.fromarray(np.dstack([gray_photo, alpha]), "LA").save(source)
    out = Image.open(colorizer.colorize_file(source, tmp_path / "alpha_out.png"))
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], alpha)
