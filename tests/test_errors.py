"""Bad input and bad conditions: each answered in the OpenAI envelope, service keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.harness import API_KEY, RedisServer, Service

pytestmark = pytest.mark.service

MIB = 1024 * 1024


def _assert_envelope(response: httpx.Response, status: int, param: str | None = None) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if param is not None:
        assert error["param"] == param
    return error  # type: ignore[no-any-return]


def _transcribe(http: httpx.Client, **data: str) -> httpx.Response:
    return http.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", data.pop("audio", "x").encode("latin-1"))},
        data={"model": "whisper-1", **data},
    )


@pytest.mark.parametrize("key", [None, "wrong-key", API_KEY + "x"])
def test_missing_or_wrong_key_is_401(service: Service, key: str | None) -> None:
    # (Without a key, a loopback client may read the model lists: tests/test_loopback_lists.py.)
    paths = (
        ("/v1/models", "/system/audio/status")
        if key
        else ("/v1/audio/jobs", "/system/audio/status")
    )
    with service.http(key=key) as http:
        for path in paths:
            error = _assert_envelope(http.get(path), 401)
            assert error["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{service.base_url}/v1", api_key="nope").models.list()


def test_unknown_model_is_404(service: Service, speech_clip: tuple[bytes, str]) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        service.client().audio.transcriptions.create(model="whisper-9", file=("a.wav", b"x"))
    assert info.value.code == "model_not_found"


def test_tts_model_for_transcription_is_400(service: Service) -> None:
    with service.http() as http:
        _assert_envelope(_transcribe(http, model="kokoro-82m"), 400, "model")


def test_empty_file_is_400(service: Service) -> None:
    with service.http() as http:
        _assert_envelope(_transcribe(http, audio=""), 400, "file")


def test_corrupt_audio_is_400(service: Service) -> None:
    with service.http() as http:
        error = _assert_envelope(_transcribe(http, audio="RIFF garbage" * 100), 400, "file")
    assert error["code"] == "invalid_audio"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("response_format", "mp4"),
        ("temperature", "1.5"),
        ("temperature", "hot"),
        ("language", "klingon"),
        ("timestamp_granularities[]", "sentence"),
    ],
)
def test_invalid_fields_are_400_naming_the_param(service: Service, field: str, value: str) -> None:
    with service.http() as http:
        response = http.post(
            "/v1/audio/transcriptions",
            files={"file": ("a.wav", b"x")},
            data={"model": "whisper-1", "response_format": "verbose_json", field: value},
        )
    _assert_envelope(response, 400, field)


def test_missing_file_and_model_are_400(service: Service) -> None:
    with service.http() as http:
        _assert_envelope(
            http.post("/v1/audio/transcriptions", data={"model": "whisper-1"}), 400, "file"
        )
        response = http.post("/v1/audio/transcriptions", files={"file": ("a.wav", b"x")})
        _assert_envelope(response, 400, "model")


def test_granularities_need_verbose_json(service: Service, speech_clip: tuple[bytes, str]) -> None:
    with pytest.raises(openai.BadRequestError):
        service.client().audio.transcriptions.create(
            model="whisper-1", file=("a.wav", speech_clip[0]), timestamp_granularities=["word"]
        )


def test_oversized_upload_is_413_from_content_length(service: Service) -> None:
    with service.http() as http:
        response = http.post(
            "/v1/audio/transcriptions",
            files={"file": ("big.wav", b"\0" * (25 * MIB + 1))},
            data={"model": "whisper-1"},
        )
    _assert_envelope(response, 413)


def test_oversized_chunked_upload_is_413(service: Service) -> None:
    boundary = "xyzzy"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:  # no Content-Length: the limit must hold mid-stream
        yield head
        for _ in range(30):
            yield b"\0" * MIB

    with service.http() as http:
        response = http.post(
            "/v1/audio/transcriptions",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    _assert_envelope(response, 413)


def test_unknown_route_is_enveloped(service: Service) -> None:
    with service.http() as http:
        _assert_envelope(http.get("/v1/nothing-here"), 404)


def test_queue_full_is_429_with_retry_after(
    service: Service, redis_server: RedisServer, models_dir: Path, tmp_path: Path,
    speech_clip: tuple[bytes, str],
) -> None:  # fmt: skip
    # A second API on the same Redis with no room in its queue; the shared worker stays alive.
    full = Service.start(
        f"{redis_server.url}/0", tmp_path, models_dir, workers=0, max_queue_depth="0"
    )
    try:
        with full.http() as http:
            response = _transcribe(http, audio=speech_clip[0].decode("latin-1"))
        _assert_envelope(response, 429)
        assert int(response.headers["Retry-After"]) >= 1
    finally:
        full.stop()


def test_no_worker_is_a_fast_503(
    redis_server: RedisServer, models_dir: Path, tmp_path: Path
) -> None:
    lonely = Service.start(f"{redis_server.url}/5", tmp_path, models_dir, workers=0, wait=False)
    try:
        lonely.wait_healthy(status=503)
        with lonely.http() as http:
            response = _transcribe(http, audio="x")
        _assert_envelope(response, 503)
        assert response.elapsed.total_seconds() < 2
    finally:
        lonely.stop()
