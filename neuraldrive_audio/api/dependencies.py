"""Objects the routers get injected: settings, the queue, the model catalog."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue.client import JobQueue
from neuraldrive_audio.storage.catalog import ModelCatalog


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _queue(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.queue
    return queue


def _catalog(request: Request) -> ModelCatalog:
    catalog: ModelCatalog = request.app.state.catalog
    return catalog


SettingsDep = Annotated[Settings, Depends(_settings)]
QueueDep = Annotated[JobQueue, Depends(_queue)]
CatalogDep = Annotated[ModelCatalog, Depends(_catalog)]
