"""Which worker runs a job: the hand-back rules of ``workers.affinity`` (fakeredis, fake
models, real heartbeats and the real demo model store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.worker import Retry

from neuraldrive_audio.config import Settings
from neuraldrive_audio.engines.base import Engine
from neuraldrive_audio.queue.heartbeat import RunningJob
from neuraldrive_audio.storage.demo_models import PIPER_ID, WHISPER_ID, register_demo_models
from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.storage.model_store import ModelStore
from neuraldrive_audio.workers.affinity import prefer_holder
from neuraldrive_audio.workers.model_cache import ModelCache
from neuraldrive_audio.workers.state import WorkerState

MB = 1_000_000


class FakeEngine:
    """Stands in for a loaded engine: the rules only look at what is loaded and its cost."""

    def close(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    store = ModelStore(tmp_path / "models")
    register_demo_models(store)
    return store


async def _worker(
    name: str, redis: ArqRedis, store: ModelStore, tmp_path: Path, budget: int
) -> WorkerState:
    used = {"bytes": 0}

    def load(manifest: ModelManifest) -> Engine:
        used["bytes"] += manifest.bytes_on_disk
        return FakeEngine()  # type: ignore[return-value]

    cache: ModelCache[Engine] = ModelCache(load, lambda: budget, 600, lambda: used["bytes"])
    await cache.refresh_budget()
    state = WorkerState(
        settings=Settings(data_dir=tmp_path / name), redis=redis, store=store, cache=cache,
        worker_id=name,
    )  # fmt: skip
    return state


def _ctx(state: WorkerState) -> dict[str, Any]:
    return {"state": state, "job_try": 1}


async def test_a_worker_that_would_evict_hands_a_job_to_an_idle_worker_with_room(
    arq_redis: ArqRedis, store: ModelStore, tmp_path: Path
) -> None:
    whisper, piper = store.get(WHISPER_ID), store.get(PIPER_ID)
    # a holds whisper and has no room left for piper; b is empty with room for it.
    a = await _worker("a", arq_redis, store, tmp_path, whisper.bytes_on_disk + MB)
    b = await _worker("b", arq_redis, store, tmp_path, piper.bytes_on_disk + MB)
    await a.cache.load(whisper)
    await a.publish_heartbeat()
    await b.publish_heartbeat()

    with pytest.raises(Retry):
        await prefer_holder(_ctx(a), PIPER_ID)  # loading it here would evict whisper
    await prefer_holder(_ctx(b), PIPER_ID)  # b loads it without evicting: it keeps the job

    # b busy: nobody is better off, a runs it (evicting) rather than letting it wait.
    b.running["j"] = RunningJob(id="j", task="speech", model=PIPER_ID)
    await b.publish_heartbeat()
    await prefer_holder(_ctx(a), PIPER_ID)


async def test_no_hand_back_when_the_idle_worker_has_no_room_or_the_job_fits_here(
    arq_redis: ArqRedis, store: ModelStore, tmp_path: Path
) -> None:
    whisper, piper = store.get(WHISPER_ID), store.get(PIPER_ID)
    a = await _worker("a", arq_redis, store, tmp_path, whisper.bytes_on_disk + MB)
    b = await _worker("b", arq_redis, store, tmp_path, piper.bytes_on_disk // 2)
    await a.cache.load(whisper)
    await a.publish_heartbeat()
    await b.publish_heartbeat()
    await prefer_holder(_ctx(a), PIPER_ID)  # b could not load it without evicting either

    roomy = await _worker("c", arq_redis, store, tmp_path, 10 * piper.bytes_on_disk)
    await roomy.cache.load(whisper)
    await roomy.publish_heartbeat()
    await prefer_holder(_ctx(roomy), PIPER_ID)  # fits here: no reason to hand it on
    # A job past its hand-backs runs where it landed.
    await prefer_holder({"state": a, "job_try": 5}, PIPER_ID)
