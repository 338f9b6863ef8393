"""A voice we list works with the OpenAI model alias a client pairs it with: Open WebUI sends
every voice with ``tts-1``, so ``tts-1`` + a Piper voice is spoken by Piper (through the
official SDK, against the real service)."""

from __future__ import annotations

import openai
import pytest

from tests.harness import Service
from tests.speech_clips import word_error_rate

pytestmark = pytest.mark.slow

PIPER = "piper/en_US-joe-medium"
TEXT = "Joe reads this sentence aloud."


def _loaded(service: Service) -> set[str]:
    with service.http() as http:
        workers = http.get("/system/audio/status").json()["workers"]
    return {m["id"] for w in workers for m in w["loaded_models"]}


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


def test_a_model_named_by_its_id_does_not_switch(service: Service) -> None:
    with pytest.raises(openai.BadRequestError) as refusal:
        service.client().audio.speech.create(
            model="kokoro-82m", voice="en_US-joe-medium", input=TEXT
        )
    assert refusal.value.code == "invalid_voice"


def test_openai_voice_names_keep_the_alias_model(service: Service) -> None:
    body = {"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "wav"}
    with service.http() as http:
        assert http.post("/v1/audio/speech", json=body).status_code == 200
