"""The Caddy snippet inside a gateway shaped like NeuralDrive's :8443 block, with real Caddy.

The gateway below is NeuralDrive's own block (Ollama behind ``@api_authenticated``, the
System API behind ``handle /system/*``) plus a final catch-all 401, with our snippet
imported at the top as the README says. Ollama and the System API are stand-ins; behind the
snippet runs the real service (``neuraldrive-audio serve --demo``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pytest
import websockets

from tests.speech_clips import SENTENCES, make_clip, word_error_rate

REPO = Path(__file__).resolve().parents[2]
SNIPPET = REPO / "caddy" / "neuraldrive-audio.caddy"
KEY = "test-key-5f0c1d"

pytestmark = [
    pytest.mark.deploy,
    pytest.mark.skipif(
        shutil.which("caddy") is None or shutil.which("openssl") is None,
        reason="caddy or openssl is not installed (CI installs both)",
    ),
]

# NeuralDrive's :8443 site (its /etc/neuraldrive/Caddyfile) with our snippet imported first.
GATEWAY = Template("""\
{
	admin off
	auto_https disable_redirects
	skip_install_trust
	storage file_system $storage
}

:$port {
	tls $cert $key

	import $snippet

	@api_routes {
		path /v1/* /api/*
	}
	@api_authenticated {
		path /v1/* /api/*
		header Authorization "Bearer {env.NEURALDRIVE_API_KEY}"
	}
	handle @api_authenticated {
		reverse_proxy 127.0.0.1:$ollama
	}
	handle @api_routes {
		respond "Unauthorized — provide Authorization: Bearer <API_KEY>" 401
	}
	handle /system/* {
		uri strip_prefix /system
		reverse_proxy 127.0.0.1:$system_api
	}
	handle /health {
		respond "OK" 200
	}
	handle {
		respond "Unauthorized" 401
	}
}
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_gateway(directory: Path, port: int, ollama: int, system_api: int) -> Path:
    """A self-signed certificate and the gateway Caddyfile, in directory."""
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    caddyfile = directory / "Caddyfile"
    caddyfile.write_text(
        GATEWAY.substitute(
            storage=directory / "storage",
            port=port,
            cert=cert,
            key=key,
            snippet=SNIPPET,
            ollama=ollama,
            system_api=system_api,
        )
    )
    return caddyfile


class StandIn(BaseHTTPRequestHandler):
    """Answers every request with JSON naming the stand-in and the path it received."""

    name = "stand-in"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"stand_in": self.name, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[dict[str, int]]:
    """Ollama and the System API, as {name: port}."""
    servers = []
    for name in ("ollama", "system-api"):
        handler = type(f"StandIn_{name}", (StandIn,), {"name": name})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((name, server))
    yield {name: int(server.server_address[1]) for name, server in servers}
    for _, server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The real service (API, a worker, embedded Redis, demo models); yields its port."""
    data_dir = tmp_path_factory.mktemp("service")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURALDRIVE_")}
    env |= {"NEURALDRIVE_API_KEY": KEY, "NEURALDRIVE_AUDIO_DATA_DIR": str(data_dir)}
    log = (data_dir / "serve.log").open("wb")
    # Its own session, so teardown can stop it together with its Redis and worker children.
    proc = subprocess.Popen(
        [sys.executable, "-m", "neuraldrive_audio.cli", "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", proc, data_dir / "serve.log", 120)
        yield port
    finally:
        stop(proc)
        log.close()


@contextmanager
def caddy_gateway(
    directory: Path, stand_ins: dict[str, int], api_key: str, upstream: str
) -> Iterator[str]:
    """Real Caddy serving the gateway (set up in ``directory``) with our snippet in front of
    ``upstream`` (host:port); yields its https base URL once it answers."""
    port = free_port()
    caddyfile = write_gateway(directory, port, stand_ins["ollama"], stand_ins["system-api"])
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(directory),
        "XDG_DATA_HOME": str(directory / "data"),
        "XDG_CONFIG_HOME": str(directory / "config"),
        "NEURALDRIVE_API_KEY": api_key,
        "NEURALDRIVE_AUDIO_UPSTREAM": upstream,
    }
    log = (directory / "caddy.log").open("wb")
    proc = subprocess.Popen(
        ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"https://localhost:{port}"
    try:
        wait_until_up(f"{base_url}/health", proc, directory / "caddy.log", 30, tls(directory))
        yield base_url
    finally:
        stop(proc)
        log.close()


def tls(directory: Path) -> ssl.SSLContext:
    """Trusts the gateway's self-signed certificate written in ``directory``."""
    return ssl.create_default_context(cafile=str(directory / "server.crt"))


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, stand_ins: dict[str, int], service: int
) -> Iterator[httpx.Client]:
    """Caddy in front of everything; yields an HTTPS client for it."""
    directory = tmp_path_factory.mktemp("caddy")
    with (
        caddy_gateway(directory, stand_ins, KEY, f"127.0.0.1:{service}") as base_url,
        httpx.Client(base_url=base_url, verify=tls(directory), timeout=120) as client,
    ):
        yield client


def wait_until_up(
    url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float, tls: Any = True
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, verify=tls, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} not up after {seconds} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_snippet_routes_sort_before_every_neuraldrive_route(tmp_path: Path) -> None:
    # Caddy runs the first matching `handle` in its own sorted order, not the written one.
    caddyfile = write_gateway(tmp_path, 8443, 11434, 3001)
    adapted = subprocess.run(
        ["caddy", "adapt", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        check=True,
    )
    routes = json.loads(adapted.stdout)["apps"]["http"]["servers"]["srv0"]["routes"]
    paths = [route.get("match", [{}])[0].get("path") for route in routes]
    expected = ["['/system/audio/*']", "['/v1/audio/*']", "['/v1/realtime']"]
    assert sorted(map(str, paths[:3])) == expected, paths


SPEECH = {"model": "tts-1", "input": "Hello there.", "voice": "alloy", "response_format": "wav"}
PROTECTED = [
    ("POST", "/v1/audio/speech", {"json": SPEECH}),
    ("POST", "/v1/audio/transcriptions", {"data": {"model": "whisper-1"}}),
    ("GET", "/system/audio/status", {}),
]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", f"Basic {KEY}"])
@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_requests_without_the_key_are_refused_by_the_gateway(
    gateway: httpx.Client,
    authorization: str | None,
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = gateway.request(method, path, headers=headers, **body)
    assert response.status_code == 401
    # Refused by the snippet itself (OpenAI's error shape), not by a later NeuralDrive route.
    assert response.json()["error"]["code"] == "invalid_api_key"


AUTH = {"Authorization": f"Bearer {KEY}"}


def test_status_reaches_the_service_not_the_system_api(gateway: httpx.Client) -> None:
    response = gateway.get("/system/audio/status", headers=AUTH)
    assert response.status_code == 200, response.text
    assert "stand_in" not in response.json()
    assert len(response.json()["workers"]) == 1


def test_audio_models_are_listed(gateway: httpx.Client) -> None:
    response = gateway.get("/v1/audio/models", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "list"
    listed = {model["id"]: model for model in response.json()["data"]}
    assert "Systran/faster-whisper-tiny.en" in listed
    assert listed["kokoro-82m"]["voices"]


def test_speech_comes_back_through_the_gateway(gateway: httpx.Client) -> None:
    response = gateway.post("/v1/audio/speech", headers=AUTH, json=SPEECH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("audio/")
    assert response.content[:4] == b"RIFF"
    assert len(response.content) > 10_000  # about a second of 24 kHz 16-bit audio, at least


def test_upload_is_transcribed_through_the_gateway(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/v1/audio/transcriptions",
        headers=AUTH,
        files={"file": ("speech.wav", make_clip(SENTENCES[0]), "audio/wav")},
        data={"model": "whisper-1"},
    )
    assert response.status_code == 200, response.text
    # Speech, not a tone: whisper on a tone falls back through every temperature (~9 s of
    # CPU for one second of it), and what it says then proves nothing.
    assert word_error_rate(SENTENCES[0], response.json()["text"]) <= 0.1


@pytest.mark.parametrize(
    ("method", "path", "stand_in", "received"),
    [
        ("POST", "/v1/chat/completions", "ollama", "/v1/chat/completions"),
        ("GET", "/v1/models", "ollama", "/v1/models"),
        ("GET", "/system/status", "system-api", "/status"),
    ],
)
def test_neuraldrive_routes_still_reach_their_services(
    gateway: httpx.Client, method: str, path: str, stand_in: str, received: str
) -> None:
    response = gateway.request(method, path, headers=AUTH, json={"model": "llama3"})
    assert response.status_code == 200, response.text
    assert response.json() == {"stand_in": stand_in, "path": received}


def test_chat_without_the_key_is_still_refused(gateway: httpx.Client) -> None:
    assert gateway.post("/v1/chat/completions", json={}).status_code == 401


def _realtime_url(gateway: httpx.Client) -> str:
    return str(gateway.base_url).replace("https://", "wss://") + "/v1/realtime?intent=transcription"


def _insecure_tls() -> ssl.SSLContext:
    # The gateway's certificate is self-signed for this test; what is checked here is routing.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _first_event(gateway: httpx.Client, **connect: Any) -> tuple[str | None, dict[str, Any]]:
    async with websockets.connect(_realtime_url(gateway), ssl=_insecure_tls(), **connect) as ws:
        return ws.subprotocol, json.loads(await ws.recv())


async def test_realtime_websocket_with_the_bearer_header(gateway: httpx.Client) -> None:
    _, event = await _first_event(gateway, additional_headers=AUTH)
    assert event["type"] == "session.created"
    assert event["session"]["type"] == "transcription"


async def test_realtime_websocket_with_the_browser_subprotocol_key(gateway: httpx.Client) -> None:
    protocols = ["realtime", f"openai-insecure-api-key.{KEY}"]
    subprotocol, event = await _first_event(gateway, subprotocols=protocols)
    assert subprotocol == "realtime"
    assert event["type"] == "session.created"


@pytest.mark.parametrize(
    "connect",
    [
        {},
        {"additional_headers": {"Authorization": "Bearer wrong-key"}},
        {"subprotocols": ["realtime", "openai-insecure-api-key.wrong-key"]},
    ],
)
async def test_realtime_websocket_without_the_key_is_refused(
    gateway: httpx.Client, connect: dict[str, Any]
) -> None:
    with pytest.raises(websockets.InvalidStatus) as refusal:
        await _first_event(gateway, **connect)
    assert refusal.value.response.status_code == 401
    assert json.loads(refusal.value.response.body)["error"]["code"] == "invalid_api_key"
