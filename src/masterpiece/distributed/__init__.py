"""Colorizing archives on a Ray cluster (``masterpiece batch --ray``).

Needs the ``ray`` extra: ``pip install 'masterpiece[ray]'`` (Ray is imported only when used).

::

    from functools import partial
    from masterpiece import Colorizer
    from masterpiece.distributed import colorize_files_on_ray, ray_session

    with ray_session("auto"):                       # or None: a local instance
        for result in colorize_files_on_ray(pairs, partial(Colorizer, "compact")):
            print(result.source, result.status, result.message)
"""

from __future__ import annotations

from .ray_batch import (
    FileResult,
    check_ray_address,
    colorize_files_on_ray,
    colorize_or_skip,
    ray_session,
)

__all__ = [
    "FileResult",
    "check_ray_address",
    "colorize_files_on_ray",
    "colorize_or_skip",
    "ray_session",
]
