"""GET /health (public) and GET /system/audio/status (operators, key required)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from neuraldrive_audio.api.auth import ApiKeyRequired
from neuraldrive_audio.api.dependencies import QueueDep
from neuraldrive_audio.queue import heartbeat

health_router = APIRouter(tags=["system"])
status_router = APIRouter(prefix="/system/audio", tags=["system"], dependencies=[ApiKeyRequired])


@health_router.get("/health")
async def health(queue: QueueDep) -> JSONResponse:
    """200 when Redis answers and at least one worker is alive, else 503 with the reason."""
    try:
        await queue.redis.ping()
        workers = await heartbeat.live_workers(queue.redis)
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "reason": f"queue: {exc}"}, status_code=503)
    if not workers:
        return JSONResponse({"status": "unavailable", "reason": "no worker alive"}, 503)
    return JSONResponse({"status": "ok", "workers": len(workers)})


@status_router.get("/status")
async def status(queue: QueueDep) -> dict[str, Any]:
    """Live workers with their loaded models, and the queue depth."""
    workers = await heartbeat.live_workers(queue.redis)
    return {
        "time": time.time(),
        "queue_depth": await queue.depth(),
        "workers": [w.model_dump() for w in workers],
    }
