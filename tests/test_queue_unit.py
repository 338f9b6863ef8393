"""Fast unit tests of the queue's Redis structures, on fakeredis."""

from __future__ import annotations

import asyncio
import time

import fakeredis
import pytest
from arq.constants import job_key_prefix
from pydantic import BaseModel

from neuraldrive_audio.queue import control, events, heartbeat, keys
from neuraldrive_audio.queue.client import JobQueue, NoWorkerError, QueueFullError, WorkerLostError
from neuraldrive_audio.queue.control import ControlAction, ControlCommand, ControlReply
from neuraldrive_audio.queue.events import EventType, JobEvent
from neuraldrive_audio.queue.heartbeat import WorkerHeartbeat
from neuraldrive_audio.queue.job_records import JobRecord, JobRecords, JobStatus, JobTask
from neuraldrive_audio.queue.lanes import BATCH, INTERACTIVE


@pytest.fixture
def redis() -> fakeredis.FakeAsyncRedis:
    return fakeredis.FakeAsyncRedis()


class Payload(BaseModel):
    job_id: str


def _beat(worker_id: str) -> WorkerHeartbeat:
    return WorkerHeartbeat(worker_id=worker_id, hostname="h", pid=1, device="cpu", started_at=0)


async def test_events_round_trip_in_order_with_binary_audio(
    redis: fakeredis.FakeAsyncRedis,
) -> None:
    sink = events.EventSink(redis, "j1", ttl_s=60)
    sink.emit_threadsafe(JobEvent(EventType.STARTED, {"worker_id": "w"}))
    await asyncio.to_thread(sink.emit_threadsafe, JobEvent(EventType.AUDIO, audio=b"\x00\xff"))
    await sink.emit(JobEvent(EventType.DONE, {"ok": True}))
    await sink.close()
    seen = [e async for e in events.follow(redis, "j1", block_ms=10) if e is not None]
    assert [e.type for e in seen] == [EventType.STARTED, EventType.AUDIO, EventType.DONE]
    assert seen[1].audio == b"\x00\xff" and seen[2].data == {"ok": True}
    assert 0 < await redis.ttl(keys.events("j1")) <= 60


async def test_heartbeats_expire_and_dead_workers_are_forgotten(
    redis: fakeredis.FakeAsyncRedis,
) -> None:
    await heartbeat.publish(redis, _beat("alive"), ttl_s=10)
    await heartbeat.publish(redis, _beat("dying"), ttl_s=0.05)
    await asyncio.sleep(0.1)
    assert [w.worker_id for w in await heartbeat.live_workers(redis)] == ["alive"]
    assert await redis.smembers(keys.WORKERS) == {b"alive"}  # type: ignore[misc]
    await heartbeat.withdraw(redis, "alive")
    assert await heartbeat.live_workers(redis) == []


async def test_submit_refuses_without_workers_and_when_full(
    redis: fakeredis.FakeAsyncRedis,
) -> None:
    queue = JobQueue(redis, max_depth=1, event_ttl_s=60, job_ttl_s=60)  # type: ignore[arg-type]
    with pytest.raises(NoWorkerError):
        await queue.submit("transcribe", Payload(job_id="a"), "a")
    await heartbeat.publish(redis, _beat("w"), ttl_s=10)
    await redis.zadd(INTERACTIVE.queue_name, {"queued-job": 1})
    await redis.set(job_key_prefix + "queued-job", b"{}")  # a job still waiting to run
    with pytest.raises(QueueFullError) as info:
        await queue.submit("transcribe", Payload(job_id="b"), "b")
    assert info.value.retry_after_s >= 1
    assert await queue.depth(BATCH) == 0 and await queue.depth() == 1


async def test_expired_queue_entries_do_not_hold_places(
    redis: fakeredis.FakeAsyncRedis,
) -> None:
    """A job nobody waits for (its arq key expired, e.g. its abort was lost in an outage)
    does not count toward the depth."""
    queue = JobQueue(redis, max_depth=1, event_ttl_s=60, job_ttl_s=60)  # type: ignore[arg-type]
    await heartbeat.publish(redis, _beat("w"), ttl_s=10)
    await redis.zadd(INTERACTIVE.queue_name, {"zombie": 1})
    await queue.submit("transcribe", Payload(job_id="c"), "c")
    assert await queue.depth(INTERACTIVE) == 1
    with pytest.raises(QueueFullError):
        await queue.submit("transcribe", Payload(job_id="d"), "d")


async def test_follow_notices_a_lost_worker(redis: fakeredis.FakeAsyncRedis) -> None:
    queue = JobQueue(redis, max_depth=10, event_ttl_s=60, job_ttl_s=60)  # type: ignore[arg-type]
    await events.publish(redis, "j", JobEvent(EventType.STARTED, {"worker_id": "gone"}), 60)
    with pytest.raises(WorkerLostError, match="gone"):
        async for _ in queue.follow("j", timeout_s=30):
            pass


async def test_control_command_reaches_the_worker_and_back(redis: fakeredis.FakeAsyncRedis) -> None:
    command = ControlCommand(action=ControlAction.LOAD, model="m", pin=True)

    async def worker() -> None:
        received = await control.next_command(redis, "w", wait_s=5)
        assert received == command
        reply = ControlReply(worker_id="w", ok=True, loaded=True, pinned=True, bytes=5)
        await control.answer(redis, received, reply)

    task = asyncio.create_task(worker())
    reply = await control.send(redis, "w", command, timeout_s=5)
    await task
    assert reply.ok and reply.pinned and reply.bytes == 5


async def test_job_records_keep_final_states_and_page(redis: fakeredis.FakeAsyncRedis) -> None:
    records = JobRecords(redis)
    for n in range(5):
        record = JobRecord(
            id=f"job{n}", task=JobTask.TRANSCRIBE, model="m", response_format="json",
            created_at=time.time() + n,
        )  # fmt: skip
        await records.create(record)
    await records.update("job1", status=JobStatus.CANCELLED)
    still = await records.update("job1", status=JobStatus.PROCESSING, progress=0.5)
    assert still.status is JobStatus.CANCELLED and still.progress == 0.0
    assert "job1" not in await records.active_ids()
    first = await records.list(limit=2)
    assert [r.id for r in first] == ["job4", "job3"]
    rest = await records.list(limit=10, after="job3")
    assert [r.id for r in rest] == ["job2", "job1", "job0"]
    assert [r.id for r in await records.list(JobStatus.CANCELLED)] == ["job1"]
