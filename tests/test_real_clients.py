"""Real client libraries, from PyPI, with their defaults, against the running service.

The openai SDK (sync and async, with ``_strict_response_validation=True`` so every response
must match its types exactly), the OpenAI Agents SDK's voice models and LiteLLM. Each
changes only the base URL and the key, as a user pointing an existing app at the box would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import wave
from typing import Any

import numpy as np
import openai
import pytest
from pydantic import BaseModel

from tests.harness import API_KEY, Service
from tests.speech_clips import SENTENCES, make_clip, word_error_rate

pytestmark = pytest.mark.service

STT_NAMES = [
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-transcribe",
    "gpt-realtime-whisper",
    "gpt-4o-mini-transcribe-2025-12-15",
]
TTS_MODELS = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15",
              "piper/en_US-joe-medium"]  # fmt: skip
PCM_RATE = 24_000


def strict(service: Service) -> openai.OpenAI:
    return service.client(_strict_response_validation=True, max_retries=0)


def strict_async(service: Service) -> openai.AsyncOpenAI:
    return service.async_client(_strict_response_validation=True, max_retries=0)


def pcm_to_wav(pcm: bytes, rate: int = PCM_RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


_HEARD: dict[tuple[bytes, str], str] = {}


def heard(service: Service, audio: bytes, filename: str = "speech.wav") -> str:
    """What the service's own whisper hears in ``audio`` (the round trip checks TTS).

    Transcribed once per distinct upload: the TTS aliases of one model speak the same text
    byte for byte, and whisper (greedy, no sampling on clear speech) gives those bytes the
    same transcript every time, so asking again would prove nothing new."""
    key = (hashlib.sha256(audio).digest(), filename)
    if key not in _HEARD:
        _HEARD[key] = (
            strict(service)
            .audio.transcriptions.create(model="whisper-1", file=(filename, audio))
            .text
        )
    return _HEARD[key]


# --- openai SDK, strict ------------------------------------------------------------------


def test_transcription_model_names(service: Service, speech_clip: tuple[bytes, str]) -> None:
    """Every OpenAI speech-to-text name resolves through the running service (which model
    each reaches is tested in-process: test_compat_unit); the model runs once here, for the
    hardest form, a dated snapshot. The format tests below transcribe with four more names."""
    client = strict(service)
    assert [client.models.retrieve(name).id for name in STT_NAMES] == STT_NAMES
    audio, text = speech_clip
    snapshot = "gpt-4o-mini-transcribe-2025-12-15"
    result = client.audio.transcriptions.create(model=snapshot, file=("clip.wav", audio))
    assert word_error_rate(text, result.text) <= 0.10, result.text
    assert result.usage is not None and result.usage.type == "duration"


def test_every_transcription_format_sync(service: Service, speech_clip: tuple[bytes, str]) -> None:
    audio, text = speech_clip
    client = strict(service)
    create = client.audio.transcriptions.create
    file = ("clip.wav", audio)
    assert word_error_rate(text, create(model="gpt-4o-transcribe", file=file).text) <= 0.1
    for fmt in ("text", "srt", "vtt"):
        raw = create(model="gpt-4o-mini-transcribe", file=file, response_format=fmt)
        assert isinstance(raw, str)
        spoken = " ".join(line for line in raw.splitlines() if _is_cue_text(line))
        assert word_error_rate(text, spoken) <= 0.1, (fmt, raw)
    verbose = create(
        model="gpt-transcribe", file=file, response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )  # fmt: skip
    assert verbose.language == "english" and verbose.duration > 5
    assert verbose.words and verbose.segments
    listed = client.models.list().data
    assert {"gpt-transcribe", "gpt-4o-transcribe", "tts-1", "gpt-4o-mini-tts"} <= {
        m.id for m in listed
    }
    assert client.models.retrieve("gpt-4o-mini-transcribe-2025-12-15").id.endswith("12-15")


async def test_every_transcription_format_async(
    service: Service, speech_clip: tuple[bytes, str]
) -> None:
    audio, text = speech_clip
    client = strict_async(service)
    create = client.audio.transcriptions.create
    file = ("clip.wav", audio)
    results = await asyncio.gather(
        create(model="gpt-4o-transcribe", file=file),
        create(model="whisper-1", file=file, response_format="text"),
        create(model="whisper-1", file=file, response_format="srt"),
        create(model="whisper-1", file=file, response_format="vtt"),
        create(model="whisper-1", file=file, response_format="verbose_json",
               timestamp_granularities=["segment"]),
        create(model="whisper-1", file=file, include=["logprobs"]),
    )  # fmt: skip
    assert word_error_rate(text, results[0].text) <= 0.1
    assert all(isinstance(r, str) for r in results[1:4])
    assert results[4].segments and results[5].logprobs
    models = await client.models.list()
    assert "gpt-realtime-whisper" in {m.id async for m in models}


def test_logprobs_are_whisper_token_logprobs(
    service: Service, speech_clip: tuple[bytes, str]
) -> None:
    audio, _text = speech_clip
    result = strict(service).audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("clip.wav", audio), include=["logprobs"]
    )
    assert result.logprobs
    tokens = [lp.token or "" for lp in result.logprobs]
    assert "".join(tokens).strip() == result.text  # every text token, in order
    assert len(tokens) > len(result.text.split())  # tokens, not words (punctuation, pieces)
    for lp in result.logprobs:
        assert lp.logprob is not None and lp.logprob <= 0
        # The SDK types bytes as floats; they are the token's UTF-8 bytes.
        assert bytes(int(b) for b in lp.bytes or []).decode() == lp.token
    # Clear speech: most tokens are near-certain, which a made-up number would not show.
    assert np.median([lp.logprob for lp in result.logprobs]) > -0.5


def test_stream_carries_logprobs_and_usage(
    service: Service, speech_clip: tuple[bytes, str]
) -> None:
    audio, text = speech_clip
    stream = strict(service).audio.transcriptions.create(
        model="gpt-4o-transcribe", file=("clip.wav", audio), stream=True, include=["logprobs"]
    )
    events = list(stream)
    deltas = [e for e in events if e.type == "transcript.text.delta"]
    done = events[-1]
    assert done.type == "transcript.text.done" and deltas
    assert word_error_rate(text, done.text) <= 0.1
    assert all(d.logprobs for d in deltas)
    assert done.logprobs and len(done.logprobs) == sum(len(d.logprobs or []) for d in deltas)
    assert done.usage is not None and done.usage.output_tokens > 0
    assert done.usage.input_tokens >= 50 * 5  # 50 audio positions per second, > 5 s of audio


def test_stream_without_include_has_usage_only(
    service: Service, speech_clip: tuple[bytes, str]
) -> None:
    audio, _ = speech_clip
    events = list(
        strict(service).audio.transcriptions.create(
            model="whisper-1", file=("clip.wav", audio), stream=True
        )
    )
    assert all(getattr(e, "logprobs", None) is None for e in events)
    assert events[-1].usage is not None and events[-1].usage.type == "tokens"


@pytest.mark.parametrize(
    "strategy", ["auto", {"type": "server_vad", "silence_duration_ms": 300, "threshold": 0.5}]
)
def test_chunking_strategy_splits_long_audio_at_silences(service: Service, strategy: Any) -> None:
    # Two sentences around 35 s of silence: longer than a whisper window.
    first, second = make_clip(SENTENCES[3]), make_clip(SENTENCES[4])
    audio = _join_wavs(first, 35.0, second)
    result = strict(service).audio.transcriptions.create(
        model="gpt-4o-transcribe", file=("long.wav", audio), response_format="verbose_json",
        chunking_strategy=strategy,
    )  # fmt: skip
    expected = f"{SENTENCES[3]} {SENTENCES[4]}"
    assert word_error_rate(expected, result.text) <= 0.15, result.text
    gap_start, gap_end = _wav_seconds(first) + 1.0, _wav_seconds(first) + 34.0
    for segment in result.segments or []:
        assert segment.end <= gap_start or segment.start >= gap_end, segment


def test_chunking_strategy_as_json_string_field(
    service: Service, speech_clip: tuple[bytes, str]
) -> None:
    audio, text = speech_clip
    with service.http() as http:
        response = http.post(
            "/v1/audio/transcriptions",
            files={"file": ("clip.wav", audio)},
            data={"model": "whisper-1", "chunking_strategy": json.dumps({"type": "server_vad"})},
        )
    assert response.status_code == 200, response.text
    assert word_error_rate(text, response.json()["text"]) <= 0.1


def test_keywords_and_languages(service: Service) -> None:
    spoken = "Ask Zorblax to restart the Quenvarra server."
    audio = make_clip(spoken)
    create = strict(service).audio.transcriptions.create
    plain = create(model="gpt-transcribe", file=("k.wav", audio), temperature=0.0).text
    biased = create(
        model="gpt-transcribe", file=("k.wav", audio), keywords=["Zorblax", "Quenvarra"],
        languages=["en"],
    ).text  # fmt: skip
    assert "Zorblax" in biased and "Quenvarra" in biased, (plain, biased)
    assert plain != biased  # the keywords changed what whisper wrote
    with pytest.raises(openai.BadRequestError) as info:
        create(model="whisper-1", file=("k.wav", audio), languages=["de", "fr"])
    assert info.value.code == "invalid_value" and "English-only" in info.value.message
    assert info.value.param == "languages"


def test_diarization_requests_are_refused(service: Service, speech_clip: tuple[bytes, str]) -> None:
    audio, _ = speech_clip
    create = strict(service).audio.transcriptions.create
    with pytest.raises(openai.BadRequestError) as info:
        create(model="gpt-4o-transcribe-diarize", file=("c.wav", audio))
    assert "diarization" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        create(model="gpt-4o-transcribe", file=("c.wav", audio), known_speaker_names=["agent"],
               known_speaker_references=["data:audio/wav;base64,AAAA"])  # fmt: skip
    assert info.value.code == "diarization_not_available"
    with pytest.raises(openai.NotFoundError):
        create(model="gpt-5-transcribe", file=("c.wav", audio))


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_every_speech_format(service: Service, fmt: str) -> None:
    response = strict(service).audio.speech.create(
        model="gpt-4o-mini-tts", voice="marin", input="Good morning.", response_format=fmt
    )
    data = response.read()
    assert len(data) > 1000
    audio = pcm_to_wav(data) if fmt == "pcm" else data
    assert word_error_rate("Good morning.", heard(service, audio, f"speech.{fmt}")) <= 0.5


@pytest.mark.parametrize("model", TTS_MODELS)
@pytest.mark.parametrize("voice", ["cedar", "default"])
async def test_speech_sse_for_every_model(service: Service, model: str, voice: str) -> None:
    client = strict_async(service)
    async with client.audio.speech.with_streaming_response.create(
        model=model, voice=voice, input="The train leaves at noon.", response_format="pcm",
        stream_format="sse", instructions="Speak calmly.",
    ) as response:  # fmt: skip
        assert response.headers["content-type"].startswith("text/event-stream")
        body = (await response.read()).decode()
    events = [json.loads(f[len("data: ") :]) for f in body.split("\n\n") if f.startswith("data: ")]
    deltas = [SpeechAudioDelta.model_validate(e) for e in events[:-1]]
    done = SpeechAudioDone.model_validate(events[-1])
    assert deltas and done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    pcm = b"".join(base64.b64decode(d.audio) for d in deltas)
    assert word_error_rate("The train leaves at noon.", heard(service, pcm_to_wav(pcm))) <= 0.4


@pytest.mark.parametrize("instructions", [None, "None"])
def test_speech_instructions_null_or_none_string(
    service: Service, instructions: str | None
) -> None:
    # The Agents SDK sends null, Home Assistant the string "None".
    response = strict(service).audio.speech.create(
        model="tts-1", voice="alloy", input="Hello there.", response_format="wav",
        extra_body={"instructions": instructions},
    )  # fmt: skip
    assert response.read()[:4] == b"RIFF"


class SpeechAudioDelta(BaseModel):
    """OpenAI's ``speech.audio.delta`` event (the SDK has no type for it)."""

    type: str
    audio: str

    def model_post_init(self, _: Any) -> None:
        assert self.type == "speech.audio.delta"


class SpeechUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class SpeechAudioDone(BaseModel):
    """OpenAI's ``speech.audio.done`` event."""

    type: str
    usage: SpeechUsage

    def model_post_init(self, _: Any) -> None:
        assert self.type == "speech.audio.done"


# --- OpenAI Agents SDK voice models ------------------------------------------------------


async def test_agents_sdk_voice_models_with_defaults(
    service: Service, speech_clip: tuple[bytes, str]
) -> None:
    from agents.voice import (
        AudioInput,
        OpenAIVoiceModelProvider,
        STTModelSettings,
        TTSModelSettings,
    )

    provider = OpenAIVoiceModelProvider(
        openai_client=openai.AsyncOpenAI(base_url=f"{service.base_url}/v1", api_key=API_KEY)
    )
    stt = provider.get_stt_model(None)  # the SDK's default: gpt-transcribe
    tts = provider.get_tts_model(None)  # gpt-4o-mini-tts, voice "ash", pcm, instructions null
    wav, text = speech_clip
    with wave.open(io.BytesIO(wav)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        rate = w.getframerate()
    for settings in (STTModelSettings(), STTModelSettings(language="en")):
        said = await stt.transcribe(
            AudioInput(buffer=samples, frame_rate=rate), settings, False, False
        )
        assert word_error_rate(text, said) <= 0.1, said
    pcm = b"".join([c async for c in tts.run(SENTENCES[5], TTSModelSettings())])
    assert len(pcm) > PCM_RATE  # > 0.5 s of 16-bit audio
    assert word_error_rate(SENTENCES[5], heard(service, pcm_to_wav(pcm))) <= 0.3


# --- LiteLLM -----------------------------------------------------------------------------


def test_litellm_transcription_and_speech(
    service: Service, speech_clip: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # LiteLLM fetches a price list from GitHub at import unless told to use its own copy.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    audio, text = speech_clip
    base = {"api_base": f"{service.base_url}/v1", "api_key": API_KEY}
    for model in ("openai/whisper-1", "openai/gpt-4o-transcribe"):
        result = litellm.transcription(model=model, file=("clip.wav", audio), **base)
        assert word_error_rate(text, result.text) <= 0.1, (model, result.text)
    speech = litellm.speech(
        model="openai/tts-1", voice="alloy", input=SENTENCES[6], response_format="wav", **base
    )
    assert word_error_rate(SENTENCES[6], heard(service, speech.content)) <= 0.3


# --- helpers -----------------------------------------------------------------------------


def _is_cue_text(line: str) -> bool:
    """A subtitle line that is spoken text (not a number, timing or the WEBVTT header)."""
    return (
        bool(line.strip()) and "-->" not in line and not line.strip().isdigit() and line != "WEBVTT"
    )


def _wav_seconds(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as w:
        return w.getnframes() / w.getframerate()


def _join_wavs(first: bytes, silence_s: float, second: bytes) -> bytes:
    with wave.open(io.BytesIO(first)) as a, wave.open(io.BytesIO(second)) as b:
        rate = a.getframerate()
        frames = a.readframes(a.getnframes()) + bytes(2 * int(silence_s * rate))
        frames += b.readframes(b.getnframes())
    return pcm_to_wav(frames, rate)
