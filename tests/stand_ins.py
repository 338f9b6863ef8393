"""Local stand-ins for services the tests cannot reach: the Hugging Face hub and Ollama.

Each is a stdlib HTTP server in a thread that implements just the endpoints our code (and
the huggingface_hub functions it calls) use, and records the requests it saw.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_MIN_BYTES = 10_000  # files this big are stored with Git LFS, as on the hub


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run ``handler`` on a loopback port for the duration; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    # A short poll interval keeps shutdown (and so each test's teardown) quick.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def read_json(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")


# --- the Hugging Face hub ---------------------------------------------------------------


@dataclass
class HubRequest:
    """One request the hub stand-in received."""

    method: str
    path: str
    range: str | None


@dataclass
class HubStandIn:
    """A hub serving ``repos`` (repo id -> file path -> bytes) at one commit, ``COMMIT``.

    ``drop_after`` = (path, n): the first GET of that file sends n bytes and closes the
    connection; after that the hub answers 503 until ``recover()``, so the client's own
    retries fail too and the download is really interrupted.
    """

    repos: dict[str, dict[str, bytes]]
    drop_after: tuple[str, int] | None = None
    requests: list[HubRequest] = field(default_factory=list)
    down: bool = False

    def recover(self) -> None:
        """Serve normally again and forget the requests seen so far."""
        self.down = False
        self.drop_after = None
        self.requests.clear()

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve until the block ends; yields the endpoint URL (``HF_ENDPOINT``)."""
        with _serving(_hub_handler(self)) as url:
            yield url


_MODEL_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/?]+)(?:/revision/(?P<rev>[^/?]+))?")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>[^?]+)")


def _sibling(path: str, data: bytes) -> dict[str, Any]:
    """A ``siblings`` entry as ``/api/models/...?blobs=true`` returns it."""
    entry: dict[str, Any] = {"rfilename": path, "size": len(data), "blobId": _git_oid(data)}
    if len(data) >= LFS_MIN_BYTES:
        sha256 = hashlib.sha256(data).hexdigest()
        entry["lfs"] = {"size": len(data), "sha256": sha256, "pointerSize": 134}
    return entry


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _etag(data: bytes) -> str:
    # The hub's ETag is the LFS sha256 for LFS files and the git blob id otherwise.
    return hashlib.sha256(data).hexdigest() if len(data) >= LFS_MIN_BYTES else _git_oid(data)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=a-`` or ``bytes=a-b`` -> (a, b inclusive); None without a Range header."""
    if header is None:
        return None
    start, _, end = header.removeprefix("bytes=").partition("-")
    return int(start), int(end) if end else size - 1


def _hub_handler(hub: HubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        def do_GET(self) -> None:
            self._route(head=False)

        def do_HEAD(self) -> None:
            self._route(head=True)

        def _route(self, head: bool) -> None:
            hub.requests.append(HubRequest(self.command, self.path, self.headers.get("Range")))
            if hub.down:
                self.send_json(503, {"error": "stand-in is down"})
            elif match := _MODEL_INFO.match(self.path):
                self._model_info(match["repo"], match["rev"])
            elif match := _RESOLVE.match(self.path):
                self._file(match["repo"], match["rev"], match["path"], head)
            else:
                self.send_json(404, {"error": "not found"})

        def _repo(self, repo: str, rev: str | None) -> dict[str, bytes] | None:
            if repo not in hub.repos:
                self.send_json(404, {"error": "no repo"}, {"X-Error-Code": "RepoNotFound"})
                return None
            if rev not in (None, "main", COMMIT):
                self.send_json(404, {"error": "no rev"}, {"X-Error-Code": "RevisionNotFound"})
                return None
            return hub.repos[repo]

        def _model_info(self, repo: str, rev: str | None) -> None:
            files = self._repo(repo, rev)
            if files is not None:
                siblings = [_sibling(path, data) for path, data in sorted(files.items())]
                self.send_json(200, {"id": repo, "sha": COMMIT, "siblings": siblings})

        def _file(self, repo: str, rev: str, path: str, head: bool) -> None:
            files = self._repo(repo, rev)
            if files is None:
                return
            data = files.get(path)
            if data is None:
                self.send_json(404, {"error": "no file"}, {"X-Error-Code": "EntryNotFound"})
                return
            span = _byte_range(self.headers.get("Range"), len(data))
            start, end = span or (0, len(data) - 1)
            self.send_response(206 if span else 200)
            # What hf_hub_download reads from a HEAD; no X-Xet-* headers, so no Xet path.
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{_etag(data)}"')
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if span:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            if not head:
                self._send_body(path, data[start : end + 1])

        def _send_body(self, path: str, body: bytes) -> None:
            if hub.drop_after is None or hub.drop_after[0] != path:
                self.wfile.write(body)
                return
            self.wfile.write(body[: hub.drop_after[1]])
            hub.down = True  # the client's retries must fail as well
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    return Handler


# --- Ollama ---------------------------------------------------------------------------


@dataclass
class OllamaStandIn:
    """Ollama's ``/api/ps`` and the ``keep_alive: 0`` unload of ``/api/generate``."""

    models: list[dict[str, Any]] = field(default_factory=list)
    unloaded: list[str] = field(default_factory=list)

    def load(self, name: str, size_vram: int, expires_at: datetime) -> None:
        """Pretend ``name`` is loaded with ``size_vram`` bytes on the GPU."""
        self.models.append(
            {"name": name, "model": name, "size": size_vram, "size_vram": size_vram,
             "digest": hashlib.sha256(name.encode()).hexdigest(),
             "expires_at": expires_at.isoformat()}
        )  # fmt: skip

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve until the block ends; yields the base URL."""
        with _serving(_ollama_handler(self)) as url:
            yield url


def _ollama_handler(ollama: OllamaStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        def do_GET(self) -> None:
            if self.path == "/api/ps":
                self.send_json(200, {"models": ollama.models})
            else:
                self.send_json(404, {"error": "not found"})

        def do_POST(self) -> None:
            request = self.read_json()
            if self.path != "/api/generate" or request.get("keep_alive") != 0:
                self.send_json(400, {"error": "the stand-in only unloads"})
                return
            name = request["model"]
            ollama.models = [m for m in ollama.models if m["name"] != name]
            ollama.unloaded.append(name)
            self.send_json(200, {"model": name, "response": "", "done": True,
                                 "done_reason": "unload"})  # fmt: skip

    return Handler
