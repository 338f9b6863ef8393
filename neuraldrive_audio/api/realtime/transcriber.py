"""Committed turns -> interactive-lane transcription jobs -> transcription events.

Each turn is a task: the speech service transcribes the turn's audio (a WAV upload);
the session sends ``...transcription.delta`` per finished segment and ``.completed`` at the
end, or ``.failed`` when the job fails or its worker dies. The session goes on either way.
Turns run at once, but their ``.completed``/``.failed`` go out in commit order.

A turn may be transcribed early: while the VAD holds its pause before speech_stopped, the
session hands the speech so far to :meth:`TurnTranscriber.start_early`; when the pause ends
the turn, the turn follows that job instead of submitting its own (its transcript is ready
sooner by most of the pause). Speech that resumes discards it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from openai import BaseModel
from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionDeltaEvent,
    ConversationItemInputAudioTranscriptionFailedEvent,
)
from openai.types.realtime.conversation_item_input_audio_transcription_completed_event import (
    UsageTranscriptTextUsageDuration,
)
from openai.types.realtime.conversation_item_input_audio_transcription_failed_event import (
    Error as TranscriptionError,
)

from neuraldrive_audio.api.realtime.emitter import EventEmitter
from neuraldrive_audio.api.realtime.protocol import new_event_id, realtime_error
from neuraldrive_audio.api.realtime.session_registry import RealtimeRegistry
from neuraldrive_audio.media.pcm import wav_bytes
from neuraldrive_audio.queue.client import JobQueue
from neuraldrive_audio.queue.payloads import Transcript
from neuraldrive_audio.service import transcription
from neuraldrive_audio.service.errors import ErrorKind, ServiceError
from neuraldrive_audio.service.transcription import (
    TranscriptionOptions,
    TranscriptionRun,
)

log = logging.getLogger(__name__)

TranscriptHook = Callable[[str, str | None], Awaitable[None]]
"""Called with (item_id, transcript or None on failure) once a turn is settled."""


@dataclass
class CommittedTurn:
    """A user turn handed to transcription."""

    item_id: str
    audio: npt.NDArray[np.int16]
    sample_rate: int
    stopped_at: float
    """``time.monotonic()`` of speech_stopped (or the commit), for the delay metric."""

    @property
    def duration_s(self) -> float:
        """Length of the turn's audio."""
        return len(self.audio) / self.sample_rate


@dataclass
class TranscriptionRequest:
    """What the session's configuration asks of every turn."""

    model_id: str
    language: str | None
    prompt: str | None


@dataclass
class _Early:
    """A job started on a turn's speech before the turn was committed."""

    item_id: str
    request: TranscriptionRequest
    submitted: asyncio.Task[TranscriptionRun]


class _InOrder:
    """A turn's place in commit order: its result goes out after the turn before it has
    settled (completed, failed or cancelled), so a short turn that a batch finished first
    never overtakes a longer one committed earlier."""

    def __init__(self, previous: asyncio.Event | None) -> None:
        self._previous = previous
        self.settled = asyncio.Event()

    async def turn_comes(self) -> None:
        """Until every turn committed before this one has settled."""
        if self._previous is not None:
            await self._previous.wait()


class TurnTranscriber:
    """Runs the session's turns on the queue, several at once, and cancels them on close."""

    def __init__(
        self,
        queue: JobQueue,
        emitter: EventEmitter,
        registry: RealtimeRegistry,
        timeout_s: float,
        on_settled: TranscriptHook,
    ) -> None:
        self._queue = queue
        self._emitter = emitter
        self._registry = registry
        self._timeout_s = timeout_s
        self._on_settled = on_settled
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_settled: asyncio.Event | None = None
        self._early: _Early | None = None
        self._aborting: set[asyncio.Task[None]] = set()
        self.job_ids: dict[str, str] = {}
        """item id -> job id of turns in flight (for logs and tests)."""

    @property
    def in_flight(self) -> int:
        """Turns still being transcribed."""
        return len(self._tasks)

    def start(self, turn: CommittedTurn, request: TranscriptionRequest) -> None:
        """Transcribe ``turn`` in the background (with the job started early on its speech,
        when there is one for the same item and request)."""
        self._registry.turn_committed()
        order = self._next_in_order()
        early = self._early if self.has_early(turn.item_id) else None
        if early is not None:
            self._early = None
            if early.request != request:  # the session's transcription settings changed
                self._abandon(early)
                early = None
        submitted = early.submitted if early is not None else None
        self._spawn(self._run(turn, request, order, submitted), order)

    def start_early(
        self,
        item_id: str,
        audio: npt.NDArray[np.int16],
        sample_rate: int,
        request: TranscriptionRequest,
    ) -> None:
        """Start transcribing item ``item_id``'s speech so far, ahead of its commit."""
        self.discard_early()
        upload = wav_bytes(audio, sample_rate)
        submitted = asyncio.create_task(
            transcription.start(
                self._queue,
                upload,
                request.model_id,
                TranscriptionOptions(language=request.language, prompt=request.prompt),
                self._timeout_s,
            )
        )
        self._early = _Early(item_id, request, submitted)

    def has_early(self, item_id: str | None) -> bool:
        """Whether item ``item_id``'s speech is being transcribed ahead of its commit."""
        return self._early is not None and self._early.item_id == item_id

    def discard_early(self) -> None:
        """Speech resumed (or the buffer changed): the early job is not the turn's."""
        if self._early is not None:
            self._abandon(self._early)
            self._early = None

    def _abandon(self, early: _Early) -> None:
        async def abort() -> None:
            with contextlib.suppress(ServiceError):
                await (await early.submitted).abort()

        task = asyncio.create_task(abort())
        self._aborting.add(task)
        task.add_done_callback(self._aborting.discard)

    def start_failed(self, turn: CommittedTurn, error: ServiceError) -> None:
        """Report ``turn`` as failed without running it (e.g. its model is gone)."""
        self._registry.turn_committed()
        order = self._next_in_order()
        self._spawn(self._failed(turn, error, order), order)

    def _next_in_order(self) -> _InOrder:
        order = _InOrder(self._last_settled)
        self._last_settled = order.settled
        return order

    def _spawn(self, work: Coroutine[Any, Any, None], order: _InOrder) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: order.settled.set())  # also when cancelled

    async def close(self) -> None:
        """Cancel every turn in flight; their jobs are aborted on the workers."""
        self.discard_early()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*self._aborting, return_exceptions=True)

    async def _run(
        self,
        turn: CommittedTurn,
        request: TranscriptionRequest,
        order: _InOrder,
        early: asyncio.Task[TranscriptionRun] | None,
    ) -> None:
        extra: dict[str, str] = {"item_id": turn.item_id}
        try:
            run, how = await self._early_run(early), "started early"
            if run is None:
                options = TranscriptionOptions(language=request.language, prompt=request.prompt)
                upload = wav_bytes(turn.audio, turn.sample_rate)
                run = await transcription.start(
                    self._queue, upload, request.model_id, options, self._timeout_s
                )
                how = "queued"
            self.job_ids[turn.item_id] = extra["job_id"] = run.job_id
            log.info("realtime turn %s (%.2f s of audio)", how, turn.duration_s, extra=extra)
            # Cancelled (client gone) before the job settled: the run aborts the job.
            transcript = await self._follow(turn, run)
            await self._completed(turn, transcript, order)
        except ServiceError as exc:
            log.info("realtime turn failed: %s", exc.message, extra=extra)
            await self._failed(turn, exc, order)
        finally:
            self.job_ids.pop(turn.item_id, None)

    @staticmethod
    async def _early_run(early: asyncio.Task[TranscriptionRun] | None) -> TranscriptionRun | None:
        """The early job, or None (none, or it could not be submitted: submit anew)."""
        if early is None:
            return None
        try:
            return await early
        except ServiceError:
            return None

    async def _follow(self, turn: CommittedTurn, run: TranscriptionRun) -> Transcript:
        first = True
        async with contextlib.aclosing(run.events()) as events:
            async for event in events:
                if isinstance(event, Transcript):
                    return event
                delta = event.text.lstrip() if first else event.text
                if delta:
                    first = False
                    await self._emitter.emit(
                        ConversationItemInputAudioTranscriptionDeltaEvent(
                            type="conversation.item.input_audio_transcription.delta",
                            event_id=new_event_id(),
                            item_id=turn.item_id,
                            content_index=0,
                            delta=delta,
                        )
                    )
        raise ServiceError(ErrorKind.INTERNAL, "the transcription job ended without a result")

    async def _completed(
        self, turn: CommittedTurn, transcript: Transcript, order: _InOrder
    ) -> None:
        text = transcript.text.strip()
        usage = UsageTranscriptTextUsageDuration(type="duration", seconds=round(turn.duration_s, 3))
        completed = ConversationItemInputAudioTranscriptionCompletedEvent(
            type="conversation.item.input_audio_transcription.completed",
            event_id=new_event_id(),
            item_id=turn.item_id,
            content_index=0,
            transcript=text,
            usage=usage,
        )
        await self._settle(turn, order, completed, text)

    async def _failed(self, turn: CommittedTurn, exc: ServiceError, order: _InOrder) -> None:
        error = realtime_error(exc)
        failed = ConversationItemInputAudioTranscriptionFailedEvent(
            type="conversation.item.input_audio_transcription.failed",
            event_id=new_event_id(),
            item_id=turn.item_id,
            content_index=0,
            error=TranscriptionError(
                type=error.type, code=error.code, message=error.message, param=error.param
            ),
        )
        await self._settle(turn, order, failed, None)

    async def _settle(
        self, turn: CommittedTurn, order: _InOrder, event: BaseModel, transcript: str | None
    ) -> None:
        """Send a turn's ``.completed`` (``transcript``) or ``.failed`` (None) in its turn."""
        await order.turn_comes()
        await self._emitter.emit(event)
        order.settled.set()
        if transcript is None:
            self._registry.turn_failed()
        else:
            self._registry.turn_completed(time.monotonic() - turn.stopped_at)
        await self._on_settled(turn.item_id, transcript)
