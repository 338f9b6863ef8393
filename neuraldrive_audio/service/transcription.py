"""Transcription on the workers: what a caller may ask, and the events it gets back.

A front door describes the work with :class:`TranscriptionOptions` (model name or None for
the default, task, language, prompt, ...). :func:`start` submits one interactive-lane job
and returns a :class:`TranscriptionRun`, which is then either awaited for its
:class:`Transcript` (:meth:`TranscriptionRun.transcript`) or followed as events
(:meth:`TranscriptionRun.events`): a :class:`SegmentHeard` per segment as it is
recognised, then the final :class:`Transcript`. Leaving early (closing the events, or
cancelling the awaiting task) aborts the job.

Submitting first and following second lets an HTTP front door answer a full queue or an
unknown model with a status code before it starts a streamed response.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, Field

from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.client import JobQueue, new_job_id
from neuraldrive_audio.queue.events import EventType
from neuraldrive_audio.queue.payloads import (
    Transcript,
    TranscriptionJob,
    TranscriptionRequest,
)
from neuraldrive_audio.service import jobs
from neuraldrive_audio.service.errors import ErrorKind, ServiceError


class TranscriptionOptions(TranscriptionRequest):
    """What to do with the audio, and which model does it; OpenAI's defaults throughout."""

    model_config = ConfigDict(frozen=True)

    model: str | None = Field(
        default=None,
        description="Model id or OpenAI alias (``whisper-1``, ...); None: the default ASR model.",
    )


@dataclass(frozen=True)
class SegmentHeard:
    """A segment, as soon as it is recognised: its text (with its leading space, as
    Whisper gives it) and its token log-probabilities when asked for."""

    text: str
    logprobs: list[dict[str, Any]] = field(default_factory=list)


TranscriptionEvent = SegmentHeard | Transcript


class TranscriptionRun:
    """A submitted transcription job: follow it once, as events or for its result."""

    def __init__(self, queue: JobQueue, job_id: str, timeout_s: float) -> None:
        self._queue = queue
        self.job_id = job_id
        self._timeout_s = timeout_s

    async def events(self) -> AsyncGenerator[TranscriptionEvent, None]:
        """:class:`SegmentHeard` per segment, then the :class:`Transcript`."""
        followed = jobs.follow(self._queue, self.job_id, self._timeout_s)
        async with contextlib.aclosing(followed):
            async for event in followed:
                if event.type is EventType.SEGMENT:
                    yield SegmentHeard(
                        str(event.data.get("text", "")), list(event.data.get("logprobs") or [])
                    )
                elif event.type is EventType.DONE:
                    yield Transcript.model_validate(event.data["transcript"])
                    return
        raise _no_result()

    async def transcript(self) -> Transcript:
        """The final transcript (the job may run again on another worker if its worker
        dies, even after partial output: only the end matters here)."""
        followed = jobs.follow(self._queue, self.job_id, self._timeout_s, retry_after_output=True)
        async with contextlib.aclosing(followed):
            async for event in followed:
                if event.type is EventType.DONE:
                    return Transcript.model_validate(event.data["transcript"])
        raise _no_result()

    async def abort(self) -> None:
        """Stop the job (for a caller that will not follow it after all)."""
        await jobs.abort(self._queue, self.job_id)


def _no_result() -> ServiceError:
    return ServiceError(ErrorKind.INTERNAL, "the transcription job ended without a result")


async def start(
    queue: JobQueue, audio: bytes, model_id: str, options: TranscriptionOptions, timeout_s: float
) -> TranscriptionRun:
    """Submit ``audio`` (any format ffmpeg decodes) for ``model_id``, an installed ASR
    model; a full queue or no worker is a :class:`ServiceError` here."""
    job_id = new_job_id()
    job = TranscriptionJob(
        job_id=job_id,
        model_id=model_id,
        upload_key=keys.upload(job_id),
        **options.model_dump(exclude={"model"}),
    )
    await jobs.submit(queue, keys.TRANSCRIBE_FUNCTION, job, job_id, upload=audio)
    return TranscriptionRun(queue, job_id, timeout_s)
