"""Per-worker LRU cache of loaded models under a memory budget.

A model's cost is measured when it loads (process memory before/after) and remembered,
so later decisions use real numbers; before the first load the size on disk is the guess.
Loading a model that does not fit evicts least-recently-used idle, unpinned models. A
model serving a job is never evicted. Concurrent requests for one model load it once.

The cache is generic in what it holds: the worker hands it a loader (the engine registry's)
and gets back what that loader returns; tests can hand it fakes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from neuraldrive_audio.queue.heartbeat import LoadedModelInfo
from neuraldrive_audio.storage.manifest import ModelManifest

log = logging.getLogger(__name__)


class Closable(Protocol):
    """What the cache needs of a loaded model: a way to free it."""

    def close(self) -> None:
        """Free the model's memory."""


M = TypeVar("M", bound=Closable)


class ModelTooLargeError(Exception):
    """The model alone needs more memory than the worker's whole budget."""

    def __init__(self, model_id: str, needed: int, budget: int) -> None:
        super().__init__(
            f"model {model_id} needs {needed} bytes but the worker's budget is {budget} bytes"
        )
        self.needed = needed
        self.budget = budget


class ModelBusyError(Exception):
    """The model does not fit until models that are in use or pinned are released."""

    def __init__(self, model_id: str, needed: int, free: int) -> None:
        super().__init__(
            f"model {model_id} needs {needed} bytes; only {free} bytes can be freed now "
            "(the rest is held by models in use or pinned)"
        )
        self.needed = needed
        self.free = free


@dataclass
class CachedModel(Generic[M]):
    """A resident model and its bookkeeping."""

    model: M
    manifest: ModelManifest
    bytes: int
    pinned: bool = False
    in_use: int = 0
    last_used: float = field(default_factory=time.time)


@dataclass
class CacheCounters:
    """Lifetime counts for status and metrics."""

    loads: int = 0
    evictions: int = 0


class ModelCache(Generic[M]):
    """Loads models on demand with ``loader`` and evicts them by LRU under ``budget_bytes``."""

    def __init__(
        self,
        loader: Callable[[ModelManifest], M],
        budget_bytes: Callable[[], int],
        idle_ttl_s: float,
        measure_bytes: Callable[[], int],
        reclaim: Callable[[int], int] | None = None,
    ) -> None:
        """``loader`` builds a model from its manifest (blocking; it runs in a thread).
        ``budget_bytes`` may block (it can ask Ollama), so it runs in a thread and is
        cached; ``reclaim(bytes)`` optionally frees memory outside this cache (Ollama)."""
        self._loader = loader
        self._budget_source = budget_bytes
        self._budget_now = 0
        self._reclaim = reclaim
        self._idle_ttl_s = idle_ttl_s
        self._measure = measure_bytes
        self._models: dict[str, CachedModel[M]] = {}
        self._known_cost: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.counters = CacheCounters()

    @property
    def used_bytes(self) -> int:
        """Memory held by resident models, as measured at load."""
        return sum(m.bytes for m in self._models.values())

    def budget_bytes(self) -> int:
        """The budget as last refreshed (it may shrink, e.g. when Ollama takes VRAM)."""
        return self._budget_now

    async def refresh_budget(self) -> int:
        """Re-read the budget without blocking the event loop."""
        self._budget_now = await asyncio.to_thread(self._budget_source)
        return self._budget_now

    def expected_cost(self, manifest: ModelManifest) -> int:
        """Bytes the model is expected to take: as measured at an earlier load, else its
        files' size."""
        return self._known_cost.get(manifest.id, manifest.bytes_on_disk)

    def fits_without_eviction(self, manifest: ModelManifest) -> bool:
        """True if loading the model would not push anything else out."""
        return self._budget_now - self.used_bytes >= self.expected_cost(manifest)

    def is_loaded(self, model_id: str) -> bool:
        """True if the model is resident."""
        return model_id in self._models

    @asynccontextmanager
    async def use(self, manifest: ModelManifest) -> AsyncIterator[M]:
        """Hold a model for one job: loaded if needed, never evicted while held."""
        cached = await self._ensure_loaded(manifest)
        cached.in_use += 1
        try:
            yield cached.model
        finally:
            cached.in_use -= 1
            cached.last_used = time.time()

    async def load(self, manifest: ModelManifest, pin: bool | None = None) -> CachedModel[M]:
        """Load (if needed) and optionally pin or unpin a model."""
        cached = await self._ensure_loaded(manifest)
        if pin is not None:
            cached.pinned = pin
        return cached

    async def unload(self, model_id: str) -> bool:
        """Unload a resident model; False when not loaded. Refuses a model in use."""
        cached = self._models.get(model_id)
        if cached is None:
            return False
        if cached.in_use:
            raise ModelBusyError(model_id, cached.bytes, 0)
        await self._drop(model_id)
        return True

    async def unload_expired(self) -> list[str]:
        """Unload unpinned models idle longer than the TTL; returns their ids."""
        now = time.time()
        expired = [
            model_id
            for model_id, m in self._models.items()
            if not m.pinned and not m.in_use and now - m.last_used > self._idle_ttl_s
        ]
        for model_id in expired:
            log.info("unloading idle model", extra={"model": model_id})
            await self._drop(model_id)
        return expired

    def snapshot(self) -> list[LoadedModelInfo]:
        """What is resident, for heartbeats."""
        return [
            LoadedModelInfo(
                id=model_id,
                engine=m.manifest.engine,
                bytes=m.bytes,
                pinned=m.pinned,
                in_use=m.in_use,
                last_used=m.last_used,
                idle_until=None if m.pinned else m.last_used + self._idle_ttl_s,
            )
            for model_id, m in self._models.items()
        ]

    async def close(self) -> None:
        """Unload everything."""
        for model_id in list(self._models):
            await self._drop(model_id)

    async def _ensure_loaded(self, manifest: ModelManifest) -> CachedModel[M]:
        lock = self._locks.setdefault(manifest.id, asyncio.Lock())
        async with lock:
            cached = self._models.get(manifest.id)
            if cached is None:
                cached = await self._load(manifest)
            cached.last_used = time.time()
            return cached

    async def _load(self, manifest: ModelManifest) -> CachedModel[M]:
        await self._make_room(manifest.id, self.expected_cost(manifest))
        before = self._measure()
        started = time.perf_counter()
        model = await asyncio.to_thread(self._loader, manifest)
        # Memory freed by an eviction gets reused, so a load right after one can measure
        # almost nothing. Floor the figure at the weights' size and keep the largest seen.
        measured = self._measure() - before
        cost = max(measured, manifest.bytes_on_disk, self._known_cost.get(manifest.id, 0))
        self._known_cost[manifest.id] = cost
        self.counters.loads += 1
        log.info(
            "model loaded",
            extra={"model": manifest.id, "bytes": cost, "seconds": time.perf_counter() - started},
        )
        cached = CachedModel(model=model, manifest=manifest, bytes=cost)
        self._models[manifest.id] = cached
        await self._shed_overshoot(manifest.id)
        return cached

    async def _make_room(self, model_id: str, needed: int) -> None:
        budget = await self.refresh_budget()
        if self._reclaim is not None and not self._fits_after_eviction(needed, budget):
            freed = await asyncio.to_thread(
                self._reclaim, needed - self._free_after_eviction(budget)
            )
            log.info(
                "reclaimed memory outside the cache", extra={"bytes": freed, "model": model_id}
            )
            budget = await self.refresh_budget()
        if needed > budget:
            raise ModelTooLargeError(model_id, needed, budget)
        idle_lru = self._idle_lru()
        free = budget - self.used_bytes
        evictable = sum(self._models[mid].bytes for mid in idle_lru)
        if free + evictable < needed:
            raise ModelBusyError(model_id, needed, max(free + evictable, 0))
        for victim in idle_lru:
            if budget - self.used_bytes >= needed:
                break
            log.info("evicting model", extra={"model": victim, "for_model": model_id})
            await self._drop(victim)
            self.counters.evictions += 1

    async def _shed_overshoot(self, model_id: str) -> None:
        # Room was made for an estimate (the files' size on a first load); the measured
        # cost can be larger. Idle models make way now, so the budget holds after loads.
        for victim in self._idle_lru(besides=model_id):
            if self.used_bytes <= self._budget_now:
                break
            log.info("evicting model", extra={"model": victim, "for_model": model_id})
            await self._drop(victim)
            self.counters.evictions += 1

    def _idle_lru(self, besides: str | None = None) -> list[str]:
        """Models that may be evicted, least recently used first."""
        idle = [(m.last_used, mid) for mid, m in self._models.items()
                if mid != besides and not m.in_use and not m.pinned]  # fmt: skip
        return [mid for _, mid in sorted(idle)]

    def _free_after_eviction(self, budget: int) -> int:
        evictable = sum(m.bytes for m in self._models.values() if not m.in_use and not m.pinned)
        return budget - self.used_bytes + evictable

    def _fits_after_eviction(self, needed: int, budget: int) -> bool:
        return needed <= budget and needed <= self._free_after_eviction(budget)

    async def _drop(self, model_id: str) -> None:
        cached = self._models.pop(model_id)
        await asyncio.to_thread(cached.model.close)
