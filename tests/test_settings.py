"""masterpiece.settings: every environment variable, its parsing, its error and its documentation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from masterpiece import settings
from masterpiece.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "masterpiece"


def test_the_module_imports_no_heavy_library() -> None:
    code = (
        "import sys, masterpiece.settings; "
        "print(sorted(m for m in ('numpy', 'torch', 'PIL', 'cv2', 'onnxruntime') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_cache_directory(tmp_path: Path) -> None:
    assert settings.cache_directory({}) is None
    assert settings.cache_directory({"MASTERPIECE_CACHE": "  "}) is None
    assert settings.cache_directory({"MASTERPIECE_CACHE": str(tmp_path)}) == tmp_path
    assert settings.cache_directory({"MASTERPIECE_CACHE": "~/weights"}) == Path.home() / "weights"


@pytest.mark.parametrize(("raw", "expected"), [("", False), ("1", True), ("TRUE", True), (" yes ", True),
                                               ("on", True), ("0", False), ("false", False), ("No", False),
                                               ("off", False)])
def test_offline(raw: str, expected: bool) -> None:
    assert settings.offline({"MASTERPIECE_OFFLINE": raw}) is expected


def test_offline_refuses_what_is_neither_yes_nor_no() -> None:
    with pytest.raises(ConfigError, match=r"MASTERPIECE_OFFLINE='maybe' is not a yes or no; set it to 1 \(yes\) or 0"):
        settings.offline({"MASTERPIECE_OFFLINE": "maybe"})


def test_precision() -> None:
    assert settings.precision({}) == settings.DEFAULT_PRECISION == "auto"
    assert settings.precision({"MASTERPIECE_PRECISION": " BF16 "}) == "bf16"
    for name in settings.PRECISIONS:
        assert settings.precision({"MASTERPIECE_PRECISION": name}) == name
    with pytest.raises(ConfigError, match=r"MASTERPIECE_PRECISION='Fast' is not one of auto, fp32, bf16, int8; "
                       r"set it to one of them, e.g. fp32, or unset it for the default \(auto\)"):
        settings.precision({"MASTERPIECE_PRECISION": "Fast"})


def test_max_pixels() -> None:
    assert settings.max_pixels(environ={}) == settings.DEFAULT_MAX_PIXELS == 200_000_000
    assert settings.max_pixels(default=50, environ={}) == 50
    assert settings.max_pixels(default=None, environ={"MASTERPIECE_MAX_PIXELS": ""}) is None
    assert settings.max_pixels(environ={"MASTERPIECE_MAX_PIXELS": " 1000 "}) == 1000
    assert settings.max_pixels(environ={"MASTERPIECE_MAX_PIXELS": "0"}) is None  # no limit, as --max-pixels 0


@pytest.mark.parametrize("raw", ["lots", "-3", "1e6", "2.5"])
def test_max_pixels_refuses_what_is_not_a_number_of_pixels(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings.max_pixels(environ={"MASTERPIECE_MAX_PIXELS": raw})
    assert str(caught.value) == (
        f"MASTERPIECE_MAX_PIXELS={raw!r} is not a whole number of pixels; set it to e.g. 200000000 "
        "(0 for no limit), or unset it for the default (200000000)"
    )


def test_workers() -> None:
    assert settings.workers({}) is None
    assert settings.workers({"MASTERPIECE_WORKERS": "3"}) == 3
    assert settings.workers({"MASTERPIECE_WORKERS": " 1 "}) == 1


@pytest.mark.parametrize("raw", ["abc", "-3", "0", "1.5"])
def test_workers_refuses_what_is_not_a_positive_whole_number(raw: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"MASTERPIECE_WORKERS={raw!r} is not a whole number of files "
                                                    "at once, 1 or more; set it to e.g. 2")):
        settings.workers({"MASTERPIECE_WORKERS": raw})


def test_ort_threads() -> None:
    assert settings.ort_threads({}) is None
    assert settings.ort_threads({"MASTERPIECE_ORT_THREADS": "3"}) == 3
    for bad in ("auto", "0", "-2"):
        with pytest.raises(ConfigError, match=f"MASTERPIECE_ORT_THREADS='{bad}' is not a positive whole number"):
            settings.ort_threads({"MASTERPIECE_ORT_THREADS": bad})


def test_readers_look_at_the_environment_when_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTERPIECE_WORKERS", "5")
    monkeypatch.setenv("MASTERPIECE_PRECISION", "int8")
    assert settings.workers() == 5 and settings.precision() == "int8"
    monkeypatch.delenv("MASTERPIECE_WORKERS")
    assert settings.workers() is None


def test_api_key() -> None:
    assert settings.api_key({}) is None and settings.api_key({"MASTERPIECE_API_KEY": "  "}) is None
    assert settings.api_key({"MASTERPIECE_API_KEY": " s3cret "}) == "s3cret"


def test_serve_variables_are_named_after_the_fields() -> None:
    assert settings.serve_variable("queue_timeout_s") == "MASTERPIECE_SERVE_QUEUE_TIMEOUT"
    assert settings.serve_variable("max_pixels") == "MASTERPIECE_SERVE_MAX_PIXELS"
    assert settings.serve_variable("api_key") == "MASTERPIECE_API_KEY"


def test_serve_values() -> None:
    environ = {
        "MASTERPIECE_SERVE_MAX_UPLOAD_BYTES": "1024",
        "MASTERPIECE_SERVE_MAX_PIXELS": "0",
        "MASTERPIECE_SERVE_MAX_CONCURRENT": "3",
        "MASTERPIECE_SERVE_MAX_QUEUE": "0",
        "MASTERPIECE_SERVE_QUEUE_TIMEOUT": "0.5",
        "MASTERPIECE_SERVE_REQUEST_TIMEOUT": "30",
        "MASTERPIECE_SERVE_MODEL": "compact",
        "MASTERPIECE_SERVE_WEIGHTS": "w.safetensors",
        "MASTERPIECE_SERVE_DEVICE": "cuda:1",
        "MASTERPIECE_SERVE_PRELOAD": "off",
        "MASTERPIECE_API_KEY": " key ",
        "MASTERPIECE_SERVE_UNKNOWN": "ignored",
    }
    assert settings.serve_values(environ) == {
        "max_upload_bytes": 1024, "max_pixels": None, "max_concurrent": 3, "max_queue": 0,
        "queue_timeout_s": 0.5, "request_timeout_s": 30.0, "model": "compact", "weights": Path("w.safetensors"),
        "device": "cuda:1", "preload": False, "api_key": "key",
    }
    assert settings.serve_values({}) == {}
    assert settings.serve_values({"MASTERPIECE_SERVE_PRELOAD": "1"}) == {"preload": True}
    assert set(settings.SERVE_DEFAULTS) == set(settings._SERVE_PARSERS)


@pytest.mark.parametrize(
    ("name", "raw", "words"),
    [
        ("MASTERPIECE_SERVE_MAX_UPLOAD_BYTES", "50MB", "is not a whole number of bytes, 1 or more; set it to e.g. 5242"),
        ("MASTERPIECE_SERVE_MAX_UPLOAD_BYTES", "0", "is not a whole number of bytes, 1 or more"),
        ("MASTERPIECE_SERVE_MAX_PIXELS", "-1", r"is not a whole number of pixels; set it to e.g. 50000000 \(0 for no"),
        ("MASTERPIECE_SERVE_MAX_CONCURRENT", "two", "is not a whole number, 1 or more; set it to e.g. 2,"),
        ("MASTERPIECE_SERVE_MAX_CONCURRENT", "0", "is not a whole number, 1 or more"),
        ("MASTERPIECE_SERVE_MAX_QUEUE", "-1", "is not a whole number, 0 or more; set it to e.g. 16,"),
        ("MASTERPIECE_SERVE_QUEUE_TIMEOUT", "inf", r"is not a finite number of seconds above 0; set it to e.g. 5, .*\(5\)$"),
        ("MASTERPIECE_SERVE_QUEUE_TIMEOUT", "nan", "is not a finite number of seconds above 0"),
        ("MASTERPIECE_SERVE_REQUEST_TIMEOUT", "0", "is not a finite number of seconds above 0; set it to e.g. 60,"),
        ("MASTERPIECE_SERVE_REQUEST_TIMEOUT", "1 minute", "is not a finite number of seconds"),
        ("MASTERPIECE_SERVE_PRELOAD", "sometimes", "is not a yes or no"),
    ],
)
def test_serve_values_refuse_unusable_values(name: str, raw: str, words: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(name)}={re.escape(repr(raw))} {words}"):
        settings.serve_values({name: raw})


def test_shared_defaults_are_the_ones_the_library_uses() -> None:
    import inspect

    from masterpiece.color.annealed import annealed_mean
    from masterpiece.models import DEFAULT_TEMPERATURE
    from masterpiece.models.runtime import PRECISIONS
    from masterpiece.pipeline.decoding import DEFAULT_MAX_PIXELS
    from masterpiece.pipeline.encoding import write_image
    from masterpiece.pipeline.image import Colorizer

    assert DEFAULT_TEMPERATURE == settings.DEFAULT_TEMPERATURE == 0.38
    assert annealed_mean.__defaults__ == (settings.DEFAULT_TEMPERATURE,)
    assert PRECISIONS is settings.PRECISIONS and DEFAULT_MAX_PIXELS is settings.DEFAULT_MAX_PIXELS
    colorizer = inspect.signature(Colorizer).parameters
    assert colorizer["size"].default == settings.DEFAULT_SIZE == 256
    assert colorizer["temperature"].default == settings.DEFAULT_TEMPERATURE
    assert inspect.signature(write_image).parameters["quality"].default == settings.DEFAULT_QUALITY == 95


def test_no_other_module_names_a_variable() -> None:
    """Every ``MASTERPIECE_*`` string (not a docstring's mention) is written here only."""
    pattern = re.compile(r"""["']MASTERPIECE_""")
    offenders = [str(path.relative_to(SOURCE)) for path in SOURCE.rglob("*.py")
                 if path.name != "settings.py" or path.parent != SOURCE
                 if pattern.search(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_every_variable_the_sources_mention_is_documented() -> None:
    documented = {variable.name for variable in settings.VARIABLES}
    mentioned = set()
    for path in SOURCE.rglob("*.py"):
        mentioned |= set(re.findall(r"MASTERPIECE_[A-Z_]*[A-Z]", path.read_text(encoding="utf-8")))
    assert mentioned - {"MASTERPIECE_SERVE"} <= documented  # MASTERPIECE_SERVE_* is the family


def readme_table() -> str:
    """The README's table of variables, as :data:`settings.VARIABLES` writes it."""
    rows = ["| variable | meaning | accepted values | default |", "|---|---|---|---|"]
    rows += [f"| `{v.name}` | {v.meaning} | {v.accepted} | {v.default} |" for v in settings.VARIABLES]
    return "\n".join(rows)


def test_the_readme_has_one_table_of_every_variable() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_table() in readme, "regenerate the README table: print(tests.test_settings.readme_table())"
    table_start = readme.index(readme_table())
    outside = readme[:table_start] + readme[table_start + len(readme_table()):]
    # elsewhere a variable is only mentioned next to a link to the table
    for line in outside.splitlines():
        if re.search(r"MASTERPIECE_[A-Z]", line):
            assert "(#environment-variables)" in line, line
