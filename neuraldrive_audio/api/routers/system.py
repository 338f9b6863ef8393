"""GET /health: public liveness for load balancers and systemd checks."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from neuraldrive_audio.api.dependencies import QueueDep
from neuraldrive_audio.queue import heartbeat

health_router = APIRouter(tags=["system"])


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
