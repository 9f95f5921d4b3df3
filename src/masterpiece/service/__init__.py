"""The HTTP service (``masterpiece serve``): colorization behind FastAPI, with limits.

Needs the ``serve`` extra: ``pip install 'masterpiece[serve]'``.

::

    from masterpiece.service import ServiceSettings, create_app

    app = create_app(ServiceSettings(max_concurrent=4, api_key="secret"))
"""

from __future__ import annotations

from .app import create_app
from .settings import API_KEY_ENV, ServiceSettings

__all__ = ["API_KEY_ENV", "ServiceSettings", "create_app"]
