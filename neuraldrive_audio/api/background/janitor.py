"""The API's background duties for asynchronous jobs, without a separate cron.

While asynchronous jobs are active, every ``janitor_interval_s``: requeue chunks whose
worker died (at-least-once) and delete finished jobs past their retention time. A Redis
lock makes one API process do each pass when several run. With no job active it sleeps
until a new job's first chunk is queued (the batch lane's wake channel) or the next job
falls due for deletion, at most ``IDLE_PASS_S``. Webhooks go out as soon as a job ends:
their queue is read with a blocking pop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time

import httpx
from arq.connections import ArqRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from neuraldrive_audio.api.background.webhook_targets import parse_networks
from neuraldrive_audio.api.background.webhooks import deliver
from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue import heartbeat, job_chunks, keys, wake
from neuraldrive_audio.queue.job_records import JobNotFoundError, JobRecords, JobStatus
from neuraldrive_audio.queue.lanes import BATCH
from neuraldrive_audio.storage.job_files import JobFiles

log = logging.getLogger(__name__)

IDLE_PASS_S = 30.0
"""Longest pause between passes with no job active (a safety net: new jobs wake the janitor)."""
WEBHOOK_BLOCK_S = 30
"""Longest single blocking pop of the webhook queue."""
REDIS_RETRY_S = 1.0


class Janitor:
    """Runs the passes in a background task of the API."""

    def __init__(self, redis: ArqRedis, settings: Settings, files: JobFiles, secret: str) -> None:
        self.redis = redis
        self.settings = settings
        self.files = files
        self.secret = secret
        self.records = JobRecords(redis)
        self._deliveries: set[asyncio.Task[None]] = set()
        self._token = secrets.token_hex(8).encode()
        """Marks the lock as this API's, so it can pass again before the lock lapses."""
        self._woken = asyncio.Event()
        self.passes = 0
        """Passes run (for tests and the bench)."""

    async def run(self) -> None:
        """Loop until cancelled."""
        async with httpx.AsyncClient(timeout=10) as client:
            helpers = [
                asyncio.create_task(self.deliver_webhooks(client)),
                asyncio.create_task(wake.listen(self.redis, BATCH, self._woken.set)),
            ]
            try:
                while True:
                    self._woken.clear()  # a job queued during the pass ends the wait below
                    wait_s = await self._pass_safely()
                    if wait_s <= self.settings.janitor_interval_s:
                        await asyncio.sleep(wait_s)  # busy: chunk wakes would only add passes
                        continue
                    await wake.wait_until_set(self._woken, wait_s)
            finally:
                for task in helpers:
                    task.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)

    async def _pass_safely(self) -> float:
        try:
            return await self.one_pass()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("janitor pass skipped: Redis unavailable (%s)", type(exc).__name__)
        except Exception:
            log.exception("janitor pass failed")
        return self.settings.janitor_interval_s

    async def one_pass(self) -> float:
        """One round of the duties (skipped while another API holds the lock); returns the
        seconds to wait before the next round."""
        self.passes += 1
        interval = self.settings.janitor_interval_s
        if not await self._lock(interval):
            left_ms = int(await self.redis.pttl(keys.JANITOR_LOCK))
            return min(IDLE_PASS_S, max(interval, left_ms / 1000))
        active = await self.requeue_orphans()
        next_due = await self.apply_retention()
        wait_s = interval
        if not active:
            until_due = IDLE_PASS_S if next_due is None else next_due - time.time()
            wait_s = min(IDLE_PASS_S, max(interval, until_due))
        # Held until our next pass: another API skips until then, unless this one is gone.
        await self.redis.pexpire(keys.JANITOR_LOCK, int((wait_s + interval) * 1000))
        return wait_s

    async def _lock(self, interval: float) -> bool:
        hold_ms = int(interval * 2000)
        if await self.redis.set(keys.JANITOR_LOCK, self._token, nx=True, px=hold_ms):
            return True
        return bool(await self.redis.get(keys.JANITOR_LOCK) == self._token)

    async def requeue_orphans(self) -> bool:
        """Chunks held by a worker whose heartbeat expired go back on the batch lane;
        returns whether any job is active."""
        active = await self.records.active_ids()
        if not active:
            return False
        live = {w.worker_id for w in await heartbeat.live_workers(self.redis)}
        for job_id in active:
            for field, owner in (await job_chunks.owners(self.redis, job_id)).items():
                if owner.worker_id in live:
                    continue
                await self.redis.hdel(keys.job_chunk_owners(job_id), field)  # type: ignore[misc]
                kills = owner.chunk.attempt + 1
                if kills >= self.settings.job_max_tries:
                    await self.fail_poisoned(owner.chunk, kills)
                    continue
                # The next attempt keeps away from the dead worker's id (it may come back).
                await job_chunks.enqueue(self.redis, owner.chunk.retry_without(owner.worker_id))
                log.warning(
                    "requeued chunk of a dead worker",
                    extra={"job_id": job_id, "chunk": field, "worker_id": owner.worker_id},
                )
        return True

    async def fail_poisoned(self, chunk: job_chunks.ChunkJob, kills: int) -> None:
        """A chunk whose every attempt killed its worker fails the job instead of going
        round again (each attempt would take down one more worker)."""
        message = f"chunk {chunk.index} killed its worker {kills} times; the job is not retried"
        with contextlib.suppress(JobNotFoundError):
            record = await self.records.update(
                chunk.job_id,
                status=JobStatus.FAILED,
                finished_at=time.time(),
                error={"code": "worker_killed", "message": message},
            )
            if record.webhook_url:
                await self.redis.rpush(keys.WEBHOOKS_PENDING, record.id)  # type: ignore[misc]
        await job_chunks.abort_running(self.redis, chunk.job_id)  # its other chunks are moot
        log.error("job failed: %s", message, extra={"job_id": chunk.job_id})

    async def deliver_webhooks(self, client: httpx.AsyncClient) -> None:
        """Start a delivery for each job whose end is announced, as it is; until cancelled.

        Several APIs may each wait here: every announcement goes to exactly one of them.
        """
        while True:
            try:
                popped = await self.redis.blpop(  # type: ignore[misc]
                    [keys.WEBHOOKS_PENDING], timeout=WEBHOOK_BLOCK_S
                )
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("webhook queue unavailable (%s)", type(exc).__name__)
                await asyncio.sleep(REDIS_RETRY_S)
                continue
            if popped is None:
                continue
            task = asyncio.create_task(self._deliver(client, popped[1].decode()))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, client: httpx.AsyncClient, job_id: str) -> None:
        with contextlib.suppress(JobNotFoundError):
            record = await self.records.get(job_id)
            outcome = await deliver(
                client, record, self.secret, self.settings.webhook_max_attempts,
                parse_networks(self.settings.webhook_allow_networks),
            )  # fmt: skip
            await self.records.update(job_id, allow_after_final=True, webhook=outcome)
            log.info("webhook finished", extra={"job_id": job_id, "delivered": outcome.delivered})

    async def apply_retention(self) -> float | None:
        """Delete files and records of jobs that ended more than the retention time ago;
        returns when the next job may fall due (None: no job left to delete)."""
        retention = self.settings.job_retention_s
        cutoff = time.time() - retention
        due: list[float] = []
        for job_id in await self.records.ids_created_before(cutoff):
            try:
                record = await self.records.get(job_id)
            except JobNotFoundError:
                continue
            if not record.status.is_final:
                continue  # active: passes run often until it ends
            finished_at = record.finished_at or 0
            if finished_at >= cutoff:
                due.append(finished_at + retention)
                continue
            await asyncio.to_thread(self.files.remove, job_id)
            await self.records.delete(job_id)
            log.info("job expired", extra={"job_id": job_id})
        newest = await self.records.first_created_after(cutoff)
        if newest is not None:
            due.append(newest + retention)
        return min(due, default=None)
