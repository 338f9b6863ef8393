"""Send a job to the worker that already holds its model, so two workers don't thrash.

arq has one shared queue, so any worker may pick any job. A worker that picks a job whose
model another live worker holds hands the job back for a moment (arq ``Retry``) when
running it here would cost an eviction or when the holder is idle, so the holder gets it.
After a few hand-backs the job runs wherever it is.
"""

from __future__ import annotations

from arq.worker import Retry

from neuraldrive_audio.queue import heartbeat
from neuraldrive_audio.storage.model_store import ModelNotInstalledError
from neuraldrive_audio.workers.state import WorkerState

MAX_HAND_BACKS = 4
HAND_BACK_DELAY_S = 0.2


async def prefer_holder(state: WorkerState, model_id: str, job_try: int) -> None:
    """Raise arq's Retry if another worker is the better place for this job."""
    if state.cache.is_loaded(model_id) or job_try > MAX_HAND_BACKS:
        return
    try:
        manifest = state.store.get(model_id)
    except ModelNotInstalledError:
        return  # the job itself reports it
    holders = [
        w
        for w in await heartbeat.live_workers(state.redis)
        if w.worker_id != state.worker_id and any(m.id == manifest.id for m in w.loaded_models)
    ]
    if not holders:
        return
    holder_idle = any(w.jobs_in_progress == 0 for w in holders)
    if holder_idle or not state.cache.fits_without_eviction(manifest):
        raise Retry(defer=HAND_BACK_DELAY_S)
