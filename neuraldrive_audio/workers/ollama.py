"""Ollama shares the GPU: how much VRAM its loaded LLMs hold, and (opt-in) asking it to let go.

Calls are synchronous with short timeouts: the budget is read by the worker's cache, and
Ollama normally runs on the same host, so an answer (or a refused connection) is immediate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from pydantic import BaseModel, ValidationError

from neuraldrive_audio.config import Settings
from neuraldrive_audio.workers import memory

log = logging.getLogger(__name__)

PS_TIMEOUT_S = 1.0
UNLOAD_TIMEOUT_S = 5.0
UNLOAD_WAIT_S = 10.0
UNLOAD_POLL_S = 0.2
_NEVER = datetime.max.replace(tzinfo=UTC)


class OllamaModel(BaseModel):
    """One loaded LLM as ``/api/ps`` reports it."""

    name: str
    size: int = 0
    size_vram: int = 0
    expires_at: datetime | None = None


class _Ps(BaseModel):
    models: list[OllamaModel] = []


def loaded_models(url: str) -> list[OllamaModel]:
    """Ollama's loaded models (``GET /api/ps``); raises httpx.HTTPError when unreachable."""
    response = httpx.get(f"{url.rstrip('/')}/api/ps", timeout=PS_TIMEOUT_S)
    response.raise_for_status()
    return _Ps.model_validate_json(response.content).models


def _loaded_or_empty(url: str) -> list[OllamaModel]:
    try:
        return loaded_models(url)
    except (httpx.HTTPError, ValidationError) as exc:
        # No Ollama (or not yet started) is normal on an audio-only machine.
        log.debug("Ollama not reachable at %s: %s", url, exc)
        return []


def ollama_vram_bytes(url: str) -> int:
    """VRAM held by Ollama's loaded models; 0 when Ollama is unreachable."""
    return sum(m.size_vram for m in _loaded_or_empty(url))


def gpu_budget(total_bytes: int, budget_bytes: int, ollama_url: str) -> int:
    """``budget_bytes``, capped by what the device has left beside Ollama's models.

    Ollama's VRAM counts against the device, not against our share of it: with a budget of
    half the GPU, an LLM in the other half costs the audio models nothing.
    """
    return max(0, min(budget_bytes, total_bytes - ollama_vram_bytes(ollama_url)))


def budget_function(settings: Settings, budget_bytes: int) -> Callable[[], int]:
    """The budget callable for a worker's cache: fixed on CPU, Ollama-aware on a GPU."""
    if not settings.ollama_shares_gpu or settings.device.gpu_index is None:
        return lambda: budget_bytes
    total = memory.device_total_bytes(settings.device)
    # /api/ps does not say which GPU a model is on; on a multi-GPU host all of Ollama's
    # VRAM is counted against each device, which errs on the side of not running out.
    return lambda: gpu_budget(total, budget_bytes, settings.ollama_url)


def free_ollama_vram(url: str, needed_bytes: int) -> int:
    """Ask Ollama to unload least recently used models until ``needed_bytes`` are freed.

    Returns the VRAM of the models that are gone from ``/api/ps`` afterwards (0 when
    Ollama is unreachable). The opt-in policy behind ``ollama_evict_for_audio``.
    """
    asked: list[OllamaModel] = []
    for model in _unload_order(_loaded_or_empty(url)):
        if sum(m.size_vram for m in asked) >= needed_bytes:
            break
        if _request_unload(url, model.name):
            asked.append(model)
    gone = _wait_until_unloaded(url, {m.name for m in asked})
    return sum(m.size_vram for m in asked if m.name in gone)


def _unload_order(models: list[OllamaModel]) -> list[OllamaModel]:
    # /api/ps has no last-used time. A model expires keep_alive after its last request,
    # so (with equal keep_alive settings) the earliest expires_at is the least recently
    # used; that is the proxy used here.
    on_gpu = [m for m in models if m.size_vram > 0]
    return sorted(on_gpu, key=lambda m: m.expires_at or _NEVER)


def _request_unload(url: str, name: str) -> bool:
    # keep_alive 0 without a prompt is Ollama's documented unload; Ollama lets requests
    # already running on the model finish first, so no generation is cut off.
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/api/generate",
            json={"model": name, "keep_alive": 0},
            timeout=UNLOAD_TIMEOUT_S,
        )
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("Ollama did not unload %s: %s", name, exc)
        return False
    log.info("asked Ollama to unload %s to make room for audio models", name)
    return True


def _wait_until_unloaded(url: str, names: set[str]) -> set[str]:
    """Which of ``names`` left ``/api/ps`` within UNLOAD_WAIT_S (Ollama unloads asynchronously)."""
    deadline = time.monotonic() + UNLOAD_WAIT_S
    while names:
        gone = names - {m.name for m in _loaded_or_empty(url)}
        if gone == names or time.monotonic() >= deadline:
            return gone
        time.sleep(UNLOAD_POLL_S)
    return set()
