"""What the Wyoming front door needs from the speech service, and its failures.

The connection handler talks to this small seam only: transcribe 16 kHz audio (segments as
they are recognised, then the transcript) and speak one piece of text (PCM chunks). The
implementation submits interactive-lane jobs and follows their events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from neuraldrive_audio.config import Settings
from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.media.pcm import wav_bytes
from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.client import (
    JobQueue,
    JobTimeoutError,
    NoWorkerError,
    QueueFullError,
    WorkerLostError,
    new_job_id,
)
from neuraldrive_audio.queue.events import EventType, JobEvent
from neuraldrive_audio.queue.payloads import (
    JobError,
    SpeechJob,
    Transcript,
    TranscriptionJob,
    TranscriptSegment,
)

SPEECH_SAMPLE_RATE = 24_000
"""Every spoken stream goes out at this rate (16-bit mono), whatever the voice's model:
Home Assistant builds one WAV header from the first ``audio-start``."""


class SpeechFailure(Exception):
    """A request the service could not serve; ``code`` is the Wyoming error code."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


@dataclass(frozen=True)
class RecognisedSegment:
    """One piece of the transcript, sent as soon as the worker has it."""

    text: str


class SpeechPort(Protocol):
    """The speech service as the Wyoming front door uses it."""

    def transcribe(
        self, pcm16k: bytes, model_id: str, language: str | None
    ) -> AsyncIterator[RecognisedSegment | Transcript]:
        """Segments as recognised, then the whole transcript. Raises SpeechFailure."""
        ...

    def speak(self, text: str, model_id: str, voice: str) -> AsyncIterator[bytes]:
        """16-bit mono PCM at :data:`SPEECH_SAMPLE_RATE`, sentence by sentence."""
        ...


def _queue_failure(exc: Exception) -> SpeechFailure:
    match exc:
        case QueueFullError():
            return SpeechFailure("queue-full", f"The speech queue is full ({exc}); retry later.")
        case NoWorkerError() | WorkerLostError():
            return SpeechFailure("backend-unavailable", f"Speech backend unavailable: {exc}.")
        case JobTimeoutError():
            return SpeechFailure("timeout", f"Speech backend timed out: {exc}.")
    raise exc


def _job_failure(event: JobEvent) -> SpeechFailure:
    error = JobError.model_validate(event.data)
    return SpeechFailure(error.code.replace("_", "-"), error.message)


class QueueSpeech:
    """:class:`SpeechPort` on the job queue: one interactive-lane job per request."""

    def __init__(self, queue: JobQueue, settings: Settings) -> None:
        self._queue = queue
        self._timeout_s = settings.sync_timeout_s

    async def _events(self, function: str, job: TranscriptionJob | SpeechJob,
                      upload: bytes | None) -> AsyncIterator[JobEvent]:  # fmt: skip
        try:
            await self._queue.submit(function, job, job.job_id, upload=upload)
        except (QueueFullError, NoWorkerError) as exc:
            raise _queue_failure(exc) from exc
        finished = False
        try:
            async for event in self._queue.follow(job.job_id, self._timeout_s):
                finished = event.type.is_final
                if event.type is EventType.ERROR:
                    raise _job_failure(event)
                yield event
        except (WorkerLostError, JobTimeoutError) as exc:
            raise _queue_failure(exc) from exc
        finally:
            if not finished:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._queue.abort(job.job_id))

    async def transcribe(
        self, pcm16k: bytes, model_id: str, language: str | None
    ) -> AsyncIterator[RecognisedSegment | Transcript]:
        """Submit a transcription job for the audio and follow it."""
        job_id = new_job_id()
        job = TranscriptionJob(
            job_id=job_id, model_id=model_id, upload_key=keys.upload(job_id), language=language
        )
        wav = wav_bytes(np.frombuffer(pcm16k, "<i2"), 16_000)
        async for event in self._events(keys.TRANSCRIBE_FUNCTION, job, wav):
            if event.type is EventType.SEGMENT:
                yield RecognisedSegment(TranscriptSegment.model_validate(event.data).text)
            elif event.type is EventType.DONE:
                yield Transcript.model_validate(event.data["transcript"])

    async def speak(self, text: str, model_id: str, voice: str) -> AsyncIterator[bytes]:
        """Submit a speech job (raw PCM) and pass its audio on as it comes."""
        job = SpeechJob(
            job_id=new_job_id(), model_id=model_id, input=text, voice=voice,
            response_format=SpeechFormat.PCM,
        )  # fmt: skip
        async for event in self._events(keys.SPEECH_FUNCTION, job, None):
            if event.type is EventType.AUDIO and event.audio:
                yield event.audio
