"""What one browser session keeps between reruns: its photos and recent results.

Uploads stay in memory (Streamlit holds them in memory too): nothing is written to disk.
Each upload is read once (:func:`read_upload`) and kept with a screen-sized copy; results
and predicted distributions are kept in small least-recently-used caches, so moving a slider
back, undoing a hint or switching photos does not run the network again.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import IO, Generic, TypeVar

import numpy as np

from ..errors import ImageTooLargeError, MasterpieceError
from ..pipeline.pixels import equalise_channels
from ..pipeline.repair import display_copy
from ..pipeline.decoding import LoadedImage, read_image
from ..settings import APP_MAX_PIXELS, MAX_PIXELS_ENV, max_pixels

__all__ = ["APP_MAX_PIXELS", "DISPLAY_SIDE", "LruCache", "Photo", "read_upload"]

#: longest side of the copies shown in the page (downloads are full resolution)
DISPLAY_SIDE = 1600

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Photo:
    """One uploaded file.

    Attributes:
        file_id: Streamlit's id of the upload (unique per upload).
        name: the file name as uploaded.
        image: the image read from it, or ``None`` when it could not be read.
        preview: ``(h, w, 3)`` float32 RGB in [0, 1], at most :data:`DISPLAY_SIDE` a side.
        error: why the file could not be read ("" when it could).
    """

    file_id: str
    name: str
    image: LoadedImage | None = None
    preview: np.ndarray | None = None
    error: str = ""

    @property
    def stem(self) -> str:
        return os.path.splitext(self.name)[0] or "photo"


def read_upload(file_id: str, upload: IO[bytes], max_bytes: int) -> Photo:
    """Read an uploaded file (a binary file object with a ``name``, such as Streamlit's
    ``UploadedFile``). A file that is not a readable image gives a :class:`Photo` whose
    ``error`` says what is wrong, instead of raising. Images above :data:`~masterpiece.settings.APP_MAX_PIXELS`
    are refused unless ``$MASTERPIECE_MAX_PIXELS`` sets another limit (:mod:`masterpiece.settings`;
    an invalid value is the photo's error too)."""
    name = str(getattr(upload, "name", "") or "photo")
    upload.seek(0)
    try:
        image = read_image(upload, max_bytes=max_bytes, max_pixels=max_pixels(default=APP_MAX_PIXELS))
    except ImageTooLargeError as error:  # its advice is the CLI's (--max-pixels): not the browser's
        what = str(error).split("; ", 1)[0]
        return Photo(file_id, name, error=f"{what}; upload a smaller image (whoever runs the app can raise "
                                           f"the limit with {MAX_PIXELS_ENV})")
    except MasterpieceError as error:
        return Photo(file_id, name, error=str(error))
    # from the decoded pixels: image.rgb would keep a float32 copy of the whole scan (12 bytes a
    # pixel) in the session for as long as the upload stays
    preview = display_copy(image.pixels, DISPLAY_SIDE)
    if image.is_grayscale and image.pixels.ndim == 3:  # a gray photo stored as RGB: gray on screen
        equalise_channels(preview)
    return Photo(file_id, name, image=image, preview=preview)


class LruCache(Generic[T]):
    """At most ``size`` values, the least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, T] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value for ``key``, computed (and kept) when absent."""
        if key in self._values:
            self._values.move_to_end(key)
            return self._values[key]
        value = compute()
        self._values[key] = value
        while len(self._values) > self.size:
            self._values.popitem(last=False)
        return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._values
