"""The parts of arq we use beyond its documented API still exist (arq is pinned to one
minor series; this fails first when a new one renames what the workers and the queue use)."""

from __future__ import annotations

import inspect
import json

import arq.connections
import arq.constants
import arq.jobs
import arq.utils
from arq.connections import ArqRedis
from arq.worker import Worker, func

from neuraldrive_audio.queue.connection import serialize_job
from neuraldrive_audio.workers.lane_worker import LaneWorker


async def _noop(ctx: dict[str, object]) -> None:
    return None


async def test_the_arq_internals_we_rely_on_are_still_there(arq_redis: ArqRedis) -> None:
    # workers.lane_worker: runs arq's poll iteration itself, and hooks the done callback arq
    # puts on every job task (an override arq no longer calls would silently stop the
    # wake on a freed slot, and pickup would fall back to the slow safety poll).
    poll = Worker._poll_iteration
    assert inspect.iscoroutinefunction(poll)
    assert list(inspect.signature(poll).parameters) == ["self"]
    hook = "_release_sem_dec_counter_on_complete"
    assert not inspect.iscoroutinefunction(getattr(Worker, hook))
    assert hook in inspect.getsource(Worker.start_jobs)
    # workers.lane_worker's start-up (arq's own main() before its loop) and burst drain.
    assert inspect.iscoroutinefunction(arq.connections.log_redis_info)
    assert {"redis_pool", "burst", "poll_delay", "ctx", "on_startup"} <= set(
        inspect.signature(Worker.__init__).parameters
    )
    worker = LaneWorker(functions=[func(_noop, name="noop")], redis_pool=arq_redis,
                        lane_name="interactive", idle_poll_s=1.0,
                        handle_signals=False)  # fmt: skip
    # Attributes read or set: the start-up and drain (lane_worker), standing aside for a
    # model's holder (affinity: allow_pick_jobs), a batch's claim expiry (batch_transcription).
    for name in ("pool", "ctx", "on_startup", "burst", "poll_delay_s", "queue_name", "tasks",
                 "allow_pick_jobs", "in_progress_timeout_s"):  # fmt: skip
        assert hasattr(worker, name), name
    assert isinstance(worker.tasks, dict) and worker.allow_pick_jobs is True

    # queue.batch_claim and queue.admission write and read arq's keys and job records.
    for name in ("abort_jobs_ss", "in_progress_key_prefix", "job_key_prefix",
                 "retry_key_prefix", "result_key_prefix"):  # fmt: skip
        assert isinstance(getattr(arq.constants, name), str), name
    assert callable(arq.utils.timestamp_ms)
    record = json.loads(
        arq.jobs.serialize_job("f", ({"x": 1},), {}, None, 123, serializer=serialize_job)
    )
    assert (record["f"], record["a"], record["et"]) == ("f", [{"x": 1}], 123)
