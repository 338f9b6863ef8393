"""GET /health: public liveness for load balancers and systemd checks."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from neuraldrive_audio.api.dependencies import QueueDep
from neuraldrive_audio.api.response_bodies import Health
from neuraldrive_audio.queue import heartbeat
from neuraldrive_audio.service.errors import BACKEND_RETRY_AFTER_S

health_router = APIRouter(tags=["system"])
RETRY = {"Retry-After": str(BACKEND_RETRY_AFTER_S)}


@health_router.get(
    "/health",
    response_model=None,
    responses={200: {"model": Health}, 503: {"model": Health}},
)
async def health(queue: QueueDep) -> JSONResponse:
    """200 when Redis answers and at least one worker is alive, else 503 with the reason."""
    try:
        await queue.redis.ping()
        workers = await heartbeat.live_workers(queue.redis)
    except Exception:
        # Public route: say what is wrong, not where Redis lives.
        return JSONResponse(
            {"status": "unavailable", "reason": "queue unreachable"}, 503, headers=RETRY
        )
    if not workers:
        return JSONResponse(
            {"status": "unavailable", "reason": "no worker alive"}, 503, headers=RETRY
        )
    return JSONResponse({"status": "ok", "workers": len(workers)})
