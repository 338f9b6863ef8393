"""The model and voice lists answer a key-less client on this host (Open WebUI's settings page
asks without one), and nothing else does."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request

from neuraldrive_audio.api.http.auth import LOOPBACK_LISTS, _keyless_list_from_loopback
from tests.harness import Service


def _request(path: str, client: str, method: str = "GET", **headers: str) -> Request:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": method, "path": path, "headers": raw,
             "client": (client, 50000), "query_string": b""}  # fmt: skip
    return Request(scope)


@pytest.mark.parametrize("path", sorted(LOOPBACK_LISTS))
def test_lists_are_open_to_a_direct_loopback_client(path: str) -> None:
    assert _keyless_list_from_loopback(_request(path, "127.0.0.1"))
    assert _keyless_list_from_loopback(_request(path, "::1"))


@pytest.mark.parametrize(
    ("path", "client", "method", "headers"),
    [
        ("/v1/audio/models", "192.168.1.20", "GET", {}),  # another machine
        ("/v1/audio/models", "127.0.0.1", "GET", {"x_forwarded_for": "192.168.1.20"}),  # Caddy
        ("/v1/audio/voices", "127.0.0.1", "GET", {"forwarded": "for=192.168.1.20"}),
        ("/v1/audio/models/kokoro-82m/load", "127.0.0.1", "POST", {}),  # not a list
        ("/v1/audio/jobs", "127.0.0.1", "GET", {}),
        ("/system/audio/status", "127.0.0.1", "GET", {}),
        ("/v1/models", "testclient", "GET", {}),
    ],
)
def test_everything_else_needs_the_key(
    path: str, client: str, method: str, headers: dict[str, str]
) -> None:
    assert not _keyless_list_from_loopback(_request(path, client, method, **headers))


@pytest.mark.service
def test_open_webuis_keyless_requests_get_our_lists(service: Service) -> None:
    with httpx.Client(base_url=service.base_url, timeout=30) as http:
        voices = http.get("/v1/audio/voices")
        assert voices.status_code == 200
        assert "en_US-joe-medium" in {v["id"] for v in voices.json()["voices"]}
        models = http.get("/v1/audio/models")
        assert models.status_code == 200
        assert "tts-1" in {m["id"] for m in models.json()["models"]}
        assert http.get("/v1/models").status_code == 200
        # A wrong key is still wrong, and the rest still needs the key.
        assert (
            http.get("/v1/audio/voices", headers={"Authorization": "Bearer no"}).status_code == 401
        )
        assert (
            http.get("/v1/audio/models", headers={"X-Forwarded-For": "10.0.0.9"}).status_code == 401
        )
        assert http.get("/v1/audio/jobs").status_code == 401
        speech = {"model": "tts-1", "input": "Hi.", "voice": "alloy"}
        assert http.post("/v1/audio/speech", json=speech).status_code == 401
