"""OpenAI SDK against the real service: every transcription format and option."""

from __future__ import annotations

import json

import openai
import pytest

from tests.harness import Service
from tests.speech_clips import word_error_rate

pytestmark = pytest.mark.service


def test_json_transcript_is_accurate(service: Service, speech_clip: tuple[bytes, str]) -> None:
    audio, text = speech_clip
    result = service.client().audio.transcriptions.create(
        model="whisper-1", file=("clip.wav", audio)
    )
    assert word_error_rate(text, result.text) <= 0.10, result.text


def test_upload_without_a_name_or_type_is_sniffed(
    service: Service, speech_clip: tuple[bytes, str]
) -> None:
    audio, text = speech_clip
    with service.http() as http:
        response = http.post(
            "/v1/audio/transcriptions",
            files={"file": ("upload", audio, "application/octet-stream")},
            data={"model": "Systran/faster-whisper-tiny.en"},
        )
    assert response.status_code == 200
    assert word_error_rate(text, response.json()["text"]) <= 0.10


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_text_formats_are_raw_strings(
    service: Service, speech_clip: tuple[bytes, str], fmt: str
) -> None:
    audio, _ = speech_clip
    result = service.client().audio.transcriptions.create(
        model="whisper-1",
        file=("clip.wav", audio),
        response_format=fmt,  # type: ignore[call-overload]
    )
    assert isinstance(result, str)
    assert not result.startswith('"')
    if fmt == "srt":
        assert result.startswith("1\n00:00:00,000 --> 00:00:")
    if fmt == "vtt":
        assert result.startswith("WEBVTT\n\n00:00:00.000 --> ")
    if fmt == "text":
        assert "weather" in result.lower()


def test_verbose_json_with_word_and_segment_timestamps(
    service: Service, speech_clip: tuple[bytes, str]
) -> None:
    audio, _ = speech_clip
    result = service.client().audio.transcriptions.create(
        model="whisper-1",
        file=("clip.wav", audio),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert result.language == "english"
    assert 6 < result.duration < 12
    assert result.segments and result.words
    ends = [w.end for w in result.words]
    assert ends == sorted(ends) and ends[-1] <= result.duration + 0.5
    segment = result.segments[0]
    assert segment.tokens and segment.start == 0.0 and segment.avg_logprob < 0


def test_verbose_json_without_words_has_no_words(
    service: Service, speech_clip: tuple[bytes, str]
) -> None:
    audio, _ = speech_clip
    result = service.client().audio.transcriptions.create(
        model="whisper-1", file=("clip.wav", audio), response_format="verbose_json"
    )
    assert result.segments and not result.words


def test_language_prompt_and_temperature_are_accepted(
    service: Service, speech_clip: tuple[bytes, str]
) -> None:
    audio, text = speech_clip
    result = service.client().audio.transcriptions.create(
        model="whisper-1",
        file=("clip.wav", audio),
        language="en",
        prompt="Weather report, finance team, favourite books.",
        temperature=0.2,
        extra_body={"include[]": "logprobs", "chunking_strategy": "auto"},
    )
    assert word_error_rate(text, result.text) <= 0.10


def test_stream_sends_deltas_then_done(service: Service) -> None:
    from tests.speech_clips import SENTENCES, make_clip

    # Long enough for whisper to emit several segments.
    audio = make_clip(" ".join(SENTENCES))
    stream = service.client().audio.transcriptions.create(
        model="whisper-1", file=("clip.wav", audio), stream=True
    )
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[-1] == "transcript.text.done"
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]  # type: ignore[union-attr]
    assert len(deltas) >= 2
    assert "".join(deltas).strip() == events[-1].text  # type: ignore[union-attr]


async def test_async_client(service: Service, speech_clip: tuple[bytes, str]) -> None:
    audio, text = speech_clip
    async with service.async_client() as client:
        result = await client.audio.transcriptions.create(
            model="whisper-1", file=("clip.wav", audio)
        )
    assert word_error_rate(text, result.text) <= 0.10


def test_models_list_and_retrieve(service: Service) -> None:
    client = service.client()
    ids = {m.id for m in client.models.list()}
    assert {"Systran/faster-whisper-tiny.en", "whisper-1", "kokoro-82m"} <= ids
    assert client.models.retrieve("Systran/faster-whisper-tiny.en").owned_by == "neuraldrive"
    with service.http() as http:
        encoded = http.get("/v1/models/Systran%2Ffaster-whisper-tiny.en")
    assert encoded.json()["id"] == "Systran/faster-whisper-tiny.en"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.code == "model_not_found"


def test_translation_on_english_only_model_is_a_clear_400(
    service: Service, speech_clip: tuple[bytes, str]
) -> None:
    audio, _ = speech_clip
    with pytest.raises(openai.BadRequestError) as info:
        service.client().audio.translations.create(model="whisper-1", file=("a.wav", audio))
    body = info.value.body
    assert isinstance(body, dict) and body["param"] == "model"
    assert "English-only" in body["message"]


def test_health_is_public(service: Service) -> None:
    with service.http(key=None) as http:
        response = http.get("/health")
    assert response.status_code == 200
    assert json.loads(response.text)["status"] == "ok"
