"""The API's uvicorn server ticks rarely and still stops at once on a signal (no models)."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from neuraldrive_audio.api import http_server
from neuraldrive_audio.api.http_server import QuietServer
from tests.harness import free_port


def test_idle_ticks_are_rare_and_a_signal_stops_the_server_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_server, "TICK_S", 3600.0)  # only the signal can end the wait
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    port = free_port()
    server = QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    ticks = 0
    on_tick = server.on_tick
    serving = threading.Event()

    async def counting(counter: int) -> bool:
        nonlocal ticks
        ticks += 1
        serving.set()  # the main loop's first tick comes after start-up
        return await on_tick(counter)

    server.on_tick = counting  # type: ignore[method-assign]
    # Off the main thread uvicorn installs no signal handlers (pytest keeps its own); the
    # test calls the handler itself, from another thread, as a signal would.
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        assert serving.wait(60)
        response = httpx.get(f"http://127.0.0.1:{port}/ping")
        assert response.json() == {"ok": True} and response.headers["date"]
        time.sleep(0.5)
        assert ticks == 1  # uvicorn's own loop ticks every 0.1 s
    finally:
        server.handle_exit(signal.SIGTERM, None)
        thread.join(60)
    assert not thread.is_alive() and ticks == 2
