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

from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.client import JobQueue, new_job_id
from neuraldrive_audio.queue.events import EventType
from neuraldrive_audio.queue.payloads import (
    Transcript,
    TranscriptionJob,
    TranscriptionTask,
    VadSplit,
)
from neuraldrive_audio.service import jobs
from neuraldrive_audio.service.errors import ErrorKind, ServiceError


@dataclass(frozen=True)
class TranscriptionOptions:
    """What to do with the audio; every field has the OpenAI endpoint's default."""

    model: str | None = None
    """Model id or OpenAI alias (``whisper-1``, ...); None: the default ASR model."""
    task: TranscriptionTask = TranscriptionTask.TRANSCRIBE
    language: str | None = None
    """ISO code of the spoken language; None: detect it."""
    prompt: str | None = None
    temperature: float = 0.0
    word_timestamps: bool = False
    logprobs: bool = False
    hotwords: str | None = None
    """Words to bias recognition toward."""
    languages: list[str] = field(default_factory=list)
    """Language codes the audio may be in (a hint when ``language`` is None)."""
    vad_split: VadSplit | None = None
    """Split the audio at silences before decoding."""


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
        task=options.task,
        model_id=model_id,
        upload_key=keys.upload(job_id),
        language=options.language,
        prompt=options.prompt,
        temperature=options.temperature,
        word_timestamps=options.word_timestamps,
        logprobs=options.logprobs,
        hotwords=options.hotwords,
        languages=options.languages,
        vad_split=options.vad_split,
    )
    await jobs.submit(queue, keys.TRANSCRIBE_FUNCTION, job, job_id, upload=audio)
    return TranscriptionRun(queue, job_id, timeout_s)
