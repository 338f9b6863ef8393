"""A worker process: one arq worker per device, with its model cache and heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import Any

from arq.connections import ArqRedis
from arq.typing import WorkerCoroutine
from arq.worker import Function, func
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from neuraldrive_audio.config import Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.base import Engine
from neuraldrive_audio.queue import heartbeat, keys, wake
from neuraldrive_audio.queue.connection import (
    connect,
    deserialize_job,
    serialize_job,
    tls_options,
)
from neuraldrive_audio.queue.lanes import LANES, Lane
from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.storage.model_store import ModelStore
from neuraldrive_audio.workers import memory, ollama
from neuraldrive_audio.workers.affinity import MAX_HAND_BACKS
from neuraldrive_audio.workers.control_loop import control_loop
from neuraldrive_audio.workers.lane_worker import LaneWorker
from neuraldrive_audio.workers.long_speech import speak_chunk
from neuraldrive_audio.workers.long_transcription import transcribe_chunk
from neuraldrive_audio.workers.model_cache import ModelCache
from neuraldrive_audio.workers.ping_job import ping
from neuraldrive_audio.workers.speech_job import synthesize
from neuraldrive_audio.workers.state import WorkerState
from neuraldrive_audio.workers.transcription_job import transcribe

log = logging.getLogger(__name__)


def memory_budget(settings: Settings) -> int:
    """The worker's model budget in bytes: absolute if configured, else a share of the device."""
    if settings.worker_memory_budget_bytes > 0:
        return settings.worker_memory_budget_bytes
    total = memory.device_total_bytes(settings.device)
    return int(total * settings.worker_memory_budget_fraction)


def ollama_reclaimer(settings: Settings) -> Callable[[int], int] | None:
    """The opt-in policy: on a GPU worker, ask Ollama to unload idle LLMs to make room."""
    if not settings.ollama_evict_for_audio or settings.device.gpu_index is None:
        return None
    return lambda needed: ollama.free_ollama_vram(settings.ollama_url, needed)


def build_state(settings: Settings, redis: ArqRedis) -> WorkerState:
    """Wire a worker's cache and store together."""
    store = ModelStore(settings.resolved_models_dir)
    budget = memory_budget(settings)
    device = settings.device

    def load(manifest: ModelManifest) -> Engine:
        return registry.of(manifest).load(manifest, store.path_of(manifest), settings, device)

    cache = ModelCache(
        loader=load,
        budget_bytes=ollama.budget_function(settings, budget),
        idle_ttl_s=settings.model_idle_ttl_s,
        measure_bytes=lambda: memory.device_used_bytes(device),
        reclaim=ollama_reclaimer(settings),
    )
    return WorkerState(settings=settings, redis=redis, store=store, cache=cache)


async def _heartbeat_loop(state: WorkerState) -> None:
    settings = state.settings
    while True:
        try:
            await state.cache.refresh_budget()
            await state.cache.unload_expired()
            await state.publish_heartbeat()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # Redis is away: one line per beat, the lanes' reconnect loop says the rest.
            log.warning(
                "heartbeat failed: %s", type(exc).__name__, extra={"worker_id": state.worker_id}
            )
        except Exception:  # a bug: logged with its trace, but the worker keeps beating
            log.exception("heartbeat failed", extra={"worker_id": state.worker_id})
        await asyncio.sleep(settings.worker_heartbeat_s)


# Every job kind a lane may name (queue.lanes), by arq function name.
JOB_FUNCTIONS: dict[str, WorkerCoroutine] = {
    keys.TRANSCRIBE_FUNCTION: transcribe,
    keys.SPEECH_FUNCTION: synthesize,
    keys.TRANSCRIBE_CHUNK_FUNCTION: transcribe_chunk,
    keys.SPEECH_CHUNK_FUNCTION: speak_chunk,
    keys.PING_FUNCTION: ping,
}
PING_TIMEOUT_S = 10


def _functions(settings: Settings, lane: Lane) -> list[Function]:
    # Hand-backs to the worker holding a model (affinity) use arq tries too.
    tries = settings.job_max_tries + MAX_HAND_BACKS
    timeout = lane.timeout_s(settings)
    return [
        func(JOB_FUNCTIONS[name], name=name, timeout=timeout, max_tries=tries)
        if name != keys.PING_FUNCTION
        else func(ping, name=name, timeout=PING_TIMEOUT_S, max_tries=1)
        for name in lane.functions
    ]


def _lane_worker(state: WorkerState, lane: Lane, redis: ArqRedis) -> LaneWorker:
    settings = state.settings
    ctx: dict[str, Any] = {"state": state, "lane": lane}
    return LaneWorker(
        lane_name=lane.name,
        idle_poll_s=settings.worker_idle_poll_s,
        functions=_functions(settings, lane),
        queue_name=lane.queue_name,
        redis_pool=redis,
        max_jobs=settings.worker_max_jobs,
        job_timeout=settings.job_timeout_s,
        keep_result=60,
        poll_delay=lane.poll_delay_s(settings),
        allow_abort_jobs=True,
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        ctx=ctx,
        handle_signals=False,  # one handler below stops every lane
        log_results=False,
    )


async def run_worker(settings: Settings) -> None:
    """Run a worker (one arq worker per lane, sharing one model cache) until SIGINT/SIGTERM."""
    if not settings.redis_url:
        raise RuntimeError("a worker needs NEURALDRIVE_AUDIO_REDIS_URL")
    memory.limit_malloc_arenas(settings.worker_malloc_arenas)  # before inference threads exist
    registry.import_plugins(settings.engine_plugins)
    redis = await connect(settings.redis_url, tls_options(settings))
    state = build_state(settings, redis)
    await state.cache.refresh_budget()
    lanes = [_lane_worker(state, lane, redis) for lane in LANES if lane.served(settings)]

    stopping = asyncio.Event()

    def stop(signum: signal.Signals) -> None:
        stopping.set()
        for worker in lanes:
            worker.handle_sig(signum)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    background = [
        asyncio.create_task(_heartbeat_loop(state)),
        asyncio.create_task(control_loop(state)),
    ]
    log.info("worker ready", extra={"worker_id": state.worker_id, "device": settings.worker_device})
    try:
        await _run_lanes(lanes, state.worker_id, stopping)
    except asyncio.CancelledError:
        log.info("worker stopping", extra={"worker_id": state.worker_id})  # SIGTERM/SIGINT
    finally:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Best effort: with Redis gone the heartbeat simply expires.
        with contextlib.suppress(RedisError, OSError):
            await heartbeat.withdraw(redis, state.worker_id)
        await state.cache.close()
        for worker in lanes:
            with contextlib.suppress(RedisError, OSError):
                await worker.close()


RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 10.0
STABLE_S = 30.0
"""Lanes that ran this long before losing Redis start again from the shortest backoff."""


async def _run_lanes(lanes: list[LaneWorker], worker_id: str, stopping: asyncio.Event) -> None:
    """Run the lanes; when Redis goes away, wait with backoff and run them again.

    The pool reconnects by itself on the next command, so a Redis blip costs the worker
    nothing but the wait. Only a signal (``stopping``) ends this.
    """
    delay = RECONNECT_FIRST_S
    while not stopping.is_set():
        started = asyncio.get_running_loop().time()
        runs = [asyncio.ensure_future(w.async_run()) for w in lanes]
        try:
            await asyncio.gather(*runs)
            return
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            for run in runs:
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
            if asyncio.get_running_loop().time() - started > STABLE_S:
                delay = RECONNECT_FIRST_S
            log.warning(
                "lost Redis (%s); reconnecting in %.1f s", type(exc).__name__, delay,
                extra={"worker_id": worker_id},
            )  # fmt: skip
            await wake.wait_until_set(stopping, delay)
            delay = min(delay * 2, RECONNECT_MAX_S)
