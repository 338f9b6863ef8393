"""Gathering the service's live figures for /system/audio/status (and, through it, /metrics)."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from neuraldrive_audio.queue import chunk_payloads, heartbeat, stats
from neuraldrive_audio.queue.client import JobQueue
from neuraldrive_audio.queue.heartbeat import WorkerHeartbeat
from neuraldrive_audio.queue.lanes import LANES

STARTED_AT = time.time()


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile, None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def queue_depths(queue: JobQueue) -> dict[str, int]:
    """Waiting jobs per lane and in total."""
    depths = {lane.name: await queue.depth(lane) for lane in LANES}
    return {"depth": sum(depths.values()), **depths}


def engine_figures(workers: list[WorkerHeartbeat]) -> dict[str, dict[str, float]]:
    """Real-time factor (inference time / audio time) per engine, over all live workers."""
    audio: defaultdict[str, float] = defaultdict(float)
    busy: defaultdict[str, float] = defaultdict(float)
    for worker in workers:
        for engine, seconds in worker.audio_seconds.items():
            audio[engine] += seconds
        for engine, seconds in worker.busy_seconds.items():
            busy[engine] += seconds
    return {
        engine: {
            "audio_seconds": round(audio[engine], 3),
            "real_time_factor": round(busy[engine] / audio[engine], 4) if audio[engine] else 0.0,
        }
        for engine in audio
    }


def running_jobs(workers: list[WorkerHeartbeat]) -> list[dict[str, Any]]:
    """Jobs in progress on any worker."""
    return [
        {**job.model_dump(), "worker_id": worker.worker_id}
        for worker in workers
        for job in worker.current_jobs
    ]


async def build_status(
    queue: JobQueue, realtime: dict[str, Any] | None = None, payload_bytes_max: int | None = None
) -> dict[str, Any]:
    """The whole status document; ``realtime``: this API's live-session figures, if any;
    ``payload_bytes_max``: the cap on job payloads in Redis (``job_inflight_bytes_max``)."""
    workers = await heartbeat.live_workers(queue.redis)
    latencies = await stats.recent_latencies(queue.redis)
    errors = await stats.recent_errors(queue.redis)
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    return {
        "time": time.time(),
        "uptime_s": round(time.time() - STARTED_AT, 1),
        "queue": await queue_depths(queue),
        "workers": [w.model_dump() for w in workers],
        "jobs": {
            "in_progress": running_jobs(workers),
            "payload_bytes": await chunk_payloads.inflight_bytes(queue.redis),
            "payload_bytes_max": payload_bytes_max,
            "per_minute": round(len(latencies) / (stats.WINDOW_S / 60), 2),
            "latency_ms": {
                "p50": None if p50 is None else round(p50 * 1000, 1),
                "p95": None if p95 is None else round(p95 * 1000, 1),
            },
        },
        "engines": engine_figures(workers),
        "models": {
            "loads": sum(w.loads for w in workers),
            "evictions": sum(w.evictions for w in workers),
        },
        "recent_errors": [e.model_dump() for e in errors],
        # Requests answered by front doors in their own processes (the Wyoming server).
        "front_doors": await stats.front_door_requests(queue.redis),
        **({"realtime": realtime} if realtime is not None else {}),
    }
