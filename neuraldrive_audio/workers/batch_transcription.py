"""Dynamic batching of transcription requests on the interactive lane.

The job arq picked (the leader) looks at its lane's sorted set. If nothing compatible
waits, it runs alone at once: a lone request never waits. If another transcription of the
same model waits, the leader gives others ``interactive_batch_window_ms`` to arrive, claims
up to ``interactive_batch_max - 1`` of them (``queue.batch_claim``: no other worker runs
them) and runs every member in its own job frame: each reads its own upload, emits on its
own event stream, answers with its own result or error, and honours its own abort. Only
the decoding is shared: the members meet in the engine's batch (``DecodeBatch``), where
their model calls run batched. A member that fails or is cancelled leaves the batch and the
others carry on. Models are never mixed: only jobs naming the leader's model are claimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from neuraldrive_audio.engines.base import (
    BatchingSpeechToText,
    DecodeBatch,
    Engine,
    TranscribeOptions,
    as_speech_to_text,
)
from neuraldrive_audio.media.samples import FloatAudio
from neuraldrive_audio.queue import batch_claim, keys
from neuraldrive_audio.queue.batch_claim import WaitingJob
from neuraldrive_audio.queue.lanes import INTERACTIVE
from neuraldrive_audio.queue.payloads import Transcript, TranscriptionJob, TranscriptSegment
from neuraldrive_audio.workers.job_frame import JobBody, JobInfo, run_job
from neuraldrive_audio.workers.state import WorkerState

log = logging.getLogger(__name__)

ABORT_POLL_S = 0.05
"""How often a running batch looks for aborts of its claimed members (arq watches only
the job it picked itself)."""


def batching_on(state: WorkerState) -> bool:
    """Whether this worker batches interactive transcriptions at all."""
    settings = state.settings
    return settings.interactive_batch_window_ms > 0 and settings.interactive_batch_max > 1


def joins(leader: TranscriptionJob, waiting: WaitingJob) -> bool:
    """Whether a waiting job may be decoded with the leader: a transcription of the same
    model that the batched pipeline would not decode anyway (a VAD split batches itself)."""
    if waiting.function != keys.TRANSCRIBE_FUNCTION:
        return False
    try:
        job = TranscriptionJob.model_validate(waiting.payload)
    except ValueError:
        return False  # arq runs it and reports the bad payload itself
    return job.model_id == leader.model_id and job.vad_split is None


async def wait_window(seconds: float) -> None:
    """Give more requests a moment to join (only called when one already waits)."""
    await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Peer:
    """A claimed job that runs with the leader."""

    job: TranscriptionJob
    enqueued_at: float
    """When the API queued it (seconds since the epoch), for statistics."""


async def claim_peers(ctx: dict[str, Any], leader: TranscriptionJob) -> list[Peer]:
    """The waiting jobs this leader takes with it; [] (at once, without waiting) when none
    compatible waits, batching is off, or the job is not on the interactive lane."""
    state: WorkerState = ctx["state"]
    if not batching_on(state) or ctx.get("lane", INTERACTIVE) is not INTERACTIVE:
        return []
    if leader.vad_split is not None:
        return []
    wanted = state.settings.interactive_batch_max - 1
    redis, lane = state.redis, INTERACTIVE
    scan = wanted * 4  # other kinds of job (speech, other models) may sit in between
    compatible = [w for w in await batch_claim.waiting(redis, lane, leader.job_id, scan)
                  if joins(leader, w)]  # fmt: skip
    if not compatible:
        return []
    if len(compatible) < wanted:
        await wait_window(state.settings.interactive_batch_window_ms / 1000)
        compatible = [w for w in await batch_claim.waiting(redis, lane, leader.job_id, scan)
                      if joins(leader, w)]  # fmt: skip
    chosen = compatible[:wanted]
    arq_worker = ctx.get("arq_worker")
    in_progress_s = getattr(arq_worker, "in_progress_timeout_s", state.settings.job_timeout_s)
    claimed = set(await batch_claim.claim(redis, lane, [w.job_id for w in chosen],
                                          int(in_progress_s * 1000)))  # fmt: skip
    peers = [
        Peer(TranscriptionJob.model_validate(w.payload), w.enqueue_time_ms / 1000)
        for w in chosen
        if w.job_id in claimed
    ]
    if peers:
        state.stats.batches += 1
        state.stats.batched_jobs += 1 + len(peers)
        log.info("batch formed", extra={"job_id": leader.job_id, "members": 1 + len(peers)})
    return peers


class BatchSession:
    """The members of one batch on their way to the engine's batch, created when the first
    member has its engine. Members that fail before they get there are subtracted."""

    def __init__(self, members: int) -> None:
        self._members = members
        self._left_early = 0
        self._batch: DecodeBatch | None = None
        self._decided = False
        self.executor = ThreadPoolExecutor(max_workers=members, thread_name_prefix="batch")
        """One thread per member: a batch's members wait for each other, so they must all
        run at once (the default executor may have fewer threads than members)."""

    def seat(self) -> Seat:
        """A member's place in the batch."""
        return Seat(self)

    def batch_for(self, engine: Engine) -> DecodeBatch | None:
        """The engine's batch (None if the engine cannot batch), created once."""
        if not self._decided:
            self._decided = True
            stt = as_speech_to_text(engine)
            if isinstance(stt, BatchingSpeechToText):
                self._batch = stt.batch(self._members - self._left_early)
        return self._batch

    def left(self) -> None:
        """A member will not decode in the batch."""
        if self._batch is not None:
            self._batch.leave()
        elif not self._decided:
            self._left_early += 1


class Seat:
    """One member's way into its batch: it decodes there once, or leaves."""

    def __init__(self, session: BatchSession) -> None:
        self._session = session
        self._used = False

    async def infer(
        self,
        engine: Engine,
        audio: FloatAudio,
        options: TranscribeOptions,
        on_segment: Callable[[TranscriptSegment], None],
        cancel: threading.Event,
    ) -> Transcript:
        """Decode in the batch (or alone, if the engine or these options cannot batch)."""
        stt = as_speech_to_text(engine)
        batch = self._session.batch_for(stt)
        self._used = True
        loop = asyncio.get_running_loop()
        executor = self._session.executor
        if batch is not None and isinstance(stt, BatchingSpeechToText) and stt.batchable(options):
            return await loop.run_in_executor(
                executor, batch.transcribe, audio, options, on_segment, cancel
            )
        self._session.left()
        return await loop.run_in_executor(
            executor, stt.transcribe, audio, options, on_segment, cancel
        )

    def release(self) -> None:
        """The member ended: if it never decoded, the others stop waiting for it."""
        if not self._used:
            self._used = True
            self._session.left()


BodyFactory = Callable[[WorkerState, TranscriptionJob, Any], JobBody]


async def _member(state: WorkerState, info: JobInfo, job: TranscriptionJob,
                  body_for: BodyFactory, session: BatchSession) -> None:  # fmt: skip
    """Run one member's job; its seat is given up however the job ends, also when it is
    cancelled before its body runs (between its ``started`` event and its decode), or the
    other members would wait for it in the lockstep forever."""
    seat = session.seat()
    inner = body_for(state, job, seat.infer)

    async def body(sink: Any, run: Any) -> dict[str, Any]:
        try:
            return await inner(sink, run)
        finally:
            seat.release()  # at once: before this member's result is sent

    try:
        await run_job(state, info, body)
    finally:
        seat.release()


async def _peer(state: WorkerState, peer: Peer, body_for: BodyFactory,
                session: BatchSession) -> None:  # fmt: skip
    job = peer.job
    try:
        info = JobInfo(
            job_id=job.job_id, task=job.task.value, model=job.model_id,
            job_try=await batch_claim.job_try(state.redis, job.job_id),
            enqueued_at=peer.enqueued_at, lane=INTERACTIVE, running_key=job.job_id,
        )  # fmt: skip
        await _member(state, info, job, body_for, session)
    finally:
        await asyncio.shield(batch_claim.finish(state.redis, INTERACTIVE, job.job_id))


async def _watch_aborts(state: WorkerState, peers: dict[str, asyncio.Task[None]]) -> None:
    while True:
        await asyncio.sleep(ABORT_POLL_S)
        running = [job_id for job_id, task in peers.items() if not task.done()]
        for job_id in await batch_claim.aborted(state.redis, running):
            log.info("batch member aborted", extra={"job_id": job_id})
            peers[job_id].cancel()


async def run_batch(
    ctx: dict[str, Any],
    info: JobInfo,
    leader: TranscriptionJob,
    peers: list[Peer],
    body_for: BodyFactory,
) -> None:
    """Run the leader and its claimed peers together, each in its own job frame.

    arq cancels the leader's task when the leader is aborted or times out: then only the
    leader's own member stops, and the peers finish before the cancellation goes on."""
    state: WorkerState = ctx["state"]
    session = BatchSession(1 + len(peers))
    own = asyncio.create_task(_member(state, info, leader, body_for, session))
    others = {
        peer.job.job_id: asyncio.create_task(_peer(state, peer, body_for, session))
        for peer in peers
    }
    watcher = asyncio.create_task(_watch_aborts(state, others))
    everyone = asyncio.gather(own, *others.values(), return_exceptions=True)
    try:
        await asyncio.shield(everyone)
    except asyncio.CancelledError:
        own.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(everyone)
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        session.executor.shutdown(wait=False)
