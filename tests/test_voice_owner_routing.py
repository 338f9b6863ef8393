"""A voice we list works with the OpenAI model alias a client pairs it with: Open WebUI sends
every voice with ``tts-1``, so ``tts-1`` + a Piper voice is spoken by Piper (through the
official SDK, against the real service)."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from neuraldrive_audio.config import Settings
from neuraldrive_audio.service import names
from neuraldrive_audio.service.errors import ServiceError
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import Service
from tests.speech_clips import word_error_rate

PIPER = "piper/en_US-joe-medium"
TEXT = "The weather is nice today."


@pytest.fixture
def catalog(models_dir: Path) -> ModelCatalog:
    return ModelCatalog(ModelStore(models_dir))


@pytest.mark.parametrize("alias", ["tts-1", "tts-1-hd", "gpt-4o-mini-tts-2025-12-15"])
def test_an_alias_resolves_to_the_voices_owner(alias: str, catalog: ModelCatalog) -> None:
    voice = names.resolve_voice(alias, "en_US-joe-medium", catalog, Settings())
    assert voice == names.ResolvedVoice(PIPER, "en_US-joe-medium")


def test_what_the_alias_model_has_stays_with_it(catalog: ModelCatalog) -> None:
    settings = Settings()
    kokoro = settings.default_tts_model
    assert names.resolve_voice("tts-1", "alloy", catalog, settings).model_id == kokoro
    own = catalog.find(kokoro)
    assert own is not None
    assert names.resolve_voice("tts-1", own.voices[1], catalog, settings).model_id == kokoro
    mix = f"{own.voices[0]}(2)+{own.voices[1]}(1)"
    assert names.resolve_voice("tts-1", mix, catalog, settings).model_id == kokoro
    with pytest.raises(ServiceError):  # a model named by its id never switches
        names.resolve_voice(kokoro, "en_US-joe-medium", catalog, settings)
    with pytest.raises(ServiceError):  # nobody's voice
        names.resolve_voice("tts-1", "nobody", catalog, settings)


def _loaded(service: Service) -> set[str]:
    with service.http() as http:
        workers = http.get("/system/audio/status").json()["workers"]
    return {m["id"] for w in workers for m in w["loaded_models"]}


@pytest.mark.service
def test_an_alias_with_another_models_voice_is_spoken_by_that_model(service: Service) -> None:
    client = service.client()
    if PIPER in _loaded(service):
        with service.http() as http:
            http.post(f"/v1/audio/models/{PIPER}/unload").raise_for_status()
    audio = client.audio.speech.create(
        model="tts-1", voice="en_US-joe-medium", input=TEXT, response_format="wav"
    ).read()
    assert PIPER in _loaded(service)  # Piper spoke, not the alias's Kokoro
    heard = client.audio.transcriptions.create(model="whisper-1", file=("j.wav", audio)).text
    assert word_error_rate(TEXT, heard) < 0.3


@pytest.mark.service
def test_a_model_named_by_its_id_does_not_switch(service: Service) -> None:
    with pytest.raises(openai.BadRequestError) as refusal:
        service.client().audio.speech.create(
            model="kokoro-82m", voice="en_US-joe-medium", input=TEXT
        )
    assert refusal.value.code == "invalid_voice"


@pytest.mark.service
def test_openai_voice_names_keep_the_alias_model(service: Service) -> None:
    body = {"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "wav"}
    with service.http() as http:
        assert http.post("/v1/audio/speech", json=body).status_code == 200
