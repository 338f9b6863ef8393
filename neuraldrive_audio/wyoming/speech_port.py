"""What the Wyoming front door needs from the speech service, and its failures.

The connection handler talks to this small seam only: transcribe 16 kHz audio (segments as
they are recognised, then the transcript) and speak one piece of text (PCM chunks).
:class:`ServiceSpeech` is it on top of :class:`SpeechService`, which runs every request as
an interactive-lane job on the workers and aborts it when the caller leaves.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.media.pcm import wav_bytes
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE
from neuraldrive_audio.media.samples import WHISPER_SAMPLE_RATE
from neuraldrive_audio.queue.payloads import Transcript
from neuraldrive_audio.service.errors import ErrorKind, ServiceError
from neuraldrive_audio.service.names import ResolvedVoice
from neuraldrive_audio.service.speech_service import SpeechService
from neuraldrive_audio.service.transcription import SegmentHeard, TranscriptionOptions

SPEECH_SAMPLE_RATE = OUTPUT_SAMPLE_RATE
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


_CODE_OF_KIND = {
    ErrorKind.RATE_LIMITED: "queue-full",
    ErrorKind.UNAVAILABLE: "backend-unavailable",
    ErrorKind.TIMEOUT: "timeout",
    ErrorKind.TOO_LARGE: "too-large",
    ErrorKind.INVALID_AUDIO: "invalid-audio",
}


def wyoming_failure(error: ServiceError) -> SpeechFailure:
    """The Wyoming ``error`` for a service failure: the retryable kinds by name, others by
    the service's code (``model_not_found`` -> ``model-not-found``)."""
    code = _CODE_OF_KIND.get(error.kind) or (error.code or error.kind.value).replace("_", "-")
    return SpeechFailure(code, error.message)


class ServiceSpeech:
    """:class:`SpeechPort` on the speech service."""

    def __init__(self, service: SpeechService) -> None:
        self._service = service

    async def transcribe(
        self, pcm16k: bytes, model_id: str, language: str | None
    ) -> AsyncIterator[RecognisedSegment | Transcript]:
        """One transcription job for the audio (sent as a 16 kHz WAV), followed."""
        wav = wav_bytes(np.frombuffer(pcm16k, "<i2"), WHISPER_SAMPLE_RATE)
        options = TranscriptionOptions(model=model_id, language=language)
        try:
            events = self._service.transcribe_events(wav, options)
            async with contextlib.aclosing(events):
                async for event in events:
                    if isinstance(event, SegmentHeard):
                        yield RecognisedSegment(event.text)
                    else:
                        yield event
        except ServiceError as exc:
            raise wyoming_failure(exc) from exc

    async def speak(self, text: str, model_id: str, voice: str) -> AsyncIterator[bytes]:
        """One speech job (raw PCM), its audio passed on as each sentence is made."""
        try:
            pieces = self._service.speak(text, ResolvedVoice(model_id, voice), SpeechFormat.PCM)
            async with contextlib.aclosing(pieces):
                async for piece in pieces:
                    if isinstance(piece, bytes):
                        yield piece
        except ServiceError as exc:
            raise wyoming_failure(exc) from exc
