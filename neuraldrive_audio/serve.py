"""``neuraldrive-audio serve``: API, N workers and (if needed) an embedded Redis in one command."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys

from neuraldrive_audio.api import http_server
from neuraldrive_audio.api.app import create_app
from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue.embedded import EmbeddedQueue, start_embedded_queue
from neuraldrive_audio.storage.demo_models import register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from neuraldrive_audio.supervisor import Supervisor

log = logging.getLogger(__name__)


def ensure_api_key(settings: Settings) -> str:
    """The configured key, or a new one saved in the data dir (printed once)."""
    key = settings.resolve_api_key()
    if key:
        return key
    key = "nda-" + secrets.token_urlsafe(24)
    path = settings.data_dir / "api.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    print(f"Generated an API key (saved in {path}):\n\n    {key}\n", file=sys.stderr, flush=True)
    return key


def _exit_on_signal(signum: int, frame: object) -> None:
    # uvicorn catches SIGTERM/SIGINT, shuts the API down, then raises the signal again.
    # SIGTERM's default action would end the process right there, skipping the cleanup
    # below and orphaning redis-server and the workers; an exception runs it.
    raise SystemExit(128 + signum)


def announce_api(settings: Settings) -> str:
    """Tell the command-line clients of this data dir where the API listens; returns the URL."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    url = f"http://{host}:{settings.port}"
    path = settings.announced_url_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(url + "\n")
    return url


def withdraw_api(settings: Settings, url: str) -> None:
    """Remove the announcement, unless another serve has written its own since."""
    with contextlib.suppress(OSError):
        if settings.announced_url_file.read_text().strip() == url:
            settings.announced_url_file.unlink()


def serve(settings: Settings, workers: int, demo: bool) -> None:
    """Run everything until Ctrl-C."""
    key = ensure_api_key(settings)
    if demo:
        installed = register_demo_models(ModelStore(settings.resolved_models_dir))
        if installed:
            print(f"Registered demo models: {', '.join(installed)}", file=sys.stderr)
    supervisor = Supervisor()
    embedded: EmbeddedQueue | None = None
    if settings.redis_url:
        print(f"Queue: Redis at {settings.redis_url}", file=sys.stderr)
    else:
        # Supervised like the workers: if it dies, it comes back on the same socket and the
        # workers and the API reconnect (what was queued at that moment is lost: no disk).
        def spawn(command: list[str]) -> subprocess.Popen[bytes]:
            child = supervisor.start("redis-server", command, dict(os.environ), stop_last=True)
            assert child.process is not None
            return child.process

        embedded = start_embedded_queue(settings.data_dir / "run", spawn)
        print(f"Queue: {embedded.description}", file=sys.stderr)
        settings = settings.model_copy(update={"redis_url": embedded.url})
    env = {
        **os.environ,
        "NEURALDRIVE_AUDIO_REDIS_URL": settings.redis_url or "",
        "NEURALDRIVE_AUDIO_DATA_DIR": str(settings.data_dir),
        "NEURALDRIVE_AUDIO_MODELS_DIR": str(settings.resolved_models_dir),
    }
    command = [sys.executable, "-m", "neuraldrive_audio.cli", "worker"]
    for index in range(workers):
        supervisor.start(f"worker {index}", command, env)
    if settings.wyoming_enabled:
        # Its own process, like under systemd: a front door beside the API.
        wyoming = [sys.executable, "-m", "neuraldrive_audio.cli", "wyoming"]
        supervisor.start("wyoming", wyoming, env)
        print(f"Wyoming: tcp://{settings.wyoming_host}:{settings.wyoming_port}", file=sys.stderr)
    settings = settings.model_copy(update={"api_key": key})
    url = announce_api(settings)
    print(f"API: {url}  workers: {workers}", file=sys.stderr)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        http_server.run(create_app(settings), host=settings.host, port=settings.port)
    finally:
        withdraw_api(settings, url)
        supervisor.stop()
        if embedded is not None:
            embedded.stop()
