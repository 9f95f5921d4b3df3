"""Tests for masterpiece.atomic: the package's one atomic writer and its OS-error advice."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from masterpiece import atomic
from masterpiece.errors import OutputError


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def test_atomic_path_puts_the_file_in_place_only_at_the_end(tmp_path: Path) -> None:
    destination = tmp_path / "deep" / "weights.safetensors"
    with atomic.atomic_path(destination) as temporary:
        assert temporary.parent == destination.parent and temporary.name.startswith(".weights.safetensors.")
        assert temporary.name.endswith(".part")
        temporary.write_bytes(b"complete")
        assert not destination.exists()  # nothing at the destination while writing
    assert destination.read_bytes() == b"complete"
    assert _leftovers(destination.parent) == []


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    destination = tmp_path / "model.onnx"
    destination.write_bytes(b"the user's file")
    with pytest.raises(KeyboardInterrupt), atomic.atomic_path(destination) as temporary:
        temporary.write_bytes(b"half")
        raise KeyboardInterrupt
    assert destination.read_bytes() == b"the user's file"
    assert _leftovers(tmp_path) == []


def test_what_the_block_raises_passes_through_unchanged(tmp_path: Path) -> None:
    # a network error inside a download must stay a network error, not become an output error
    with pytest.raises(ConnectionResetError), atomic.atomic_path(tmp_path / "f.bin"):
        raise ConnectionResetError(errno.ECONNRESET, "reset")
    assert _leftovers(tmp_path) == []


def test_a_block_that_writes_nothing_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="f.bin"), atomic.atomic_path(tmp_path / "f.bin"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_keep_extension_and_mode(tmp_path: Path) -> None:
    destination = tmp_path / "film.mp4"
    with atomic.atomic_path(destination, keep_extension=True, mode=0o640) as temporary:
        assert temporary.name.startswith(".film.") and temporary.name.endswith(".part.mp4")
        temporary.write_bytes(b"video")
        os.chmod(temporary, 0o600)
    assert stat.S_IMODE(destination.stat().st_mode) == 0o640


def test_the_rename_is_durable_and_its_failure_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda descriptor: (synced.append(descriptor), real_fsync(descriptor)))
    atomic.write_bytes_atomically(tmp_path / "a.png", [b"ab", memoryview(b"cd")])
    assert (tmp_path / "a.png").read_bytes() == b"abcd" and synced

    def full_disk(source: object, target: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full_disk)
    with pytest.raises(OutputError, match="the disk is full; free some space") as raised:
        with atomic.atomic_path(tmp_path / "b.bin") as temporary:
            temporary.write_bytes(b"x")
    assert raised.value.errno == errno.ENOSPC and raised.value.errno in atomic.REFUSED_WRITE_ERRNOS
    with pytest.raises(OutputError, match="the disk is full"):
        atomic.write_bytes_atomically(tmp_path / "c.bin", b"x")
    assert _leftovers(tmp_path) == []


def test_scratch_files_go_whatever_happens(tmp_path: Path) -> None:
    with atomic.scratch_sibling(tmp_path / "out.onnx") as scratch:
        scratch.write_bytes(b"intermediate")
    assert not scratch.exists()
    with pytest.raises(ValueError), atomic.scratch_sibling(tmp_path / "out.onnx") as scratch:
        scratch.write_bytes(b"intermediate")
        raise ValueError
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("code", "refused", "advice"),
    [
        (errno.EACCES, True, "choose a folder you can write to"),
        (errno.EROFS, True, "write to another location"),
        (errno.EDQUOT, True, "free some space"),
        (errno.ENAMETOOLONG, False, "check the output path"),
    ],
)
def test_output_errors_say_what_to_do(code: int, refused: bool, advice: str) -> None:
    error = atomic.output_error(Path("/scans/out.tif"), OSError(code, os.strerror(code)))
    assert "'/scans/out.tif'" in str(error) and advice in str(error)
    assert error.errno == code and (code in atomic.REFUSED_WRITE_ERRNOS) is refused


def test_stale_temporaries_of_the_destinations_are_removed_and_nothing_else(tmp_path: Path) -> None:
    photo, clip = tmp_path / "photo.png", tmp_path / "sub" / "clip.mp4"
    clip.parent.mkdir()
    stale = [atomic.temporary_sibling(photo), atomic.temporary_sibling(clip, keep_extension=True)]
    kept = [photo, tmp_path / ".photo.png.part", tmp_path / ".photo.png.notes", tmp_path / ".photo.png.zzzzzzzz.part",
            atomic.temporary_sibling(tmp_path / "other.png"), atomic.temporary_sibling(tmp_path / "sub" / "clip.mkv",
                                                                                       keep_extension=True)]
    for path in stale + kept:
        path.write_bytes(b"x")
    (tmp_path / f".{photo.name}.0123abcd.part.d").mkdir()  # a folder is never removed
    assert atomic.remove_stale_temporaries([photo, clip, tmp_path / "missing" / "x.png"]) == 2
    assert not any(path.exists() for path in stale) and all(path.exists() for path in kept)
