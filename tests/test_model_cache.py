"""The per-worker LRU cache with the real demo models loaded in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.base import Engine
from neuraldrive_audio.storage.demo_models import KOKORO_ID, PIPER_ID, WHISPER_ID
from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.storage.model_store import ModelStore
from neuraldrive_audio.workers import memory
from neuraldrive_audio.workers.model_cache import ModelBusyError, ModelCache, ModelTooLargeError

pytestmark = pytest.mark.service

GIB = 1024**3
CPU = Device("cpu")


class Budget:
    """A budget the test can change between loads."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __call__(self) -> int:
        return self.value


def _cache(
    models_dir: Path, budget: Budget, ttl: float = 600
) -> tuple[ModelCache[Engine], ModelStore]:
    store = ModelStore(models_dir)
    cache = ModelCache(_loader(store), budget, ttl, memory.process_bytes)
    return cache, store


def _loader(store: ModelStore) -> Callable[[ModelManifest], Engine]:
    def load(manifest: ModelManifest) -> Engine:
        return registry.of(manifest).load(manifest, store.path_of(manifest), Settings(), CPU)

    return load


async def test_lru_eviction_pin_and_in_use(models_dir: Path) -> None:
    budget = Budget(4 * GIB)
    cache, store = _cache(models_dir, budget)
    whisper, kokoro, piper = (store.get(m) for m in (WHISPER_ID, KOKORO_ID, PIPER_ID))
    # Measure all three first: costs come from RSS at load, and the cache evicts right
    # after a load that measures heavier than it had room for, so the budget below must
    # hold whisper with either of the others, whatever this process measures.
    for manifest in (piper, whisper, kokoro):
        await cache.load(manifest)
    await cache.unload(piper.id)
    costs = {m.id: m.bytes for m in cache.snapshot()} | {piper.id: cache.expected_cost(piper)}
    # Room for two only: the third must push the least recently used one out.
    budget.value = costs[whisper.id] + max(costs[kokoro.id], costs[piper.id]) + 16 * 1024**2
    assert budget.value < sum(costs.values())
    await cache.load(whisper)  # touch: kokoro is now the LRU
    await cache.load(piper)
    assert cache.is_loaded(whisper.id) and cache.is_loaded(piper.id)
    assert not cache.is_loaded(kokoro.id)
    assert cache.counters.evictions == 1

    # A pinned model is skipped even when it is the LRU.
    costs |= {m.id: m.bytes for m in cache.snapshot()}
    await cache.load(whisper, pin=True)
    await cache.load(piper)
    budget.value = costs[whisper.id] + costs[kokoro.id] + 16 * 1024**2
    await cache.load(kokoro)
    assert cache.is_loaded(whisper.id) and cache.is_loaded(kokoro.id)
    assert not cache.is_loaded(piper.id)

    # A model serving a job is never evicted: with the rest pinned, the load fails clearly.
    async with cache.use(kokoro):
        with pytest.raises(ModelBusyError, match="in use or pinned"):
            await cache.load(piper)
        assert cache.is_loaded(kokoro.id)
    await cache.close()


async def test_too_large_and_single_flight(models_dir: Path) -> None:
    budget = Budget(1024)
    cache, store = _cache(models_dir, budget)
    with pytest.raises(ModelTooLargeError, match="budget is 1024 bytes"):
        await cache.load(store.get(PIPER_ID))
    budget.value = 4 * GIB
    await asyncio.gather(*(cache.load(store.get(PIPER_ID)) for _ in range(4)))
    assert cache.counters.loads == 1
    await cache.close()


async def test_idle_models_unload_after_ttl_unless_pinned(models_dir: Path) -> None:
    cache, store = _cache(models_dir, Budget(4 * GIB), ttl=0.2)
    await cache.load(store.get(PIPER_ID))
    await cache.load(store.get(KOKORO_ID), pin=True)
    await asyncio.sleep(0.3)
    assert await cache.unload_expired() == [PIPER_ID]
    assert cache.is_loaded(KOKORO_ID) and not cache.is_loaded(PIPER_ID)
    snapshot = {m.id: m for m in cache.snapshot()}
    assert snapshot[KOKORO_ID].pinned and snapshot[KOKORO_ID].idle_until is None
    await cache.close()


async def test_opt_in_policy_unloads_an_ollama_model_to_make_room(models_dir: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from neuraldrive_audio.workers import ollama
    from tests.stand_ins import OllamaStandIn

    store = ModelStore(models_dir)
    piper = store.get(PIPER_ID)
    server = OllamaStandIn()
    now = datetime.now(UTC)
    server.load("old:7b", 8 * GIB, now + timedelta(minutes=1))
    server.load("new:8b", 2 * GIB, now + timedelta(minutes=5))
    total = 10 * GIB + piper.bytes_on_disk // 2  # the GPU is full until Ollama lets go
    with server.running() as url:
        cache = ModelCache(
            _loader(store), lambda: ollama.gpu_budget(total, 4 * GIB, url), 600,
            memory.process_bytes, reclaim=lambda needed: ollama.free_ollama_vram(url, needed),
        )  # fmt: skip
        await cache.load(piper)
        assert cache.is_loaded(PIPER_ID)
        assert [m.name for m in ollama.loaded_models(url)] == ["new:8b"]  # the LRU one went
        assert cache.budget_bytes() >= piper.bytes_on_disk
        await cache.close()
