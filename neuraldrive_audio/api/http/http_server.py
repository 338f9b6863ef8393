"""Serving the API with uvicorn, without uvicorn's ten wake-ups a second while idle.

uvicorn's main loop sleeps 0.1 s between ticks only to notice a shutdown request and to
refresh the Date header once a second; idle, those wake-ups were most of the API's CPU.
Here the loop ticks once a second (the Date header keeps its one-second resolution) and a
shutdown signal wakes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI

from neuraldrive_audio.queue import wake

TICK_S = 1.0

STARTUP_FAILURE = 3
"""uvicorn's exit code when the server did not start."""


class QuietServer(uvicorn.Server):
    """uvicorn's server with a one-second tick that a signal cuts short."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_requested = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        """Tick (uvicorn's housekeeping, every tick a full one) until told to exit."""
        self._loop = asyncio.get_running_loop()
        while not await self.on_tick(0):  # counter 0: the Date header is refreshed each tick
            await wake.wait_until_set(self._exit_requested, TICK_S)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """uvicorn's signal handler, then wake the main loop (it runs on the same thread)."""
        super().handle_exit(sig, frame)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._exit_requested.set)


def run(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until SIGINT/SIGTERM, as ``uvicorn.run`` does (exit 3 if it never started)."""
    server = QuietServer(uvicorn.Config(app, host=host, port=port, log_config=None))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
