"""Shared fixtures: a real Redis, the demo models in a store, the running service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fakeredis
import fakeredis.aioredis
import pytest
import redis.asyncio
from arq.connections import ArqRedis

from neuraldrive_audio.queue.connection import deserialize_job, serialize_job
from neuraldrive_audio.storage.demo_models import register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import RedisServer, Service
from tests.llm_stand_in import LLMStandIn, serve_llm
from tests.speech_clips import SENTENCES, make_clip

pytest_plugins = ["tests.file_order"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server for the whole session."""
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store holding the three demo models."""
    root = tmp_path_factory.mktemp("models")
    register_demo_models(ModelStore(root))
    return root


@pytest.fixture(scope="session")
def service(
    redis_server: RedisServer, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """API + one worker on Redis db 0, shared by the tests that don't disturb it."""
    svc = Service.start(f"{redis_server.url}/0", tmp_path_factory.mktemp("data"), models_dir)
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def speech_clip() -> tuple[bytes, str]:
    """~8 s of speech (WAV) and its text."""
    text = " ".join(SENTENCES[:3])
    return make_clip(text), text


@pytest.fixture(scope="session")
def stand_in() -> Iterator[LLMStandIn]:
    """The Ollama stand-in (the appliance's LLM), for the whole session."""
    with serve_llm() as state:
        yield state


@pytest.fixture(scope="session")
def agent(
    service: Service,
    redis_server: RedisServer,
    models_dir: Path,
    stand_in: LLMStandIn,
) -> Iterator[Service]:
    """An API talking to the LLM stand-in, on the shared service's Redis, worker and data
    directory: two APIs on one Redis share their disk (either one's job feeder may plan a
    job the other received)."""
    svc = Service.start(
        f"{redis_server.url}/0",
        service.data_dir,
        models_dir,
        workers=0,
        llm_base_url=stand_in.base_url,
        llm_model="llama3.2",
        voice_tts_model="piper/en_US-joe-medium",
    )
    yield svc
    svc.stop()


@pytest.fixture
def llm(stand_in: LLMStandIn) -> LLMStandIn:
    """The stand-in reset to a healthy, instant LLM."""
    stand_in.mode, stand_in.token_delay_s, stand_in.first_token_delay_s = "ok", 0.0, 0.0
    stand_in.requests.clear()
    return stand_in


@pytest.fixture
def arq_redis() -> Iterator[ArqRedis]:
    """An in-process fakeredis as an arq pool with our JSON job serializer, as
    ``queue.connection.connect`` sets it up: for fast tests of queue and worker logic."""
    pool = redis.asyncio.ConnectionPool(
        connection_class=fakeredis.aioredis.FakeAsyncRedisConnection, server=fakeredis.FakeServer()
    )
    yield ArqRedis(
        connection_pool=pool, job_serializer=serialize_job, job_deserializer=deserialize_job
    )


COST_MARKERS = ("service", "install", "deploy", "chaos", "fuzz")
"""The markers by cost besides ``unit``; each also implies ``slow``."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Complete the cost markers: unmarked is ``unit``; ``slow`` alone is ``service``; any
    other cost marker adds ``slow``, so ``-m unit`` and ``-m "not slow"`` select the same."""
    for item in items:
        costs = {m for m in COST_MARKERS if item.get_closest_marker(m)}
        slow = item.get_closest_marker("slow") is not None
        if not costs and not slow:
            item.add_marker(pytest.mark.unit)
            continue
        if not costs:
            item.add_marker(pytest.mark.service)
        if not slow:
            item.add_marker(pytest.mark.slow)
