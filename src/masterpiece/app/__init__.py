"""The Masterpiece web app: colorize photographs in the browser (Streamlit).

Start it with ``masterpiece app`` (see :mod:`masterpiece.cli.app`), or with
``streamlit run`` on :data:`PAGE`; its Streamlit settings (upload limit, no usage statistics,
no first-run e-mail prompt, no error tracebacks in the page) are in ``.streamlit/config.toml``
next to the page, which Streamlit reads for the script it runs. The page holds no image maths: it calls
:mod:`masterpiece.pipeline`.

Modules: ``page`` (the page's layout), ``studio`` (what it computes, through the library,
cached for the session), ``hint_panel`` (the colour-hint controls), ``hints`` (a photo's
hints with selection and undo), ``photo_view`` (the before/after component where clicks
place hints), ``session`` (uploaded photos, a small cache), ``catalogue`` (which models can
be offered; loading them once for all sessions).

Importing this package does not import Streamlit or torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["CONFIG_FILE", "PAGE"]

#: the Streamlit script of the app
PAGE: Final = Path(__file__).with_name("page.py")
#: the app's Streamlit settings, read by Streamlit for :data:`PAGE`
CONFIG_FILE: Final = Path(__file__).parent / ".streamlit" / "config.toml"
