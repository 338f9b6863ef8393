"""The FastAPI app factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from neuraldrive_audio import __version__
from neuraldrive_audio.api import job_feeder
from neuraldrive_audio.api.console import mount_console
from neuraldrive_audio.api.dependencies import make_queue
from neuraldrive_audio.api.errors import install_error_handlers
from neuraldrive_audio.api.janitor import Janitor
from neuraldrive_audio.api.job_feeder import JobFeeder
from neuraldrive_audio.api.realtime import router as realtime
from neuraldrive_audio.api.routers import (
    audio_chat,
    jobs,
    management,
    model_files,
    models,
    speech,
    system,
    transcriptions,
)
from neuraldrive_audio.api.upload_limit import BodySizeLimit
from neuraldrive_audio.config import Settings, get_settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.queue.connection import connect, redacted, tls_options
from neuraldrive_audio.service.speech_service import SpeechService
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.job_files import JobFiles
from neuraldrive_audio.storage.model_store import ModelStore

log = logging.getLogger(__name__)

JOBS_PATH = "/v1/audio/jobs"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. Redis is connected in the lifespan, so creating the app is cheap."""
    settings = settings or get_settings()
    api_key = settings.resolve_api_key()
    if not api_key:
        raise RuntimeError(
            "no API key: set NEURALDRIVE_API_KEY or create "
            f"{settings.api_key_file} (serve generates one for you)"
        )
    registry.import_plugins(settings.engine_plugins)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.redis_url:
            raise RuntimeError("the API needs NEURALDRIVE_AUDIO_REDIS_URL")
        redis = await connect(settings.redis_url, tls_options(settings))
        app.state.queue = make_queue(redis, settings)
        app.state.service = SpeechService(app.state.queue, app.state.catalog, settings)
        janitor = Janitor(redis, settings, app.state.job_files, settings.webhook_secret or api_key)
        janitor_task = asyncio.create_task(janitor.run())
        feeder_task = asyncio.create_task(JobFeeder(redis, settings, app.state.job_files).run())
        log.info("API ready", extra={"redis": redacted(settings.redis_url)})
        try:
            yield
        finally:
            await job_feeder.stop(feeder_task)
            janitor_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await janitor_task
            await redis.aclose()
            await app.state.service.aclose()

    app = FastAPI(title="neuraldrive-audio", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.api_key = api_key
    app.state.catalog = ModelCatalog(ModelStore(settings.resolved_models_dir))
    app.state.job_files = JobFiles.from_settings(settings)
    app.state.realtime = realtime.realtime_registry(app, settings)
    install_error_handlers(app)

    def upload_limit(path: str, content_type: str) -> int:
        # Only multipart job uploads stream to disk; every other body is read into memory.
        if path.startswith(JOBS_PATH) and content_type.startswith("multipart/"):
            return settings.max_job_upload_bytes
        return settings.max_upload_bytes

    app.add_middleware(BodySizeLimit, limit_for=upload_limit)
    app.include_router(system.health_router)
    app.include_router(management.router)
    app.include_router(models.router)
    app.include_router(model_files.router)
    app.include_router(transcriptions.router)
    app.include_router(speech.router)
    app.include_router(audio_chat.router)
    app.include_router(jobs.router)
    app.include_router(realtime.router)
    mount_console(app)
    return app
