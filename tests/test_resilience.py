"""A killed worker or a vanished client never leaves a request hanging or a job running."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.harness import API_KEY, RedisServer, Service
from tests.speech_clips import SENTENCES, long_clip, make_clip

pytestmark = pytest.mark.chaos


@pytest.fixture(scope="module")
def long_speech() -> bytes:
    """About 73 s of speech: seconds of work for whisper tiny, long enough to kill its
    worker while it runs."""
    return long_clip(3)[0]


def _wait_for(predicate: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _busy(service: Service) -> bool:
    return any(w["jobs_in_progress"] for w in service.status()["workers"])


def test_killed_worker_gives_a_retryable_503(
    redis_server: RedisServer, models_dir: Path, tmp_path: Path, long_speech: bytes
) -> None:
    svc = Service.start(f"{redis_server.url}/6", tmp_path, models_dir, worker_heartbeat_ttl_s="2")
    try:
        outcome: dict[str, httpx.Response] = {}

        def request() -> None:
            with svc.http() as http:
                outcome["response"] = http.post(
                    "/v1/audio/transcriptions",
                    files={"file": ("long.wav", long_speech)},
                    data={"model": "whisper-1"},
                )

        thread = threading.Thread(target=request)
        thread.start()
        assert _wait_for(lambda: _busy(svc), 30)
        killed_at = time.monotonic()
        svc.kill_worker(svc.workers[0])
        thread.join(timeout=30)
        assert not thread.is_alive(), "the request hung after its worker died"
        response = outcome["response"]
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "server_error"
        assert time.monotonic() - killed_at < 10
        # A new worker brings the service back.
        svc.start_worker()
        svc.wait_healthy()
        with svc.http() as http:
            again = http.post(
                "/v1/audio/transcriptions",
                files={"file": ("short.wav", make_clip(SENTENCES[0]))},
                data={"model": "whisper-1"},
            )
        assert again.status_code == 200
    finally:
        svc.stop()


def _multipart(clip: bytes) -> tuple[bytes, str]:
    boundary = "nda-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + clip
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, boundary


def test_client_disconnect_cancels_the_job(service: Service, long_speech: bytes) -> None:
    body, boundary = _multipart(long_speech)
    host, port = service.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            (
                "POST /v1/audio/transcriptions HTTP/1.1\r\n"
                f"Host: {host}\r\nAuthorization: Bearer {API_KEY}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        assert _wait_for(lambda: _busy(service), 30)
    started = time.monotonic()
    # Whisper needs several seconds for this clip; a cancelled job frees the worker sooner.
    assert _wait_for(lambda: not _busy(service), 4), "job kept running after the client left"
    assert time.monotonic() - started < 4
