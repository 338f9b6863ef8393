"""A turn's transcription starts while the VAD still holds its pause: by speech_stopped the
job is already queued, and the committed turn follows it instead of submitting another;
speech that resumes within the pause aborts that early job. A transcription session on an
in-process fakeredis, with the scripted worker of test_speech_service_unit, and Piper-made
speech fed as fast as the session takes it (no real-time pace)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
import numpy.typing as npt
from arq.connections import ArqRedis

from neuraldrive_audio.api.realtime.emitter import EventEmitter
from neuraldrive_audio.api.realtime.session import RealtimeSession, SessionLimits
from neuraldrive_audio.api.realtime.session_config import SessionConfig, TurnDetection
from neuraldrive_audio.api.realtime.session_registry import RealtimeRegistry
from neuraldrive_audio.queue.client import JobQueue
from neuraldrive_audio.queue.events import EventType, JobEvent
from neuraldrive_audio.queue.lanes import INTERACTIVE
from tests.realtime_audio import sentence_pcm, silence
from tests.speech_clips import SENTENCES
from tests.test_speech_service_unit import TRANSCRIPT, _aborted, _worker

CHUNK = 2400  # 100 ms at 24 kHz
DONE = [JobEvent(EventType.DONE, {"transcript": TRANSCRIPT})]


class Turns:
    """A transcription session, the events it sent, and how many jobs were queued when
    each ``speech_stopped`` went out."""

    def __init__(self, redis: ArqRedis, pause_ms: int = 500) -> None:
        self.redis = redis
        self.sent: list[dict[str, Any]] = []
        self.jobs_at_stop: list[int] = []
        self.session = RealtimeSession(
            emitter=EventEmitter(self._send),
            queue=JobQueue(redis, max_depth=10, event_ttl_s=60, job_ttl_s=60),
            registry=RealtimeRegistry(4, 4),
            resolve_model=lambda name: "Systran/faster-whisper-tiny.en",
            limits=SessionLimits(max_buffer_ms=60_000, turn_timeout_s=10),
            config=SessionConfig(
                type="transcription", turn_detection=TurnDetection(silence_duration_ms=pause_ms)
            ),
        )

    async def _send(self, text: str) -> None:
        event = json.loads(text)
        self.sent.append(event)
        if event["type"] == "input_audio_buffer.speech_stopped":
            self.jobs_at_stop.append(int(await self.redis.zcard(INTERACTIVE.queue_name)))

    async def speak(self, audio: npt.NDArray[np.int16]) -> None:
        for start in range(0, len(audio), CHUNK):
            chunk = base64.b64encode(audio[start : start + CHUNK].tobytes()).decode()
            await self.session.handle(
                json.dumps({"type": "input_audio_buffer.append", "audio": chunk})
            )

    async def completed(self) -> list[str]:
        for _ in range(500):
            done = [e for e in self.sent if e["type"].endswith("transcription.completed")]
            if done:
                return [e["transcript"] for e in done]
            await asyncio.sleep(0.01)
        raise AssertionError([e["type"] for e in self.sent])


async def test_the_transcript_job_starts_during_the_pause_and_serves_the_turn(
    arq_redis: ArqRedis,
) -> None:
    turns = Turns(arq_redis)
    async with _worker(arq_redis, DONE) as taken:
        await turns.speak(np.concatenate([silence(300), sentence_pcm(SENTENCES[0]), silence(900)]))
        assert await turns.completed() == [TRANSCRIPT["text"].strip()]
        await turns.session.close()
    assert turns.jobs_at_stop == [1]  # queued before speech_stopped: the pause's early job
    assert len(taken) == 1 and not await _aborted(arq_redis)


async def test_speech_resuming_in_the_pause_aborts_the_early_job(arq_redis: ArqRedis) -> None:
    first, second = sentence_pcm(SENTENCES[0]), sentence_pcm(SENTENCES[1])
    turns = Turns(arq_redis, pause_ms=800)
    async with _worker(arq_redis, DONE) as taken:
        # 400 ms between the sentences (plus Piper's own quiet edges): long enough to start
        # the early job, shorter than the VAD's 800 ms pause.
        await turns.speak(
            np.concatenate([silence(300), first, silence(400), second, silence(1200)])
        )
        assert await turns.completed() == [TRANSCRIPT["text"].strip()]
        await turns.session.close()
    stopped = [e for e in turns.sent if e["type"] == "input_audio_buffer.speech_stopped"]
    assert len(stopped) == 1
    aborted = await _aborted(arq_redis)
    assert len(taken) == 2 and len(aborted) == 1
    assert taken[0] in aborted  # the job of the first sentence alone
