"""Objects the routers get injected: settings, the queue, the model catalog, the speech
service.

They live on ``app.state`` when our own app factory built the app. When NeuralDrive's
System API includes our management router in its app, nothing is there yet, so each is
created on first use from the settings and kept on that app's state.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request

from neuraldrive_audio.config import Settings, get_settings
from neuraldrive_audio.queue.client import JobQueue
from neuraldrive_audio.queue.connection import connect, tls_options
from neuraldrive_audio.service.speech_service import SpeechService
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.job_files import JobFiles
from neuraldrive_audio.storage.model_store import ModelStore

_connect_lock = asyncio.Lock()


def app_settings(request: Request) -> Settings:
    """Settings of the app serving the request (ours, or the process-wide ones)."""
    settings: Settings | None = getattr(request.app.state, "settings", None)
    return settings or get_settings()


def make_queue(redis: object, settings: Settings) -> JobQueue:
    """The API's queue client configured from settings."""
    return JobQueue(
        redis,  # type: ignore[arg-type]
        max_depth=settings.max_queue_depth,
        event_ttl_s=settings.event_ttl_s,
        # A sync job nobody waits for any more must not run later (an abort lost in a
        # Redis outage): arq drops it once this expires.
        job_ttl_s=settings.sync_timeout_s,
    )


async def _queue(request: Request) -> JobQueue:
    queue: JobQueue | None = getattr(request.app.state, "queue", None)
    if queue is not None:
        return queue
    async with _connect_lock:
        if getattr(request.app.state, "queue", None) is None:
            settings = app_settings(request)
            if not settings.redis_url:
                raise RuntimeError("NEURALDRIVE_AUDIO_REDIS_URL is not set")
            request.app.state.queue = make_queue(
                await connect(settings.redis_url, tls_options(settings)), settings
            )
    queue = request.app.state.queue
    assert queue is not None
    return queue


def _catalog(request: Request) -> ModelCatalog:
    catalog: ModelCatalog | None = getattr(request.app.state, "catalog", None)
    if catalog is None:
        catalog = ModelCatalog(ModelStore(app_settings(request).resolved_models_dir))
        request.app.state.catalog = catalog
    return catalog


def _job_files(request: Request) -> JobFiles:
    files: JobFiles | None = getattr(request.app.state, "job_files", None)
    if files is None:
        settings = app_settings(request)
        files = JobFiles.from_settings(settings)
        request.app.state.job_files = files
    return files


async def _service(request: Request) -> SpeechService:
    service: SpeechService | None = getattr(request.app.state, "service", None)
    if service is None:
        service = SpeechService(await _queue(request), _catalog(request), app_settings(request))
        request.app.state.service = service
    return service


SettingsDep = Annotated[Settings, Depends(app_settings)]
QueueDep = Annotated[JobQueue, Depends(_queue)]
CatalogDep = Annotated[ModelCatalog, Depends(_catalog)]
JobFilesDep = Annotated[JobFiles, Depends(_job_files)]
ServiceDep = Annotated[SpeechService, Depends(_service)]
