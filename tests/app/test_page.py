"""The page's flows, driven by ``AppTest``: upload, models, sliders, hints, downloads, errors."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import (
    ASTRONAUT,
    BLUE,
    COLOURFUL_CHROMA,
    COLOURFUL_SPREAD,
    SUIT,
    assert_turned_towards,
    button,
    colourfulness,
    data_url_image,
    no_problems,
    png_bytes,
    region_ab,
    start,
    upload,
    view_data,
    widget,
)


def test_opens_with_an_invitation_and_how_it_works(app) -> None:
    no_problems(app)
    assert "Upload one or several" in app.info[0].value
    assert app.main.expander[-1].label == "How it works"
    assert "L in, ab out" in app.main.expander[-1].markdown[0].value


def test_upload_shows_original_and_result(app, photo) -> None:
    upload(app, ("street.png", photo))
    no_problems(app)
    data = view_data(app)
    before, after = data_url_image(data["before"]), data_url_image(data["after"])
    assert before.shape == after.shape == (96, 128, 3)
    assert (data["width"], data["height"]) == (128, 96)
    assert data["afterLabel"] == "Colorized"
    assert np.ptp(before.astype(int), axis=2).max() <= 2  # the original is gray
    assert np.ptp(after.astype(int), axis=2).max() > 10  # the result has colour
    assert app.get("download_button")[0].label == "Download PNG"


@pytest.mark.parametrize("format", ["JPEG", "PNG", "TIFF", "WEBP", "BMP"])
def test_every_upload_format(app, gray_photo, format) -> None:
    buffer = io.BytesIO()
    Image.fromarray(gray_photo).save(buffer, format)
    upload(app, (f"street.{format.lower()}", buffer.getvalue()))
    no_problems(app)
    assert data_url_image(view_data(app)["after"]).shape == (96, 128, 3)


def test_several_uploads_make_a_gallery(app, photo, gray_photo) -> None:
    upload(app, ("a.png", photo), ("b.png", png_bytes(255 - gray_photo)))
    no_problems(app)
    assert "Gallery (2 photos)" in [item.value for item in app.subheader]
    assert [image.captions for image in app.main.image] == [["a.png"], ["b.png"]]
    chooser = widget(app.selectbox, "Photo to edit")
    assert chooser.options == ["a.png", "b.png"]
    chooser.select_index(1).run()
    assert "b.png" in [item.value for item in app.subheader]
    labels = [item.label for item in app.get("download_button")]
    assert labels == ["Download PNG", "Download all 2 (zip)"]


def test_model_choice_lists_the_models_without_weights_with_how_to_get_them(app) -> None:
    model = app.sidebar.selectbox(key="model")
    assert model.options == ["compact"] and model.value == "compact"
    others = app.sidebar.expander[0]
    assert others.label.startswith("Other models (2)")
    advice = " ".join(item.value for item in others.caption)
    assert (
        "masterpiece models pull eccv16" in advice
        and "masterpiece models pull siggraph17" in advice
    )


def test_switching_models_and_a_corrupt_weights_file(
    isolated_cache, compact_weights, photo, monkeypatch
) -> None:
    import sys

    from masterpiece.models import get_model_info

    (isolated_cache / get_model_info("eccv16").weights.filename).write_bytes(b"not the weights")
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    app = start(["--model", "compact", "--weights", str(compact_weights)])
    model = app.sidebar.selectbox(key="model")
    assert model.options == ["compact", "eccv16"]  # the one the app was started with first
    upload(app, ("street.png", photo))
    model.set_value("eccv16").run()
    assert not app.exception
    assert "sha256" in app.error[0].value  # the file is present but not the published one
    app.sidebar.selectbox(key="model").set_value("compact").run()
    no_problems(app)
    assert view_data(app)["afterLabel"] == "Colorized"


def test_without_any_weights_the_page_says_how_to_get_them(monkeypatch) -> None:
    import sys

    from masterpiece.app import catalogue

    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(catalogue, "available_models", list)  # as if the bundled file were missing
    app = start([])
    assert not app.exception
    assert "No model weights are available" in app.warning[0].value
    text = " ".join(item.value for item in app.markdown)
    assert "masterpiece models pull eccv16" in text and "compact" in text


def test_saturation_zero_gives_a_gray_result(app, photo) -> None:
    upload(app, ("street.png", photo))
    app.sidebar.slider(key="saturation").set_value(0.0).run()
    no_problems(app)
    after = data_url_image(view_data(app)["after"]).astype(int)
    assert np.ptp(after, axis=2).max() <= 3


def test_temperature_changes_the_result(app, photo) -> None:
    upload(app, ("street.png", photo))
    before = view_data(app)["after"]
    app.sidebar.slider(key="temperature").set_value(1.0).run()
    no_problems(app)
    assert view_data(app)["after"] != before


def test_uncertainty_view(app, photo) -> None:
    upload(app, ("street.png", photo))
    app.sidebar.toggle(key="uncertainty").set_value(True).run()
    no_problems(app)
    data = view_data(app)
    assert data["afterLabel"] == "Uncertainty"
    assert any("Uncertainty: dark where" in item.value for item in app.caption)


# --------------------------------------------------------------------------- hints


def markers(app) -> list[dict]:
    return view_data(app)["markers"]


def add_hint(app):
    button(app, "Add").click().run()
    no_problems(app)
    return app


def library_suggestions(weights: Path, gray: np.ndarray, x: float, y: float) -> list[str]:
    """What the library suggests at ``(x, y)`` of the photo, without hints (the page must agree)."""
    from masterpiece.models import create_model
    from masterpiece.pipeline.analysis import suggest_colors
    from masterpiece.pipeline.decoding import read_image
    from masterpiece.pipeline.image import Colorizer

    colorizer = Colorizer(create_model("compact", weights=weights))
    return [item.hex for item in suggest_colors(colorizer, read_image(gray), x, y)]


def test_add_hint_uses_the_models_first_suggestion(app, photo, compact_weights, gray_photo) -> None:
    upload(app, ("street.png", photo))
    assert view_data(app)["hintsEnabled"] is True
    add_hint(app)
    [marker] = markers(app)
    assert (marker["x"], marker["y"], marker["selected"]) == (0.5, 0.5, True)
    expected = library_suggestions(compact_weights, gray_photo, 64, 48)
    assert marker["color"] == app.color_picker[0].value == expected[0]
    swatches = widget(app.get("button_group"), "Suggested by the model")
    assert len(swatches.options) == len(expected) == 6
    assert swatches.options[0].startswith("1 · ")


def test_the_bundled_model_colours_a_photo_and_follows_a_hint(bundled_app) -> None:
    """The shipped weights on a real photograph: a colourful result, and a blue hint on the
    suit turns the suit blue (random weights pass the flow tests but fail these)."""
    app = upload(bundled_app, ("astronaut.jpg", ASTRONAUT.read_bytes()))
    no_problems(app)
    result = data_url_image(view_data(app)["after"])
    chroma, spread = colourfulness(result)
    assert chroma > COLOURFUL_CHROMA and spread > COLOURFUL_SPREAD, (chroma, spread)
    add_hint(app)
    width, height = result.shape[1], result.shape[0]
    widget(app.number_input, "x").set_value(SUIT[0] * width).run()
    widget(app.number_input, "y").set_value(SUIT[1] * height).run()
    app.color_picker[0].set_value(BLUE).run()
    no_problems(app)
    [marker] = markers(app)
    assert marker["color"] == BLUE and (marker["x"], marker["y"]) == pytest.approx(SUIT)
    hinted = data_url_image(view_data(app)["after"])
    assert_turned_towards(region_ab(result, *SUIT), region_ab(hinted, *SUIT), BLUE)


def test_hint_colour_from_picker_and_swatch_then_undo(
    app, photo, compact_weights, gray_photo, colorize_calls
) -> None:
    upload(app, ("street.png", photo))
    add_hint(app)
    first = markers(app)[0]["color"]
    app.color_picker[0].set_value("#ff0000").run()
    no_problems(app)
    assert markers(app)[0]["color"] == "#ff0000"
    [hint] = colorize_calls[-1]  # the result was made with the hint, at the screen copy's scale
    assert (hint.x, hint.y, hint.color) == (64, 48, "#ff0000")
    third = library_suggestions(compact_weights, gray_photo, 64, 48)[2]
    widget(app.get("button_group"), "Suggested by the model").set_value(third).run()
    no_problems(app)
    assert markers(app)[0]["color"] == third
    button(app, "Undo").click().run()
    assert markers(app)[0]["color"] == "#ff0000"
    button(app, "Undo").click().run()
    no_problems(app)
    assert markers(app)[0]["color"] == first


def test_move_remove_clear_and_undo(app, photo) -> None:
    upload(app, ("street.png", photo))
    add_hint(app)
    widget(app.number_input, "x").set_value(10.0).run()
    no_problems(app)
    assert markers(app)[0]["x"] == pytest.approx(10 / 128)
    add_hint(app)
    assert len(markers(app)) == 2
    button(app, "Remove hint").click().run()
    assert len(markers(app)) == 1
    button(app, "Clear").click().run()
    assert markers(app) == []
    button(app, "Undo").click().run()
    assert len(markers(app)) == 1
    assert markers(app)[0]["x"] == pytest.approx(10 / 128)


def test_selecting_a_hint_from_the_list(app, photo) -> None:
    upload(app, ("street.png", photo))
    add_hint(app)
    widget(app.number_input, "x").set_value(5.0).run()
    add_hint(app)
    assert [m["selected"] for m in markers(app)] == [False, True]
    widget(app.get("button_group"), "Hints").set_value(0).run()
    no_problems(app)
    assert [m["selected"] for m in markers(app)] == [True, False]
    assert widget(app.number_input, "x").value == pytest.approx(5.0)


# --------------------------------------------------------------------------- downloads


def test_download_is_full_resolution_png_or_jpeg(downloads, app, photo) -> None:
    upload(app, ("street.png", photo))
    png = downloads(app.get("download_button")[0])
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (128, 96))
    app.segmented_control(key="format").set_value("JPEG").run()
    no_problems(app)
    button_ = app.get("download_button")[0]
    assert button_.label == "Download JPEG" and button_.help.startswith("street_colorized.jpg")
    assert Image.open(io.BytesIO(downloads(button_))).format == "JPEG"


def test_download_all_as_zip(downloads, app, photo, gray_photo) -> None:
    upload(app, ("a.png", photo), ("a.png", png_bytes(gray_photo[:, ::-1].copy())))
    zipped = downloads(app.get("download_button")[1])
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        assert archive.namelist() == ["a_colorized.png", "a_colorized_2.png"]
        assert Image.open(io.BytesIO(archive.read("a_colorized_2.png"))).size == (128, 96)


# --------------------------------------------------------------------------- bad input


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's header)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"these are my holiday notes, not a photo\n", "cannot read"),
        (None, "cannot read"),  # a truncated PNG
        (_png_claiming(60_000, 60_000), "limit"),
    ],
    ids=["not-an-image", "corrupt", "decompression-bomb"],
)
def test_bad_files_get_a_message_and_good_ones_still_work(app, photo, content, expected) -> None:
    content = photo[: len(photo) // 2] if content is None else content
    upload(app, ("bad.png", content), ("good.png", photo))
    assert not app.exception
    [message] = [item.value for item in app.error]
    assert message.startswith("bad.png:") and expected in message
    assert view_data(app)["afterLabel"] == "Colorized"  # good.png is shown


def test_upload_above_the_size_limit(app) -> None:
    from streamlit import config

    noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)
    large = png_bytes(noise)
    assert len(large) > 1024 * 1024
    previous = config.get_option("server.maxUploadSize")
    config.set_option("server.maxUploadSize", 1)  # megabytes, as in the app's config.toml
    try:
        upload(app, ("large.png", large))
    finally:
        config.set_option("server.maxUploadSize", previous)
    assert not app.exception
    [message] = [item.value for item in app.error]
    assert (
        message.startswith("large.png:") and "larger than the limit of 1,048,576 bytes" in message
    )


def test_nothing_uploaded_is_written_to_disk(app, photo, tmp_path: Path, monkeypatch) -> None:
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(tmp_path)
    upload(app, ("street.png", photo))
    add_hint(app)
    no_problems(app)
    assert os.listdir(scratch) == []
    assert sorted(os.listdir(tmp_path)) == ["tmp"]


# --------------------------------------------------------------------------- the published architectures


@pytest.fixture(scope="module", params=["eccv16", "siggraph17"])
def published_random(request, tmp_path_factory) -> tuple[str, Path]:
    """``(name, weights file)``: a published architecture with random weights."""
    import torch

    from masterpiece.models import create_model
    from masterpiece.training.checkpoints import export_weights

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / f"{request.param}-random.safetensors"
    export_weights(path, create_model(request.param, pretrained=False))
    return request.param, path


@pytest.mark.slow
def test_published_architectures(published_random, photo, monkeypatch) -> None:
    import sys

    name, weights = published_random
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    app = start(["--model", name, "--weights", str(weights)])
    assert app.sidebar.selectbox(key="model").value == name
    upload(app, ("street.png", photo))
    no_problems(app)
    hints = name == "siggraph17"
    assert view_data(app)["hintsEnabled"] is hints
    if hints:
        add_hint(app)
        assert len(markers(app)) == 1
    else:
        assert "colorizes automatically" in app.main.info[0].value
        assert not [item for item in app.button if item.label == "Add"]
    app.sidebar.toggle(key="uncertainty").set_value(True).run()
    no_problems(app)
    assert view_data(app)["afterLabel"] == "Uncertainty"


# --------------------------------------------------------------------------- found by a review


def test_two_uploads_named_alike_can_both_be_chosen(app, photo, gray_photo) -> None:
    # Streamlit maps a choice back by its label: the first IMG_0001.jpg could never be chosen
    upload(app, ("IMG_0001.png", photo), ("IMG_0001.png", png_bytes(255 - gray_photo)))
    chooser = widget(app.selectbox, "Photo to edit")
    assert chooser.options == ["IMG_0001.png (1)", "IMG_0001.png (2)"]
    first = list(app.session_state["photos"])[0]
    chooser.set_value(first).run()
    app.sidebar.slider(key="saturation").set_value(1.5).run()  # any rerun
    assert widget(app.selectbox, "Photo to edit").value == first


def test_a_16_bit_upload_downloads_as_16_bit_png(downloads, app, gray_photo) -> None:
    deep = gray_photo.astype(np.uint16) * 257
    buffer = io.BytesIO()
    Image.fromarray(deep).save(buffer, "PNG")
    upload(app, ("deep.png", buffer.getvalue()))
    no_problems(app)
    import cv2

    png = downloads(app.get("download_button")[0])
    decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.startswith(b"\x89PNG") and decoded.dtype == np.uint16 and decoded.shape == (96, 128, 3)


def test_a_photo_too_wide_for_jpeg_says_so_instead_of_a_failing_button(app, photo) -> None:
    upload(app, ("wide.png", png_bytes(np.zeros((2, 70_000), np.uint8))), ("street.png", photo))
    widget(app.selectbox, "Photo to edit").select_index(0).run()
    app.segmented_control(key="format").set_value("JPEG").run()
    warnings = [item.value for item in app.warning]
    assert any("wide.png (70000x2) is too large for JPEG" in text and "choose PNG" in text for text in warnings)
    assert any("the zip cannot hold every photo as JPEG" in text for text in warnings)
    assert [item.label for item in app.get("download_button")] == []
    app.segmented_control(key="format").set_value("PNG").run()
    assert [item.label for item in app.get("download_button")] == ["Download PNG", "Download all 2 (zip)"]


def test_the_pixel_limit_message_says_what_a_browser_user_can_do(app) -> None:
    upload(app, ("big.png", _png_claiming(8000, 7000)))
    [message] = [item.value for item in app.error]
    assert "56,000,000 pixels" in message and "upload a smaller image" in message
    assert "MASTERPIECE_MAX_PIXELS" in message and "--max-pixels" not in message and "max_pixels=" not in message
