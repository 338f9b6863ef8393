"""The speech service: what every front door (HTTP, realtime, Wyoming, the console) calls.

Built once per process from the queue, the model catalog and the settings (the LLM
client is made on first use), and kept by the front door::

    service = SpeechService(queue, catalog, settings)
    transcript = await service.transcribe(wav_bytes, TranscriptionOptions(language="en"))
    voice = service.resolve_voice("tts-1", "alloy")
    async for piece in service.speak("Hello there.", voice, SpeechFormat.PCM):
        ...  # bytes as each sentence is made, then a SpeechSummary

Everything here is protocol-neutral: failures are :class:`ServiceError`, audio is bytes,
and leaving early (closing a generator, cancelling the awaiting task) aborts the work on
the workers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from neuraldrive_audio.config import Settings
from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.queue import heartbeat, keys
from neuraldrive_audio.queue.client import JobQueue, new_job_id
from neuraldrive_audio.queue.events import EventType
from neuraldrive_audio.queue.payloads import SpeechJob, SpeechSummary, Transcript
from neuraldrive_audio.service import jobs, names, transcription
from neuraldrive_audio.service.errors import ErrorKind, ServiceError
from neuraldrive_audio.service.llm import LLMClient, LLMUsage, llm_model_for
from neuraldrive_audio.service.names import ResolvedVoice
from neuraldrive_audio.service.reply import ReplyEvent, ReplyVoice, speak_reply
from neuraldrive_audio.service.transcription import (
    TranscriptionEvent,
    TranscriptionOptions,
    TranscriptionRun,
)
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.manifest import ModelManifest

DEVICES_FRESH_S = 5.0
"""How long what the heartbeats said about the workers' devices is taken as current."""

SpeechPiece = bytes | SpeechSummary
"""What :meth:`SpeechService.speak` yields: audio bytes, then one summary."""


@dataclass(frozen=True)
class VoiceInfo:
    """A voice of an installed text-to-speech model, with the languages it speaks."""

    model_id: str
    voice: str
    languages: list[str]


class SpeechService:
    """Transcription, speech, replies and name resolution on top of the job queue."""

    def __init__(
        self,
        queue: JobQueue,
        catalog: ModelCatalog,
        settings: Settings,
        llm: LLMClient | None = None,
    ) -> None:
        self.queue = queue
        self.catalog = catalog
        self.settings = settings
        self._llm = llm
        self._gpu_workers: bool | None = None
        self._devices_seen_at = float("-inf")

    @property
    def llm(self) -> LLMClient:
        """The LLM client (made from the settings on first use; one per process)."""
        if self._llm is None:
            self._llm = LLMClient.from_settings(self.settings)
        return self._llm

    async def aclose(self) -> None:
        """Close the LLM client's connections, if it was made."""
        if self._llm is not None:
            await self._llm.aclose()

    @property
    def timeout_s(self) -> float:
        """How long a job may take before the caller gets a ``timeout`` error."""
        return self.settings.sync_timeout_s

    # -- names ---------------------------------------------------------------------------

    def asr_model(self, name: str | None) -> ModelManifest:
        """The installed speech-to-text model a client names (None: the default)."""
        return names.resolve_asr_model(name, self.catalog, self.settings)

    def tts_model(self, name: str | None) -> ModelManifest:
        """The installed text-to-speech model a client names (None: the default)."""
        return names.resolve_model(
            name or self.settings.default_tts_model,
            self.catalog,
            self.settings,
            speech_to_text=False,
        )

    def resolve_voice(self, model: str | None, voice: str) -> ResolvedVoice:
        """The TTS model (None: the default) and the voice of it ``voice`` means; one call."""
        return names.resolve_voice(model, voice, self.catalog, self.settings)

    def reply_voice(self, voice: str, speed: float = 1.0) -> ReplyVoice:
        """How a spoken reply sounds: ``voice`` of the voice agent's TTS model
        (``VOICE_TTS_MODEL``, else as ``VOICE_TTS_POLICY`` chooses for the workers' devices
        last seen: see :func:`names.resolve_reply_voice`), at ``speed``."""
        resolved = names.resolve_reply_voice(
            voice, self.catalog, self.settings, gpu=self.workers_have_gpu
        )
        return ReplyVoice(resolved.model_id, resolved.voice, speed)

    @property
    def workers_have_gpu(self) -> bool:
        """Whether a live worker runs on a GPU, as last seen in the heartbeats (see
        :meth:`refresh_worker_devices`); before any worker was seen, what this host's
        ``worker_device`` says."""
        if self._gpu_workers is None:
            return self.settings.device.type == "cuda"
        return self._gpu_workers

    async def refresh_worker_devices(self) -> None:
        """Read the workers' devices from their heartbeats (at most every few seconds), for
        :meth:`reply_voice`. Front doors call it before they resolve a reply voice."""
        now = time.monotonic()
        if now - self._devices_seen_at < DEVICES_FRESH_S:
            return
        self._devices_seen_at = now
        beats = await heartbeat.live_workers(self.queue.redis)
        self._gpu_workers = any(b.device.startswith("cuda") for b in beats) if beats else None

    def llm_model(self, name: str | None) -> str:
        """The LLM model a client's model name means (None: the configured LLM)."""
        return llm_model_for(name, self.settings) if name else self.settings.llm_model

    def list_asr_models(self) -> list[ModelManifest]:
        """Installed speech-to-text models (their ``languages`` say what they hear)."""
        return [m for m in self.catalog.all() if names.is_speech_to_text(m)]

    def list_tts_models(self) -> list[ModelManifest]:
        """Installed text-to-speech models."""
        return [m for m in self.catalog.all() if not names.is_speech_to_text(m)]

    def list_voices(self, model: str | None = None) -> list[VoiceInfo]:
        """Every voice of every TTS model (or of ``model``), with its languages."""
        manifests = [self.tts_model(model)] if model is not None else self.list_tts_models()
        return [
            VoiceInfo(
                m.id,
                voice,
                [m.voice_languages[voice]] if voice in m.voice_languages else list(m.languages),
            )
            for m in manifests
            for voice in m.voices
        ]

    # -- transcription -------------------------------------------------------------------

    async def start_transcription(
        self, audio: bytes, options: TranscriptionOptions
    ) -> TranscriptionRun:
        """Resolve the model and submit the job; follow the returned run for the result.

        For callers that must know the job was accepted before they answer (an HTTP
        stream's status line); others use :meth:`transcribe` or :meth:`transcribe_events`.
        """
        if not audio:
            raise ServiceError(
                ErrorKind.INVALID_AUDIO, "The audio is empty.", code="invalid_file", param="file"
            )
        manifest = self.asr_model(options.model)
        return await transcription.start(self.queue, audio, manifest.id, options, self.timeout_s)

    async def transcribe(
        self, audio: bytes, options: TranscriptionOptions | None = None
    ) -> Transcript:
        """The transcript of ``audio`` (any format ffmpeg decodes)."""
        run = await self.start_transcription(audio, options or TranscriptionOptions())
        return await run.transcript()

    async def transcribe_events(
        self, audio: bytes, options: TranscriptionOptions | None = None
    ) -> AsyncGenerator[TranscriptionEvent, None]:
        """A :class:`SegmentHeard` per segment as recognised, then the :class:`Transcript`."""
        run = await self.start_transcription(audio, options or TranscriptionOptions())
        async with contextlib.aclosing(run.events()) as events:
            async for event in events:
                yield event

    # -- speech --------------------------------------------------------------------------

    async def speak(
        self, text: str, voice: ResolvedVoice, fmt: SpeechFormat, speed: float = 1.0
    ) -> AsyncGenerator[SpeechPiece, None]:
        """``text`` spoken: audio bytes in ``fmt`` as each sentence is made, then a
        :class:`SpeechSummary` (samples and sample rate, for usage).

        pcm is s16le mono at ``OUTPUT_SAMPLE_RATE``. The job is submitted on the first
        ``anext``, so a caller can wait for the first piece to learn of failures.
        """
        job_id = new_job_id()
        job = SpeechJob(
            job_id=job_id,
            model_id=voice.model_id,
            input=text,
            voice=voice.voice,
            response_format=fmt,
            speed=speed,
        )
        events = jobs.run(self.queue, keys.SPEECH_FUNCTION, job, job_id, self.timeout_s)
        async with contextlib.aclosing(events):
            async for event in events:
                if event.type is EventType.AUDIO and event.audio:
                    yield event.audio
                elif event.type is EventType.DONE:
                    yield SpeechSummary.model_validate(event.data)

    # -- the voice agent -----------------------------------------------------------------

    def reply(
        self,
        model: str,
        messages: list[dict[str, Any]],
        voice: ReplyVoice,
        options: dict[str, Any] | None = None,
    ) -> AsyncGenerator[ReplyEvent, None]:
        """The LLM's spoken reply to ``messages`` (see :func:`speak_reply`); ``model`` is
        the LLM's model (see :meth:`llm_model`)."""
        return speak_reply(
            self.llm, self.queue, model=model, messages=messages, voice=voice,
            job_timeout_s=self.timeout_s, options=options,
        )  # fmt: skip

    def reply_text(
        self, model: str, messages: list[dict[str, Any]], options: dict[str, Any] | None = None
    ) -> AsyncGenerator[str | LLMUsage, None]:
        """The LLM's reply as text deltas, then its usage (nothing spoken)."""
        return self.llm.stream_text(model, messages, options)
