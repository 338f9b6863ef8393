"""The GPU budget shrinks by what Ollama holds, and the opt-in eviction gives it back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from neuraldrive_audio.config import Settings
from neuraldrive_audio.workers import ollama
from tests.harness import free_port
from tests.stand_ins import OllamaStandIn

GIB = 1024**3
TOTAL = 24 * GIB
BUDGET = 12 * GIB  # half the GPU for audio models


@pytest.fixture
def stand_in() -> Iterator[tuple[OllamaStandIn, str]]:
    """An Ollama with two LLMs: ``old`` expires first, so it is the least recently used."""
    server = OllamaStandIn()
    now = datetime.now(UTC)
    server.load("old:7b", 8 * GIB, now + timedelta(minutes=1))
    server.load("new:8b", 9 * GIB, now + timedelta(minutes=4))
    with server.running() as url:
        yield server, url


def test_vram_is_the_sum_of_size_vram(stand_in: tuple[OllamaStandIn, str]) -> None:
    _, url = stand_in
    assert ollama.ollama_vram_bytes(url) == 17 * GIB


def test_budget_shrinks_by_what_ollama_holds_beyond_the_rest_of_the_gpu(
    stand_in: tuple[OllamaStandIn, str],
) -> None:
    _, url = stand_in
    # 24 GiB - 17 GiB leaves 7 GiB: the 12 GiB budget shrinks by the 5 GiB it overlaps.
    assert ollama.gpu_budget(TOTAL, BUDGET, url) == 7 * GIB
    assert ollama.gpu_budget(TOTAL, TOTAL, url) == 7 * GIB  # a whole-GPU budget: minus all
    assert ollama.gpu_budget(TOTAL, 4 * GIB, url) == 4 * GIB  # room beside Ollama: unchanged


def test_eviction_unloads_the_earliest_expiring_model_and_the_budget_recovers(
    stand_in: tuple[OllamaStandIn, str],
) -> None:
    server, url = stand_in

    freed = ollama.free_ollama_vram(url, needed_bytes=3 * GIB)

    assert server.unloaded == ["old:7b"]
    assert freed == 8 * GIB
    assert ollama.gpu_budget(TOTAL, BUDGET, url) == BUDGET  # 24 - 9 = 15 GiB left


def test_eviction_unloads_more_models_until_enough_is_freed(
    stand_in: tuple[OllamaStandIn, str],
) -> None:
    server, url = stand_in
    assert ollama.free_ollama_vram(url, needed_bytes=10 * GIB) == 17 * GIB
    assert server.unloaded == ["old:7b", "new:8b"]


def test_unreachable_ollama_leaves_the_budget_unchanged() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert ollama.ollama_vram_bytes(url) == 0
    assert ollama.gpu_budget(TOTAL, BUDGET, url) == BUDGET
    assert ollama.free_ollama_vram(url, GIB) == 0


def test_budget_function_ignores_ollama_on_cpu(stand_in: tuple[OllamaStandIn, str]) -> None:
    _, url = stand_in
    settings = Settings(worker_device="cpu", ollama_url=url)
    assert ollama.budget_function(settings, BUDGET)() == BUDGET


def test_budget_function_follows_ollama_on_a_gpu(
    stand_in: tuple[OllamaStandIn, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = stand_in
    monkeypatch.setattr(ollama.memory, "device_total_bytes", lambda device: TOTAL)
    budget = ollama.budget_function(Settings(worker_device="cuda:0", ollama_url=url), BUDGET)
    assert budget() == 7 * GIB
    server.models.clear()  # Ollama unloaded its LLMs on its own (keep_alive expired)
    assert budget() == BUDGET
    not_shared = Settings(worker_device="cuda:0", ollama_url=url, ollama_shares_gpu=False)
    assert ollama.budget_function(not_shared, BUDGET)() == BUDGET
