"""What the Wyoming front door needs from the speech service, and its failures.

The connection handler talks to this small seam only: transcribe 16 kHz audio (segments as
they are recognised, then the transcript) and speak one piece of text (PCM chunks). The
implementation runs them through the speech service's job lifecycle
(``neuraldrive_audio.service``) and maps its errors to Wyoming codes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from neuraldrive_audio.config import Settings
from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.media.pcm import wav_bytes
from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.client import JobQueue, new_job_id
from neuraldrive_audio.queue.events import EventType
from neuraldrive_audio.queue.payloads import SpeechJob, Transcript
from neuraldrive_audio.service import jobs, transcription
from neuraldrive_audio.service.errors import ServiceError
from neuraldrive_audio.service.transcription import TranscriptionOptions

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


_QUEUE_CODES = {"rate_limit_exceeded": "queue-full"}


def speech_failure(exc: ServiceError) -> SpeechFailure:
    """The Wyoming failure for a service error: its code in Wyoming's spelling (a full
    queue is ``queue-full``), and its text."""
    code = exc.code or exc.kind.value
    return SpeechFailure(_QUEUE_CODES.get(code, code.replace("_", "-")), exc.message)


class QueueSpeech:
    """:class:`SpeechPort` on the speech service's job lifecycle: one interactive-lane job
    per request; leaving early aborts it."""

    def __init__(self, queue: JobQueue, settings: Settings) -> None:
        self._queue = queue
        self._timeout_s = settings.sync_timeout_s

    async def transcribe(
        self, pcm16k: bytes, model_id: str, language: str | None
    ) -> AsyncIterator[RecognisedSegment | Transcript]:
        """Submit a transcription job for the audio and follow it."""
        wav = wav_bytes(np.frombuffer(pcm16k, "<i2"), 16_000)
        options = TranscriptionOptions(language=language)
        try:
            run = await transcription.start(self._queue, wav, model_id, options, self._timeout_s)
            async with contextlib.aclosing(run.events()) as events:
                async for event in events:
                    if isinstance(event, Transcript):
                        yield event
                    else:
                        yield RecognisedSegment(event.text)
        except ServiceError as exc:
            raise speech_failure(exc) from exc

    async def speak(self, text: str, model_id: str, voice: str) -> AsyncIterator[bytes]:
        """Submit a speech job (raw PCM) and pass its audio on as it comes."""
        job = SpeechJob(
            job_id=new_job_id(), model_id=model_id, input=text, voice=voice,
            response_format=SpeechFormat.PCM,
        )  # fmt: skip
        events = jobs.run(self._queue, keys.SPEECH_FUNCTION, job, job.job_id, self._timeout_s)
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    if event.type is EventType.AUDIO and event.audio:
                        yield event.audio
        except ServiceError as exc:
            raise speech_failure(exc) from exc
