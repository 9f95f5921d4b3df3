"""The app in a real browser: Debian's chromium, headless, driven by Playwright.

Starts ``masterpiece app`` on the bundled compact model (its shipped weights), uploads a
photograph, waits for the colorized result and checks that it is colourful, places a hint by
clicking the photo and makes it blue with the colour picker (the region around it must turn
blue), drags the comparison divider, turns on the uncertainty view, and saves screenshots at
desktop and phone widths under ``test-artifacts/browser/``. The result is measured as the page
shows it: the colorized image the browser holds. Also checks that the page makes no request beyond the app's own
address (it must work offline).

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``) and the ``playwright`` package
(``pip install -e '.[browser]'``); the system browser is used, Playwright never downloads one.
Skipped, with the reason, when either is missing. Run with ``pytest -m browser``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from .conftest import (
    ASTRONAUT,
    BLUE,
    COLOURFUL_CHROMA,
    COLOURFUL_SPREAD,
    REPO_ROOT,
    SUIT,
    assert_turned_towards,
    colourfulness,
    data_url_image,
    region_ab,
)

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
TIMEOUT_MS = 120_000
START_TIMEOUT_S = 120
VIEW = '[data-testid="mp-photo"]'
AFTER = f"{VIEW} img.mp-after"
RESULT = f'{AFTER}[src^="data:"]'
PLACED = f"{VIEW} .mp-marker:not(.mp-pending)"


def _skip_without_browser() -> None:
    if importlib.util.find_spec("streamlit") is None:
        pytest.skip("Streamlit is not installed (pip install -e '.[app]')")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the playwright package is not installed (pip install -e '.[browser]')")
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing (apt-get install -y chromium); Playwright's own "
            "browser download is not used"
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"masterpiece app exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the app at {url} did not answer within {START_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``masterpiece app`` serving the bundled compact model; its address."""
    _skip_without_browser()
    port = _free_port()
    env = dict(os.environ, MASTERPIECE_CACHE=str(tmp_path_factory.mktemp("app-cache")))
    command = [
        sys.executable,
        "-m",
        "masterpiece.cli",
        "app",
        "--no-browser",
        "--port",
        str(port),
        "--model",
        "compact",
    ]
    log = tmp_path_factory.mktemp("app-log") / "app.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process)
        assert f"Masterpiece app: {url}" in log.read_text()
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the CLI and the Streamlit server it started
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def browser(app_url: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open_with_photo(browser, app_url: str, **context_options):
    """A new page at the app with :data:`ASTRONAUT` uploaded and colorized; and its foreign requests."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    foreign: list[str] = []
    page.on(
        "request",
        lambda request: (
            foreign.append(request.url)
            if not request.url.startswith((app_url, "data:", "blob:"))
            else None
        ),
    )
    page.goto(app_url)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(ASTRONAUT))
    page.wait_for_selector(RESULT)
    page.wait_for_selector("text=Download PNG", state="attached")
    return page, foreign


def _click_photo(page, fx: float, fy: float) -> None:
    box = page.locator(VIEW).bounding_box()
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def _settle(page) -> None:
    """Wait for the script run to end (Streamlit's running indicator gone)."""
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')")
    page.wait_for_timeout(500)


def _result(page) -> np.ndarray:
    """The colorized image the page shows, ``(H, W, 3)`` uint8."""
    return data_url_image(page.locator(AFTER).get_attribute("src"))


def _assert_colourful(page) -> np.ndarray:
    result = _result(page)
    chroma, spread = colourfulness(result)
    assert chroma > COLOURFUL_CHROMA and spread > COLOURFUL_SPREAD, (chroma, spread)
    return result


def _recolour_selected_hint(page, colour: str) -> None:
    """Set the selected hint's colour with the colour picker; wait for the run that follows.

    The marker's colour and the colorized image come to the photo component together, so
    the marker turning ``colour`` means the image shown is the one made with it.
    """
    from playwright.sync_api import expect

    page.locator('[data-testid="stColorPickerBlock"]').click()
    field = page.locator('[data-testid="stColorPickerPopover"] input').first
    field.fill(colour)
    field.press("Enter")
    page.keyboard.press("Escape")  # closing the popover sends the colour
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    page.wait_for_selector(f"{PLACED}[style*='background: rgb({red}, {green}, {blue})']")
    # the run has ended when the hint editor of the last run (greyed out) is gone
    expect(page.locator('[data-testid="stColorPicker"]')).to_have_count(1, timeout=TIMEOUT_MS)
    _settle(page)


def test_desktop_upload_hint_compare_uncertainty(browser, app_url: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, foreign = _open_with_photo(browser, app_url, viewport={"width": 1366, "height": 1300})
    _settle(page)
    page.screenshot(path=ARTIFACTS / "desktop-result.png", full_page=True)
    unhinted = _assert_colourful(page)

    _click_photo(page, *SUIT)
    page.wait_for_selector(PLACED)
    page.wait_for_selector("text=Suggested by the model")
    _settle(page)
    assert page.locator(PLACED).count() == 1
    style = page.locator(PLACED).get_attribute("style")
    assert "left: 17" in style and "top: 62" in style
    _recolour_selected_hint(page, BLUE)
    assert page.locator(PLACED).count() == 1
    assert_turned_towards(region_ab(unhinted, *SUIT), region_ab(_result(page), *SUIT), BLUE)
    page.screenshot(path=ARTIFACTS / "desktop-hint.png", full_page=True)

    knob = page.locator(f"{VIEW} .mp-knob").bounding_box()
    box = page.locator(VIEW).bounding_box()
    page.mouse.move(knob["x"] + knob["width"] / 2, knob["y"] + knob["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.25 * box["width"], knob["y"], steps=5)
    page.mouse.up()
    clip = page.locator(f"{VIEW} img.mp-before").evaluate("image => image.style.clipPath")
    assert clip.startswith(("inset(0px 7", "inset(0 7")), clip
    assert page.locator(PLACED).count() == 1  # dragging the divider placed no hint

    page.get_by_text("Show uncertainty").click()
    page.wait_for_selector(f"{VIEW} .mp-label-after:text('Uncertainty')")
    _settle(page)
    page.screenshot(path=ARTIFACTS / "desktop-uncertainty.png", full_page=True)
    assert foreign == [], f"the page fetched from elsewhere: {foreign}"


def test_phone_upload_and_hint(browser, app_url: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, foreign = _open_with_photo(
        browser,
        app_url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    _settle(page)
    _assert_colourful(page)
    page.locator(VIEW).scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "phone-result.png", full_page=True)
    box = page.locator(VIEW).bounding_box()
    page.touchscreen.tap(box["x"] + 0.3 * box["width"], box["y"] + 0.6 * box["height"])
    page.wait_for_selector(PLACED)
    page.wait_for_selector("text=Suggested by the model")
    _settle(page)
    page.screenshot(path=ARTIFACTS / "phone-hint.png", full_page=True)
    page.get_by_text("Suggested by the model").scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "phone-hint-panel.png")
    assert foreign == [], f"the page fetched from elsewhere: {foreign}"


def test_desktop_gallery(browser, app_url: str, tmp_path: Path) -> None:
    from PIL import Image, ImageOps

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    mirrored = tmp_path / "astronaut_mirrored.png"
    ImageOps.mirror(Image.open(ASTRONAUT)).save(mirrored)
    context = browser.new_context(viewport={"width": 1366, "height": 1300})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(app_url)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        [str(ASTRONAUT), str(mirrored)]
    )
    page.wait_for_selector("text=Gallery (2 photos)")
    page.wait_for_selector(RESULT)
    page.wait_for_selector("text=Download all 2 (zip)", state="attached")
    _settle(page)
    assert page.locator('[data-testid="stImage"]').count() == 2
    page.screenshot(path=ARTIFACTS / "desktop-gallery.png", full_page=True)
