"""Tests for masterpiece.pipeline.folders: the folder walk and the mirrored output paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from masterpiece.errors import (
    InvalidInputError,
    OutputExistsError,
)
from masterpiece.pipeline.folders import iter_image_files, output_path_for
from masterpiece.pipeline.formats import SUPPORTED_EXTENSIONS


def test_output_path_for_mirrors_the_tree(tmp_path: Path) -> None:
    source_root, output_root = tmp_path / "in", tmp_path / "out"
    photo = source_root / "1950s" / "dad.JPG"
    assert output_path_for(photo, source_root, output_root) == output_root / "1950s" / "dad.JPG"
    assert output_path_for(photo, source_root, output_root, suffix="_color", extension="png") == (
        output_root / "1950s" / "dad_color.png"
    )
    assert output_path_for(source_root / "a.gif", source_root, output_root) == output_root / "a.png"
    with pytest.raises(InvalidInputError, match="not inside"):
        output_path_for(tmp_path / "elsewhere.jpg", source_root, output_root)
    with pytest.raises(InvalidInputError, match="gif"):
        output_path_for(photo, source_root, output_root, extension=".gif")
    with pytest.raises(OutputExistsError, match="overwrite the input"):
        output_path_for(photo, source_root, source_root)
    assert output_path_for(photo, source_root, source_root, suffix="_color").name == "dad_color.JPG"


def test_iter_image_files(tmp_path: Path) -> None:
    for name in ["b.jpg", "a.PNG", "notes.txt", ".hidden.jpg", ".x.jpg.1a2b3c4d.part", "sub/c.tiff",
                 "sub/deeper/d.webp", ".git/e.png", "z.gif"]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "broken.jpg").symlink_to(tmp_path / "gone.jpg")
    found = [path.relative_to(tmp_path).as_posix() for path in iter_image_files(tmp_path)]
    # a broken link is yielded so that reading it reports it (see tests/robustness)
    assert found == ["a.PNG", "b.jpg", "broken.jpg", "sub/c.tiff", "sub/deeper/d.webp", "z.gif"]
    with pytest.raises(InvalidInputError, match="not a folder"):
        iter_image_files(tmp_path / "b.jpg")
    with pytest.raises(InvalidInputError, match="no such file"):
        iter_image_files(tmp_path / "missing")
    assert set(SUPPORTED_EXTENSIONS) >= {".jpg", ".png", ".tif", ".webp", ".bmp"}
