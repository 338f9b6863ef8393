"""Send a job to the worker that already holds its model, so two workers don't thrash.

arq has one shared queue per lane, so any worker may pick any job. A worker that picks a
job whose model another live worker holds hands the job back (arq ``Retry``) when
running it here would cost an eviction, or when the holder is idle. When no worker holds
the model, a worker that would have to evict for it hands it back if another worker is
idle with room to load it. Either way it then stops picking from that lane for a moment,
so the better worker, not itself, picks the job up again. After a few hand-backs (the
other worker stayed busy) the job runs wherever it lands.

The second rule matters because every idle worker is woken for a job at once (pub/sub,
``queue.wake``) and Redis tells its subscribers in a fixed order: without it the first
subscriber won every race and alternated two models by evicting, while the other idled.
"""

from __future__ import annotations

from typing import Any, NoReturn

from arq.worker import Retry

from neuraldrive_audio.queue import heartbeat
from neuraldrive_audio.storage.model_store import ModelNotInstalledError
from neuraldrive_audio.workers.lane_worker import LaneWorker
from neuraldrive_audio.workers.state import WorkerState

MAX_HAND_BACKS = 4
HAND_BACK_DELAY_S = 0.02
STAND_ASIDE_S = 0.3


def hand_back(ctx: dict[str, Any]) -> NoReturn:
    """Give the running job back to the queue for another worker of its lane to pick."""
    lane_worker: LaneWorker | None = ctx.get("arq_worker")
    if lane_worker is not None:
        lane_worker.stand_aside(STAND_ASIDE_S)
    raise Retry(defer=HAND_BACK_DELAY_S)


async def prefer_holder(ctx: dict[str, Any], model_id: str) -> None:
    """Raise arq's Retry if another worker is the better place for this job."""
    state: WorkerState = ctx["state"]
    if state.cache.is_loaded(model_id) or ctx.get("job_try", 1) > MAX_HAND_BACKS:
        return
    try:
        manifest = state.store.get(model_id)
    except ModelNotInstalledError:
        return  # the job itself reports it
    others = [
        w for w in await heartbeat.live_workers(state.redis) if w.worker_id != state.worker_id
    ]
    fits_here = state.cache.fits_without_eviction(manifest)
    holders = [w for w in others if heartbeat.holds(w, manifest.id)]
    if holders:
        better_elsewhere = not fits_here or any(w.jobs_in_progress == 0 for w in holders)
    else:
        needed = state.cache.expected_cost(manifest)
        better_elsewhere = not fits_here and any(_idle_with_room(w, needed) for w in others)
    if better_elsewhere:
        hand_back(ctx)


def _idle_with_room(beat: heartbeat.WorkerHeartbeat, needed: int) -> bool:
    return beat.jobs_in_progress == 0 and beat.budget_bytes - beat.used_bytes >= needed
