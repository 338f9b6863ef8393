"""The voice console: static pages served at ``/console/``.

The pages are public (they hold no data); every call they make carries the API key.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import neuraldrive_audio

CONSOLE_DIR = Path(neuraldrive_audio.__file__).parent / "console"
CONSOLE_PATH = "/console"


def mount_console(app: FastAPI) -> None:
    """Serve the console's files (``/console`` redirects to ``/console/``)."""
    app.mount(CONSOLE_PATH, StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
