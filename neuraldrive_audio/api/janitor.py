"""The API's background duties for asynchronous jobs, without a separate cron.

Every few seconds: requeue chunks whose worker died (at-least-once), send pending
webhooks, and delete finished jobs past their retention time. A Redis lock makes one
API process do each pass when several run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx
from arq.connections import ArqRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from neuraldrive_audio.api.webhook_targets import parse_networks
from neuraldrive_audio.api.webhooks import deliver
from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue import heartbeat, job_chunks, keys
from neuraldrive_audio.queue.job_records import JobNotFoundError, JobRecords, JobStatus
from neuraldrive_audio.storage.job_files import JobFiles

log = logging.getLogger(__name__)


class Janitor:
    """Runs the passes in a background task of the API."""

    def __init__(self, redis: ArqRedis, settings: Settings, files: JobFiles, secret: str) -> None:
        self.redis = redis
        self.settings = settings
        self.files = files
        self.secret = secret
        self.records = JobRecords(redis)
        self._deliveries: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Loop until cancelled."""
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                try:
                    await self.one_pass(client)
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    log.warning("janitor pass skipped: Redis unavailable (%s)", type(exc).__name__)
                except Exception:
                    log.exception("janitor pass failed")
                await asyncio.sleep(self.settings.janitor_interval_s)

    async def one_pass(self, client: httpx.AsyncClient) -> None:
        """One round of every duty (skipped if another API holds the lock)."""
        lock_ms = int(self.settings.janitor_interval_s * 2000)
        if not await self.redis.set(keys.JANITOR_LOCK, b"1", nx=True, px=lock_ms):
            return
        await self.requeue_orphans()
        await self.send_webhooks(client)
        await self.apply_retention()

    async def requeue_orphans(self) -> None:
        """Chunks held by a worker whose heartbeat expired go back on the batch lane."""
        live = {w.worker_id for w in await heartbeat.live_workers(self.redis)}
        for job_id in await self.records.active_ids():
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
        log.error("job failed: %s", message, extra={"job_id": chunk.job_id})

    async def send_webhooks(self, client: httpx.AsyncClient) -> None:
        """Start a delivery for each job whose end is still unannounced."""
        while raw := await self.redis.lpop(keys.WEBHOOKS_PENDING):  # type: ignore[misc]
            task = asyncio.create_task(self._deliver(client, raw.decode()))
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

    async def apply_retention(self) -> None:
        """Delete files and records of jobs that ended more than the retention time ago."""
        cutoff = time.time() - self.settings.job_retention_s
        for job_id in await self.records.ids_created_before(cutoff):
            try:
                record = await self.records.get(job_id)
            except JobNotFoundError:
                continue
            if record.status.is_final and (record.finished_at or 0) < cutoff:
                await asyncio.to_thread(self.files.remove, job_id)
                await self.records.delete(job_id)
                log.info("job expired", extra={"job_id": job_id})
