"""The model cache's policy with an in-process fake loader: fast, no real models."""

from __future__ import annotations

import asyncio
import threading

import pytest

from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.workers.model_cache import ModelBusyError, ModelCache, ModelTooLargeError

MB = 1_000_000


class FakeModel:
    """What a loader returns; remembers whether it was closed."""

    def __init__(self, manifest: ModelManifest) -> None:
        self.manifest = manifest
        self.closed = False
        self.thread = threading.current_thread()

    def close(self) -> None:
        self.closed = True


class Fakes:
    """A loader that counts loads, and a memory meter that grows with each load."""

    def __init__(self) -> None:
        self.loads: list[str] = []
        self.used = 0
        self.budget = 100 * MB

    def load(self, manifest: ModelManifest) -> FakeModel:
        self.loads.append(manifest.id)
        self.used += manifest.bytes_on_disk
        return FakeModel(manifest)

    def cache(self, ttl: float = 600) -> ModelCache[FakeModel]:
        return ModelCache(self.load, lambda: self.budget, ttl, lambda: self.used)


def _model(model_id: str, size_mb: int) -> ModelManifest:
    return ModelManifest(id=model_id, engine="fake", files=[], bytes_on_disk=size_mb * MB)


A, B, C = _model("a", 40), _model("b", 40), _model("c", 40)


async def test_use_yields_what_the_loader_returns_loaded_in_a_thread() -> None:
    fakes = Fakes()
    cache = fakes.cache()
    async with cache.use(A) as model:
        assert isinstance(model, FakeModel) and model.manifest is A
        assert model.thread is not threading.current_thread()  # the event loop stays free
    assert cache.snapshot()[0].engine == "fake" and cache.used_bytes == 40 * MB


async def test_lru_eviction_skips_pinned_and_in_use_models() -> None:
    fakes = Fakes()
    cache = fakes.cache()
    await cache.load(A, pin=True)
    await cache.load(B)
    loaded_b = (await cache.load(B)).model
    await cache.load(C)  # needs room: b is the only idle, unpinned model
    assert (cache.is_loaded("a"), cache.is_loaded("b"), cache.is_loaded("c")) == (True, False, True)
    assert loaded_b.closed and cache.counters.evictions == 1
    async with cache.use(C):
        with pytest.raises(ModelBusyError):
            await cache.load(B)  # a pinned, c in use: nothing can go
    await cache.load(B)  # c is idle again and goes
    assert not cache.is_loaded("c") and fakes.loads == ["a", "b", "c", "b"]


async def test_too_large_and_unload_rules() -> None:
    fakes = Fakes()
    cache = fakes.cache()
    with pytest.raises(ModelTooLargeError):
        await cache.load(_model("huge", 101))
    async with cache.use(A):
        with pytest.raises(ModelBusyError):
            await cache.unload("a")
    assert await cache.unload("a") and not await cache.unload("a")


async def test_concurrent_requests_load_once_and_idle_models_expire() -> None:
    fakes = Fakes()
    cache = fakes.cache(ttl=0.05)
    await asyncio.gather(*(cache.load(A) for _ in range(5)))
    assert fakes.loads == ["a"]
    await cache.load(B, pin=True)
    await asyncio.sleep(0.1)
    assert await cache.unload_expired() == ["a"]  # the pinned one stays
    assert cache.is_loaded("b")


async def test_cost_is_measured_and_remembered() -> None:
    fakes = Fakes()
    grow = fakes.load

    def heavier(manifest: ModelManifest) -> FakeModel:
        fakes.used += 30 * MB  # the model takes more memory than its files
        return grow(manifest)

    cache = ModelCache(heavier, lambda: fakes.budget, 600, lambda: fakes.used)
    await cache.load(A)
    assert cache.used_bytes == 70 * MB
    await cache.unload("a")
    await cache.load(B)
    assert not cache.fits_without_eviction(A)  # 70 MB remembered for a, 30 MB free


async def test_a_load_that_measures_heavier_than_its_files_evicts_after_the_fact() -> None:
    """Room is made for the files' size before a first load; the measured cost may be
    larger. The budget still holds afterwards: idle models make way at once."""
    fakes = Fakes()
    grow = fakes.load

    def heavier(manifest: ModelManifest) -> FakeModel:
        if manifest.id == "c":
            fakes.used += 30 * MB  # c takes more memory than its files
        return grow(manifest)

    cache = ModelCache(heavier, lambda: fakes.budget, 600, lambda: fakes.used)
    await cache.load(A)
    await cache.load(_model("b", 20))
    async with cache.use(A):  # a is busy: b, the only idle model, is the one to go
        await cache.load(C)  # 40 MB fit before loading; 70 MB measured after
    assert cache.is_loaded("a") and cache.is_loaded("c") and not cache.is_loaded("b")
    assert cache.used_bytes == 110 * MB > fakes.budget  # nothing idle was left to drop
    assert cache.counters.evictions == 1
    await cache.load(_model("d", 10))  # the next load sees the overshoot and frees room
    assert cache.used_bytes <= fakes.budget and cache.counters.evictions == 2
