"""The speech service on an in-process fakeredis: the job lifecycle (submit, follow, abort
on leave), transcription and speech events, one-call model and voice resolution, the
neutral error and its HTTP mapping, and the LLM's typed stream.

The worker here is a small script that takes the job from the interactive lane and
writes its event stream, as a real worker's job frame does; the real workers run in
tests/test_transcriptions.py and tests/test_speech.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss

from neuraldrive_audio.api.errors import http_error
from neuraldrive_audio.api.realtime.protocol import realtime_error
from neuraldrive_audio.config import Settings
from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.queue import heartbeat
from neuraldrive_audio.queue.client import JobQueue
from neuraldrive_audio.queue.events import EventType, JobEvent, publish
from neuraldrive_audio.queue.heartbeat import WorkerHeartbeat
from neuraldrive_audio.queue.lanes import INTERACTIVE
from neuraldrive_audio.queue.payloads import JobError, SpeechSummary, Transcript
from neuraldrive_audio.service.errors import ErrorKind, ServiceError, from_job_error
from neuraldrive_audio.service.llm import (
    LLMClient,
    LLMFinish,
    LLMText,
    LLMToolCall,
    LLMUsage,
    chunk_events,
)
from neuraldrive_audio.service.names import ResolvedVoice
from neuraldrive_audio.service.speech_service import SpeechService
from neuraldrive_audio.service.transcription import SegmentHeard, TranscriptionOptions
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.model_store import ModelStore
from tests.llm_stand_in import MODEL, LLMStandIn

WHISPER = "Systran/faster-whisper-tiny.en"
KOKORO = "kokoro-82m"
PIPER = "piper/en_US-joe-medium"
WORKER = "unit-worker"

TRANSCRIPT = {
    "task": "transcribe",
    "language": "en",
    "duration": 1.5,
    "text": " Hello there. General Kenobi.",
    "segments": [],
}


@pytest.fixture
def settings(models_dir: Path, tmp_path: Path) -> Settings:
    return Settings(models_dir=models_dir, data_dir=tmp_path, sync_timeout_s=10)


@pytest.fixture
def speech(arq_redis: ArqRedis, settings: Settings) -> SpeechService:
    queue = JobQueue(arq_redis, max_depth=10, event_ttl_s=60, job_ttl_s=60)
    return SpeechService(queue, ModelCatalog(ModelStore(settings.resolved_models_dir)), settings)


async def _worker_alive(redis: ArqRedis) -> None:
    beat = WorkerHeartbeat(worker_id=WORKER, hostname="h", pid=1, device="cpu", started_at=0)
    await heartbeat.publish(redis, beat, ttl_s=60)


async def _next_job(redis: ArqRedis, taken: set[str]) -> str:
    """The id of the next job put on the interactive lane."""
    while True:
        for raw in await redis.zrange(INTERACTIVE.queue_name, 0, -1):
            job_id = raw.decode()
            if job_id not in taken:
                taken.add(job_id)
                return job_id
        await asyncio.sleep(0.01)


class Taken(list[str]):
    """The ids of the jobs the worker took; ``started`` is set at the first."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()


@contextlib.asynccontextmanager
async def _worker(redis: ArqRedis, script: list[JobEvent]) -> AsyncIterator[Taken]:
    """A live worker that answers every job with ``STARTED`` then ``script``."""
    await _worker_alive(redis)
    taken: set[str] = set()
    seen = Taken()

    async def run() -> None:
        while True:
            job_id = await _next_job(redis, taken)
            seen.append(job_id)
            seen.started.set()
            started = JobEvent(EventType.STARTED, {"worker_id": WORKER})
            for event in [started, *script]:
                await publish(redis, job_id, event, ttl_s=60)

    task = asyncio.create_task(run())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _aborted(redis: ArqRedis) -> set[str]:
    return {member.decode() for member in await redis.zrange(abort_jobs_ss, 0, -1)}


# --- transcription ----------------------------------------------------------------------


async def test_transcribe_events_yields_segments_then_the_transcript(
    speech: SpeechService, arq_redis: ArqRedis
) -> None:
    script = [
        JobEvent(EventType.SEGMENT, {"text": " Hello there."}),
        JobEvent(EventType.SEGMENT, {"text": " General Kenobi.", "logprobs": [{"t": 1}]}),
        JobEvent(EventType.DONE, {"transcript": TRANSCRIPT}),
    ]
    async with _worker(arq_redis, script) as jobs:
        events = [e async for e in speech.transcribe_events(b"RIFF...", TranscriptionOptions())]
    assert events[:2] == [
        SegmentHeard(" Hello there."),
        SegmentHeard(" General Kenobi.", [{"t": 1}]),
    ]
    assert isinstance(events[2], Transcript) and events[2].text == TRANSCRIPT["text"]
    assert len(jobs) == 1 and jobs[0] not in await _aborted(arq_redis)


async def test_transcribe_returns_the_transcript_and_uses_the_default_model(
    speech: SpeechService, arq_redis: ArqRedis
) -> None:
    script = [JobEvent(EventType.DONE, {"transcript": TRANSCRIPT})]
    async with _worker(arq_redis, script):
        transcript = await speech.transcribe(b"RIFF...")
    assert transcript.text == TRANSCRIPT["text"]
    # The payload named the default ASR model's id, not an alias.
    assert speech.asr_model(None).id == WHISPER


async def test_leaving_early_aborts_the_job(speech: SpeechService, arq_redis: ArqRedis) -> None:
    """The consumer closes the events after the first segment: the job is aborted."""
    script = [JobEvent(EventType.SEGMENT, {"text": " Hello"})]  # and then nothing
    async with _worker(arq_redis, script) as jobs:
        events = speech.transcribe_events(b"RIFF...")
        assert await anext(events) == SegmentHeard(" Hello")
        await events.aclose()
    assert jobs[0] in await _aborted(arq_redis)


async def test_cancelling_the_caller_aborts_the_job(
    speech: SpeechService, arq_redis: ArqRedis
) -> None:
    async with _worker(arq_redis, []) as jobs:
        task = asyncio.create_task(speech.transcribe(b"RIFF..."))
        await jobs.started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert jobs[0] in await _aborted(arq_redis)


async def test_a_worker_error_is_a_neutral_error(
    speech: SpeechService, arq_redis: ArqRedis
) -> None:
    error = JobError(status=400, code="invalid_audio", message="not audio", param="file")
    script = [JobEvent(EventType.ERROR, error.model_dump())]
    async with _worker(arq_redis, script) as jobs:
        with pytest.raises(ServiceError) as caught:
            await speech.transcribe(b"nonsense")
    assert caught.value.kind is ErrorKind.INVALID_AUDIO
    assert (caught.value.code, caught.value.param) == ("invalid_audio", "file")
    assert jobs[0] not in await _aborted(arq_redis)  # it ended: nothing to abort


async def test_no_worker_is_unavailable_with_a_retry_time(speech: SpeechService) -> None:
    with pytest.raises(ServiceError) as caught:
        await speech.transcribe(b"RIFF...")
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert caught.value.code == "backend_unavailable" and caught.value.retry_after_s


async def test_a_full_queue_is_rate_limited(
    speech: SpeechService, arq_redis: ArqRedis, settings: Settings
) -> None:
    await _worker_alive(arq_redis)
    speech.queue = JobQueue(arq_redis, max_depth=0, event_ttl_s=60, job_ttl_s=60)
    with pytest.raises(ServiceError) as caught:
        await speech.transcribe(b"RIFF...")
    assert caught.value.kind is ErrorKind.RATE_LIMITED and caught.value.retry_after_s


async def test_empty_audio_and_unknown_models_are_refused_before_queueing(
    speech: SpeechService, arq_redis: ArqRedis
) -> None:
    with pytest.raises(ServiceError) as empty:
        await speech.transcribe(b"")
    with pytest.raises(ServiceError) as unknown:
        await speech.transcribe(b"RIFF", TranscriptionOptions(model="whisper-9"))
    with pytest.raises(ServiceError) as wrong_kind:
        await speech.transcribe(b"RIFF", TranscriptionOptions(model="tts-1"))
    assert empty.value.kind is ErrorKind.INVALID_AUDIO
    assert (unknown.value.kind, unknown.value.code) == (ErrorKind.NOT_FOUND, "model_not_found")
    assert (wrong_kind.value.code, wrong_kind.value.param) == ("invalid_model", "model")
    assert await arq_redis.zcard(INTERACTIVE.queue_name) == 0


# --- speech -----------------------------------------------------------------------------


async def test_speak_yields_audio_then_the_summary(
    speech: SpeechService, arq_redis: ArqRedis
) -> None:
    summary = SpeechSummary(sample_rate=24_000, samples=48_000, sentences=2, input_characters=20)
    script = [
        JobEvent(EventType.AUDIO, audio=b"\x01\x00" * 10),
        JobEvent(EventType.AUDIO, audio=b"\x02\x00" * 10),
        JobEvent(EventType.DONE, summary.model_dump()),
    ]
    voice = speech.resolve_voice("tts-1", "alloy")
    async with _worker(arq_redis, script):
        pieces = [p async for p in speech.speak("One. Two.", voice, SpeechFormat.PCM)]
    assert pieces == [b"\x01\x00" * 10, b"\x02\x00" * 10, summary]


async def test_speak_submits_nothing_until_asked(
    speech: SpeechService, arq_redis: ArqRedis
) -> None:
    await _worker_alive(arq_redis)
    pieces = speech.speak("Hello.", ResolvedVoice(PIPER, "en_US-joe-medium"), SpeechFormat.MP3)
    assert await arq_redis.zcard(INTERACTIVE.queue_name) == 0
    await pieces.aclose()


# --- names ------------------------------------------------------------------------------


def test_one_call_resolves_model_and_voice(speech: SpeechService, settings: Settings) -> None:
    assert speech.resolve_voice(None, "default").model_id == settings.default_tts_model
    kokoro = speech.resolve_voice("gpt-4o-mini-tts-2025-12-15", "marin")
    assert kokoro == ResolvedVoice(KOKORO, settings.voice_aliases["marin"])
    piper = speech.resolve_voice(PIPER, "ALLOY")
    assert piper == ResolvedVoice(PIPER, "en_US-joe-medium")


def test_resolution_failures_name_their_field(speech: SpeechService) -> None:
    cases = [
        (("no-such-model", "alloy"), ErrorKind.NOT_FOUND, "model_not_found", "model"),
        ((WHISPER, "alloy"), ErrorKind.INVALID_REQUEST, "invalid_model", "model"),
        (("tts-1", "nobody"), ErrorKind.INVALID_REQUEST, "invalid_voice", "voice"),
    ]
    for (model, voice), kind, code, param in cases:
        with pytest.raises(ServiceError) as caught:
            speech.resolve_voice(model, voice)
        assert (caught.value.kind, caught.value.code, caught.value.param) == (kind, code, param)


def test_reply_voice_uses_the_voice_agents_model(speech: SpeechService) -> None:
    speech.settings = speech.settings.model_copy(update={"voice_tts_model": PIPER})
    voice = speech.reply_voice("alloy", 1.25)
    assert (voice.model_id, voice.voice, voice.speed) == (PIPER, "en_US-joe-medium", 1.25)


def test_listings_for_a_front_door(speech: SpeechService) -> None:
    assert [m.id for m in speech.list_asr_models()] == [WHISPER]
    voices = speech.list_voices()
    assert {v.model_id for v in voices} == {KOKORO, PIPER}
    assert all(v.languages for v in voices)
    assert [v.voice for v in speech.list_voices(PIPER)] == ["en_US-joe-medium"]


# --- the neutral error ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "error_type"),
    [
        (ErrorKind.INVALID_REQUEST, 400, "invalid_request_error"),
        (ErrorKind.INVALID_AUDIO, 400, "invalid_request_error"),
        (ErrorKind.NOT_FOUND, 404, "invalid_request_error"),
        (ErrorKind.CONFLICT, 409, "invalid_request_error"),
        (ErrorKind.TOO_LARGE, 413, "invalid_request_error"),
        (ErrorKind.RATE_LIMITED, 429, "rate_limit_error"),
        (ErrorKind.CLIENT_GONE, 499, "invalid_request_error"),
        (ErrorKind.INTERNAL, 500, "server_error"),
        (ErrorKind.UNAVAILABLE, 503, "server_error"),
        (ErrorKind.TIMEOUT, 503, "server_error"),
    ],
)
def test_http_maps_every_kind(kind: ErrorKind, status: int, error_type: str) -> None:
    error = http_error(ServiceError(kind, "it broke", param="p", code="c", retry_after_s=7))
    assert (error.status, error.type, error.param, error.code) == (status, error_type, "p", "c")
    assert error.headers is not None and error.headers["Retry-After"] == "7"
    event = realtime_error(ServiceError(kind, "it broke", param="p", code="c"))
    body = {"type": event.type, "code": event.code, "message": event.message, "param": event.param}
    assert body == {
        "type": "server_error" if status >= 500 or status == 429 else "invalid_request_error",
        "code": "c",
        "message": "it broke",
        "param": "p",
    }


def test_a_503_without_a_retry_time_still_says_when() -> None:
    error = http_error(ServiceError(ErrorKind.UNAVAILABLE, "down"))
    assert error.headers is not None and int(error.headers["Retry-After"]) >= 1
    assert http_error(ServiceError(ErrorKind.NOT_FOUND, "gone")).headers is None


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "invalid_audio", ErrorKind.INVALID_AUDIO),
        (400, "audio_too_long", ErrorKind.INVALID_REQUEST),
        (404, "model_not_found", ErrorKind.NOT_FOUND),
        (409, "model_too_large", ErrorKind.CONFLICT),
        (503, "model_busy", ErrorKind.UNAVAILABLE),
        (500, "internal_error", ErrorKind.INTERNAL),
    ],
)
def test_worker_errors_keep_their_status_over_http(status: int, code: str, kind: ErrorKind) -> None:
    error = from_job_error(JobError(status=status, code=code, message="m"))
    assert error.kind is kind
    assert http_error(error).status == status


# --- the LLM's typed stream -------------------------------------------------------------


def test_tool_call_deltas_are_kept() -> None:
    openai_style = [
        {"choices": [{"delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": ""}}]}}]},
        {"choices": [{"delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": '{"city": '}}]}}]},
        {"choices": [{"delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": '"Oslo"}'}}]}}]},
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
    ]  # fmt: skip
    events = [e for chunk in openai_style for e in chunk_events(chunk)]
    assert events == [
        LLMToolCall(0, "call_1", "get_weather", ""),
        LLMToolCall(0, None, None, '{"city": '),
        LLMToolCall(0, None, None, '"Oslo"}'),
        LLMFinish("tool_calls"),
    ]
    # Ollama sends each whole call in one piece, several in one chunk, and text alongside.
    ollama = {"choices": [{"delta": {"content": "Checking.", "tool_calls": [
        {"id": "call_a", "index": 0, "function": {"name": "a", "arguments": "{}"}},
        {"id": "call_b", "index": 1, "function": {"name": "b", "arguments": '{"x":1}'}}]},
        "finish_reason": "tool_calls"}]}  # fmt: skip
    assert chunk_events(ollama) == [
        LLMText("Checking."),
        LLMToolCall(0, "call_a", "a", "{}"),
        LLMToolCall(1, "call_b", "b", '{"x":1}'),
        LLMFinish("tool_calls"),
    ]


async def test_tools_reach_the_llm_untouched_and_the_stream_ends_with_usage(
    llm: LLMStandIn,
) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    client = LLMClient(llm.base_url, None, timeout_s=5)
    options = {"tools": tools, "tool_choice": "auto", "temperature": 0.1}
    events = [e async for e in client.stream(MODEL, [{"role": "user", "content": "hi"}], options)]
    await client.aclose()
    sent = llm.requests[-1]
    assert (sent["tools"], sent["tool_choice"], sent["temperature"]) == (tools, "auto", 0.1)
    assert "".join(e.text for e in events if isinstance(e, LLMText)) == llm.reply
    assert LLMFinish("stop") in events
    assert isinstance(events[-1], LLMUsage) and events[-1].completion_tokens > 0


def test_the_service_makes_one_llm_client(speech: SpeechService) -> None:
    assert speech.llm is speech.llm
