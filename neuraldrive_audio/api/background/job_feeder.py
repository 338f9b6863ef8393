"""The API host's side of asynchronous jobs: plan, feed chunks within the cap, collect, merge.

Workers may run on other hosts that share nothing with this one but Redis, so the job's
files stay here. A transcription's upload is decoded and cut at silences on this host
(PyAV + silero VAD in a thread, memory bounded by one window); then each pass, for every
active job: results workers stored in Redis are written to ``jobs/<id>/chunks/`` and freed,
the next chunks are queued with their audio while the in-flight bytes stay under
``job_inflight_bytes_max`` (backpressure: a long job never sits in Redis whole), and once
every chunk is in, the result is merged here and the job completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time

from arq.connections import ArqRedis
from pydantic import TypeAdapter
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from neuraldrive_audio.config import Settings
from neuraldrive_audio.media.decode import AudioTooLongError, UndecodableAudioError, decode_to_file
from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE
from neuraldrive_audio.media.samples import WHISPER_SAMPLE_RATE
from neuraldrive_audio.media.split import plan_chunks
from neuraldrive_audio.queue import chunk_payloads, job_chunks, keys, wake
from neuraldrive_audio.queue.job_chunks import ChunkJob
from neuraldrive_audio.queue.job_records import (
    JobNotFoundError,
    JobRecord,
    JobRecords,
    JobStatus,
    JobTask,
    announce_end,
)
from neuraldrive_audio.queue.lanes import BATCH
from neuraldrive_audio.queue.payloads import TranscriptionTask
from neuraldrive_audio.storage.job_files import JobFiles
from neuraldrive_audio.storage.job_results import encode_speech, merge_transcript

log = logging.getLogger(__name__)

PLAN = TypeAdapter(list[ChunkJob])
SPEECH_CHARS_PER_S = 10.0
"""A slow speaker's pace: reserves enough for a speech chunk's audio before it exists."""
IDLE_PASS_S = 5.0
"""Longest pause between passes with no job active (a safety net: a new job wakes the feeder,
and another API's feeder may have stopped holding the lock)."""


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
"""Delete the feeder lock only if this API holds it (atomic compare and delete)."""


def reserved_bytes(chunk: ChunkJob, speed: float = 1.0) -> int:
    """What a chunk will hold in Redis at most: its input audio, or its speech estimated."""
    if chunk.text:
        seconds = len(chunk.text) / SPEECH_CHARS_PER_S / max(speed, 0.25)
        return int(seconds * OUTPUT_SAMPLE_RATE * 2)
    return (chunk.end - chunk.start) * 2


def plan_transcription(files: JobFiles, job_id: str, max_duration_s: float, target_s: float,
                       batch_size: int) -> tuple[float, list[ChunkJob]]:  # fmt: skip
    """Blocking: decode the upload to 16 kHz samples on disk, cut it into chunks, save the
    plan; returns the audio's duration and the chunks."""
    with files.atomic_output(files.samples(job_id)) as out:
        total = decode_to_file(files.input(job_id), out, max_duration_s)
    planned = plan_chunks(files.samples(job_id), target_s, batch_size)
    function = keys.TRANSCRIBE_CHUNK_FUNCTION
    chunks = [
        ChunkJob(function=function, job_id=job_id, index=i, start=p.start, end=p.end, clips=p.clips)
        for i, p in enumerate(planned)
    ]
    save_plan(files, job_id, chunks)
    return round(total / WHISPER_SAMPLE_RATE, 3), chunks


def save_plan(files: JobFiles, job_id: str, chunks: list[ChunkJob]) -> None:
    """Write the job's chunks (before any is queued)."""
    files.write_atomic(files.plan(job_id), PLAN.dump_json(chunks))


def _read_plan(files: JobFiles, job_id: str) -> list[ChunkJob] | None:
    """Blocking: the job's saved chunks, None if it has not been planned yet."""
    try:
        return PLAN.validate_json(files.plan(job_id).read_bytes())
    except FileNotFoundError:
        return None


def _planning_error(exc: Exception) -> tuple[str, str]:
    match exc:
        case UndecodableAudioError():
            return "invalid_audio", str(exc)
        case AudioTooLongError():
            return "audio_too_long", str(exc)
        case FileNotFoundError():
            return "input_missing", "the job's upload is missing from the data directory"
        case _:
            return "internal_error", f"{type(exc).__name__}: {exc}"


class JobFeeder:
    """Runs the passes described above in a background task of the API."""

    def __init__(self, redis: ArqRedis, settings: Settings, files: JobFiles) -> None:
        self.redis = redis
        self.settings = settings
        self.files = files
        self.records = JobRecords(redis)
        self.token = secrets.token_hex(8)
        self._plans: dict[str, list[ChunkJob]] = {}
        self._planning: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Loop until cancelled: a pass every ``job_feed_interval_s`` while jobs are active;
        idle, wait for a job to be created (the batch lane's wake) instead of polling."""
        woken = asyncio.Event()
        listener = asyncio.create_task(wake.listen(self.redis, BATCH, woken.set))
        try:
            while True:
                woken.clear()  # a job created during the pass ends the wait below
                if await self._pass_safely():
                    await asyncio.sleep(self.settings.job_feed_interval_s)
                    continue
                await wake.wait_until_set(woken, IDLE_PASS_S)
        finally:
            listener.cancel()
            for task in self._planning.values():
                task.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await self._release_lock()

    async def _release_lock(self) -> None:
        """Hand the lock on when stopping, so a restarted API feeds at once instead of
        after the lock's TTL; best effort (Redis may be gone), only if it is still ours."""
        with contextlib.suppress(RedisError, OSError):
            await self.redis.eval(_RELEASE, 1, keys.FEEDER_LOCK, self.token)  # type: ignore[misc]

    async def _pass_safely(self) -> bool:
        """One pass; whether any job was active (False when the pass failed)."""
        try:
            return await self.one_pass()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("job feeding skipped: Redis unavailable (%s)", type(exc).__name__)
        except Exception:
            log.exception("job feeding pass failed")
        return False

    async def _hold_lock(self) -> bool:
        """One API feeds at a time; the holder keeps renewing the lock while it runs."""
        # Outlives the longest gap between renewals (an idle wait) with room for a late
        # pass, so a live holder never loses it; an API that dies without releasing it
        # (stops release it) delays feeding by at most this.
        longest_gap_s = max(self.settings.job_feed_interval_s, IDLE_PASS_S)
        ttl_ms = int(max(longest_gap_s * 3, 5) * 1000)
        if await self.redis.set(keys.FEEDER_LOCK, self.token, nx=True, px=ttl_ms):
            return True
        if await self.redis.get(keys.FEEDER_LOCK) == self.token.encode():
            await self.redis.pexpire(keys.FEEDER_LOCK, ttl_ms)
            return True
        return False

    async def one_pass(self) -> bool:
        """Collect, merge and feed every active job once; whether any job is active (False
        when another API holds the feeder lock)."""
        if not await self._hold_lock():
            return False
        active = await self.records.active_ids()
        await self._drop_payloads_of_ended_jobs(set(active))
        budget = self.settings.job_inflight_bytes_max - await chunk_payloads.inflight_bytes(
            self.redis
        )
        for job_id in active:
            try:
                record = await self.records.get(job_id)
            except JobNotFoundError:
                continue
            budget = await self._tend(record, budget)
        return bool(active)

    async def _drop_payloads_of_ended_jobs(self, active: set[str]) -> None:
        ledger: list[bytes] = await self.redis.hkeys(keys.CHUNKS_INFLIGHT)  # type: ignore[misc]
        ended: dict[str, int] = {}
        for field in ledger:
            job_id, _, index = field.decode().rpartition(":")
            if job_id not in active:
                ended[job_id] = max(ended.get(job_id, 0), int(index) + 1)
        for job_id, chunks in ended.items():
            await chunk_payloads.discard(self.redis, job_id, chunks)
            self._plans.pop(job_id, None)
            log.info("dropped the queue payloads of an ended job", extra={"job_id": job_id})

    async def _plan(self, record: JobRecord) -> list[ChunkJob] | None:
        """The job's chunks; None while a transcription is still being planned."""
        if (plan := self._plans.get(record.id)) is not None:
            return plan
        saved = await asyncio.to_thread(_read_plan, self.files, record.id)
        if saved is not None:
            self._plans[record.id] = saved
            return saved
        if record.id not in self._planning:
            task = asyncio.create_task(self._plan_transcription(record))
            self._planning[record.id] = task
            task.add_done_callback(lambda _: self._planning.pop(record.id, None))
        return None

    async def _plan_transcription(self, record: JobRecord) -> None:
        extra = {"job_id": record.id}
        await self.records.update(record.id, status=JobStatus.PROCESSING, started_at=time.time())
        settings = self.settings
        try:
            duration, chunks = await asyncio.to_thread(
                plan_transcription, self.files, record.id, settings.max_job_audio_duration_s,
                settings.job_chunk_target_s, settings.job_batch_size,
            )  # fmt: skip
        except Exception as exc:
            code, message = _planning_error(exc)
            if code == "internal_error":
                log.exception("planning failed", extra=extra)
            await self._fail(record.id, code, f"planning: {message}")
            return
        await self.records.update(record.id, input_duration=duration, chunks_total=len(chunks))
        log.info("job planned: %d chunks", len(chunks), extra=extra)

    async def _fail(self, job_id: str, code: str, message: str) -> None:
        record = await self.records.update(
            job_id, status=JobStatus.FAILED, finished_at=time.time(),
            error={"code": code, "message": message},
        )  # fmt: skip
        log.info("job failed: %s", message, extra={"job_id": job_id})
        await announce_end(self.redis, record)

    async def _tend(self, record: JobRecord, budget: int) -> int:
        """Collect, maybe merge, then feed one job; returns the budget left."""
        plan = await self._plan(record)
        if plan is None:
            return budget
        record = await self._collect(record, len(plan))
        if record.status.is_final:
            return budget
        if record.chunks_done >= len(plan):
            await self._finish(record)
            return budget
        return await self._feed(record, plan, budget)

    async def _collect(self, record: JobRecord, total: int) -> JobRecord:
        """Move results from Redis to the job's chunk files; count and attribute them."""
        suffix = "s16" if record.task is JobTask.SPEECH else "json"
        arrived = await chunk_payloads.results(self.redis, record.id)
        for index, data in arrived.items():
            path = self.files.chunk(record.id, index, suffix)
            await asyncio.to_thread(self.files.claim, path, data)  # a late twin is dropped
            await chunk_payloads.release(self.redis, record.id, index)
        if not arrived and record.chunks_done >= total:
            return record
        done = await asyncio.to_thread(self._collected, record.id, suffix)
        ran = await chunk_payloads.workers(self.redis, record.id)
        chunk_workers = {**record.chunk_workers, **{str(i): w for i, w in ran.items()}}
        if done == record.chunks_done and chunk_workers == record.chunk_workers:
            return record
        return await self.records.update(
            record.id, chunks_done=done, chunks_total=total, chunk_workers=chunk_workers,
            progress=round(min(done / max(total, 1), 1.0), 4),
        )  # fmt: skip

    def _collected(self, job_id: str, suffix: str) -> int:
        return len(list((self.files.dir(job_id) / "chunks").glob(f"*.{suffix}")))

    async def _finish(self, record: JobRecord) -> None:
        """Every chunk is in: build the result here, then complete the job."""
        if record.task is JobTask.SPEECH:
            fmt = SpeechFormat(record.response_format)
            await asyncio.to_thread(encode_speech, self.files, record.id, fmt)
        else:
            task = TranscriptionTask(record.task.value)
            await asyncio.to_thread(
                merge_transcript, self.files, record.id, task, record.input_duration
            )
        done = await self.records.update(
            record.id, status=JobStatus.COMPLETED, progress=1.0, finished_at=time.time()
        )
        self._plans.pop(record.id, None)
        log.info("job completed", extra={"job_id": record.id})
        await announce_end(self.redis, done)

    async def _feed(self, record: JobRecord, plan: list[ChunkJob], budget: int) -> int:
        """Queue the job's next chunks while they fit in the budget (always one when
        nothing at all is in flight, so a chunk bigger than the cap still runs)."""
        cap = self.settings.job_inflight_bytes_max
        speed = float(record.options.get("speed", 1.0))
        fed = await chunk_payloads.fed(self.redis, record.id)
        while fed < len(plan):
            chunk = plan[fed]
            size = reserved_bytes(chunk, speed)
            if size > budget and budget < cap:
                break
            audio = None
            if not chunk.text:
                audio = await asyncio.to_thread(self._chunk_audio, record.id, chunk)
            await chunk_payloads.reserve(
                self.redis, record.id, chunk.index, size, audio, self.settings.job_payload_ttl_s
            )
            await job_chunks.enqueue(self.redis, chunk)
            if record.status is JobStatus.QUEUED:
                record = await self.records.update(
                    record.id, status=JobStatus.PROCESSING, started_at=time.time()
                )
            budget -= size
            fed += 1
        return budget

    def _chunk_audio(self, job_id: str, chunk: ChunkJob) -> bytes:
        with self.files.samples(job_id).open("rb") as samples:
            samples.seek(chunk.start * 2)
            return samples.read((chunk.end - chunk.start) * 2)


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel the feeder's task and wait for it."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
