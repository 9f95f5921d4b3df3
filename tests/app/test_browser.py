"""The app in a real browser: Debian's chromium, headless, driven by Playwright.

Starts ``masterpiece app`` (random compact weights), uploads a photograph, waits for the
colorized result, places a hint by clicking the photo, drags the comparison divider, turns
on the uncertainty view, and saves screenshots at desktop and phone widths under
``test-artifacts/browser/``. Also checks that the page makes no request beyond the app's own
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

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

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
PHOTO = REPO_ROOT / "examples" / "astronaut_bw.jpg"
TIMEOUT_MS = 120_000
START_TIMEOUT_S = 120
VIEW = '[data-testid="mp-photo"]'
RESULT = f'{VIEW} img.mp-after[src^="data:"]'
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
def app_url(compact_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``masterpiece app`` serving the random compact model; its address."""
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
        "--weights",
        str(compact_weights),
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
    """A new page at the app with :data:`PHOTO` uploaded and colorized; and its foreign requests."""
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
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(PHOTO))
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


def test_desktop_upload_hint_compare_uncertainty(browser, app_url: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, foreign = _open_with_photo(browser, app_url, viewport={"width": 1366, "height": 1300})
    _settle(page)
    page.screenshot(path=ARTIFACTS / "desktop-result.png", full_page=True)

    _click_photo(page, 0.72, 0.35)
    page.wait_for_selector(PLACED)
    page.wait_for_selector("text=Suggested by the model")
    _settle(page)
    assert page.locator(PLACED).count() == 1
    style = page.locator(PLACED).get_attribute("style")
    assert "left: 72" in style and "top: 35" in style
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
    ImageOps.mirror(Image.open(PHOTO)).save(mirrored)
    context = browser.new_context(viewport={"width": 1366, "height": 1300})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(app_url)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        [str(PHOTO), str(mirrored)]
    )
    page.wait_for_selector("text=Gallery (2 photos)")
    page.wait_for_selector(RESULT)
    page.wait_for_selector("text=Download all 2 (zip)", state="attached")
    _settle(page)
    assert page.locator('[data-testid="stImage"]').count() == 2
    page.screenshot(path=ARTIFACTS / "desktop-gallery.png", full_page=True)
