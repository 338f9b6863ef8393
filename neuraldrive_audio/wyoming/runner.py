"""``neuraldrive-audio wyoming``: the Wyoming server as its own process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from redis.asyncio import Redis

from neuraldrive_audio.config import Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.queue import stats
from neuraldrive_audio.queue.client import JobQueue
from neuraldrive_audio.queue.connection import connect
from neuraldrive_audio.service.speech_service import SpeechService
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.model_store import ModelStore
from neuraldrive_audio.wyoming.access import parse_networks
from neuraldrive_audio.wyoming.connection import ConnectionContext, Recorder
from neuraldrive_audio.wyoming.discovery import Announcement
from neuraldrive_audio.wyoming.limits import SharedLimits
from neuraldrive_audio.wyoming.server import WyomingServer
from neuraldrive_audio.wyoming.speech_port import ServiceSpeech

log = logging.getLogger(__name__)

DOOR = "wyoming"


def request_recorder(redis: Redis) -> Recorder:
    """Counts answered requests in Redis, where status and /metrics read them; a Redis
    hiccup loses a count, never a request."""

    async def record(kind: str, outcome: str) -> None:
        with contextlib.suppress(Exception):
            await stats.record_front_door_request(redis, DOOR, kind, outcome)

    return record


async def build_server(settings: Settings, redis: Redis) -> WyomingServer:
    """A started server on the configured address, backed by the queue at ``redis``."""
    queue = JobQueue(
        redis,  # type: ignore[arg-type]
        max_depth=settings.max_queue_depth,
        event_ttl_s=settings.event_ttl_s,
        job_ttl_s=settings.sync_timeout_s,
    )
    catalog = ModelCatalog(ModelStore(settings.resolved_models_dir))
    context = ConnectionContext(
        settings=settings,
        catalog=catalog,
        speech=ServiceSpeech(SpeechService(queue, catalog, settings)),
        limits=SharedLimits(settings.wyoming_max_connections, settings.wyoming_max_buffered_bytes),
        record=request_recorder(redis),
    )
    server = WyomingServer(
        context,
        settings.wyoming_host,
        settings.wyoming_port,
        parse_networks(settings.wyoming_allow_networks),
    )
    await server.start()
    return server


async def serve_wyoming(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT."""
    if not settings.redis_url:
        raise RuntimeError("the Wyoming server needs NEURALDRIVE_AUDIO_REDIS_URL")
    registry.import_plugins(settings.engine_plugins)
    redis = await connect(settings.redis_url)
    server = await build_server(settings, redis)
    announcement: Announcement | None = None
    if settings.wyoming_zeroconf:
        announcement = Announcement(
            settings.wyoming_zeroconf_name, settings.wyoming_host, server.port
        )
        await announcement.publish()
        log.info(
            "Wyoming server announced over zeroconf", extra={"name": settings.wyoming_zeroconf_name}
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"Wyoming: tcp://{server.address}", flush=True)
    try:
        await stop.wait()
    finally:
        if announcement is not None:
            await announcement.withdraw()
        await server.close()
        await redis.aclose()
