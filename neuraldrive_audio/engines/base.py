"""The small protocols every engine implements; each engine is a plug-in module beside this one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from neuraldrive_audio.media.samples import FloatAudio
from neuraldrive_audio.queue.payloads import (
    Transcript,
    TranscriptionTask,
    TranscriptSegment,
    VadSplit,
)
from neuraldrive_audio.storage.manifest import ModelManifest


class JobCancelledError(Exception):
    """Raised inside an engine when the job's cancel event is set."""


class EngineInputError(ValueError):
    """The request cannot be served by this model (e.g. translate on an English-only model)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class TranscribeOptions:
    """Per-request settings for a speech-to-text engine."""

    task: TranscriptionTask
    language: str | None
    prompt: str | None
    temperature: float
    word_timestamps: bool
    batch_size: int = 0
    """0: sequential decoding; >0: faster-whisper's batched pipeline (long job chunks)."""
    clips: tuple[tuple[float, float], ...] = ()
    """Batched only: the speech clips (seconds) to decode, instead of running the VAD."""
    logprobs: bool = False
    """Attach each segment's token log-probabilities."""
    hotwords: str | None = None
    """Words to bias recognition toward (faster-whisper's ``hotwords``)."""
    languages: tuple[str, ...] = ()
    """The audio is in one of these languages; detection picks among them."""
    vad_split: VadSplit | None = None
    """Decode each speech clip the VAD finds on its own (batched pipeline, ``batch_size``
    or 1), instead of the whole audio."""


@runtime_checkable
class Engine(Protocol):
    """A loaded model. ``close`` releases what it holds."""

    manifest: ModelManifest

    def close(self) -> None:
        """Free the model's memory."""


@runtime_checkable
class SpeechToText(Engine, Protocol):
    """An engine that turns 16 kHz mono float audio into a transcript."""

    def transcribe(
        self,
        audio: FloatAudio,
        options: TranscribeOptions,
        on_segment: Callable[[TranscriptSegment], None],
        cancel: threading.Event,
    ) -> Transcript:
        """Run blocking inference; call ``on_segment`` as each segment is final."""
        ...


@runtime_checkable
class TextToSpeech(Engine, Protocol):
    """An engine that speaks one sentence at a time."""

    sample_rate: int

    @property
    def voices(self) -> list[str]:
        """Voice names this model accepts."""
        ...

    def synthesize(self, sentence: str, voice: str, speed: float) -> FloatAudio:
        """Blocking synthesis of one sentence to mono float32 at ``sample_rate``.

        Raises EngineInputError for an unknown voice.
        """
        ...


class DecodeBatch(Protocol):
    """Requests decoded together (dynamic batching); each member calls ``transcribe`` once,
    from its own thread, or ``leave`` if it never gets that far."""

    def transcribe(
        self,
        audio: FloatAudio,
        options: TranscribeOptions,
        on_segment: Callable[[TranscriptSegment], None],
        cancel: threading.Event,
    ) -> Transcript:
        """Blocking: this member's transcript, exactly as ``SpeechToText.transcribe`` gives it."""
        ...

    def leave(self) -> None:
        """This member will not decode (it failed or was cancelled before)."""
        ...


@runtime_checkable
class BatchingSpeechToText(SpeechToText, Protocol):
    """A speech-to-text engine that can decode several requests in one batched call."""

    def batchable(self, options: TranscribeOptions) -> bool:
        """Whether a request with these options may join a batch."""
        ...

    def batch(self, members: int) -> DecodeBatch:
        """A batch for ``members`` requests."""
        ...


def as_speech_to_text(engine: Engine) -> SpeechToText:
    """``engine`` as a speech-to-text engine; EngineInputError (param ``model``) if it is not."""
    if not isinstance(engine, SpeechToText):
        raise EngineInputError(f"model {engine.manifest.id} does not transcribe", "model")
    return engine


def as_text_to_speech(engine: Engine) -> TextToSpeech:
    """``engine`` as a text-to-speech engine; EngineInputError (param ``model``) if it is not."""
    if not isinstance(engine, TextToSpeech):
        raise EngineInputError(f"model {engine.manifest.id} does not synthesize speech", "model")
    return engine
