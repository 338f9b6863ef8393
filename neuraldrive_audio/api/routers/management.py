"""Model management and status: an APIRouter our API serves and NeuralDrive's System API
can ``include_router`` (it brings no state of its own; see api.http.dependencies).

- GET  /v1/audio/models                 installed models and where each is loaded
- POST /v1/audio/models/{id}/load       {"worker_id"?, "device"?, "pin"?}
- POST /v1/audio/models/{id}/unload     {"worker_id"?}
- GET  /system/audio/status             workers, queue, jobs, latency, real-time factors
- GET  /metrics                         the same for Prometheus
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from neuraldrive_audio.api.contract.response_bodies import (
    AudioModelList,
    ModelLoaded,
    ModelUnloaded,
    ServiceStatus,
    media,
)
from neuraldrive_audio.api.http.auth import ApiKeyRequired
from neuraldrive_audio.api.http.dependencies import CatalogDep, QueueDep, SettingsDep
from neuraldrive_audio.api.http.errors import APIError, http_error
from neuraldrive_audio.api.observability.metrics import exposition, take_snapshot
from neuraldrive_audio.api.observability.status_report import build_status
from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue import control, heartbeat
from neuraldrive_audio.queue.client import JobQueue
from neuraldrive_audio.queue.control import ControlAction, ControlCommand, ControlTimeoutError
from neuraldrive_audio.queue.heartbeat import WorkerHeartbeat
from neuraldrive_audio.service.errors import ServiceError
from neuraldrive_audio.service.names import installed_model, speech_model_names
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.manifest import ModelManifest

router = APIRouter(tags=["management"], dependencies=[ApiKeyRequired])

CONTROL_TIMEOUT_S = 120


class LoadRequest(BaseModel):
    """Where to load a model and whether to pin it (pinned models are never evicted)."""

    worker_id: str | None = None
    device: str | None = None
    pin: bool | None = None


class UnloadRequest(BaseModel):
    """Which worker to unload from; all that hold the model when omitted."""

    worker_id: str | None = None


def _model_entry(manifest: ModelManifest, workers: list[WorkerHeartbeat]) -> dict[str, Any]:
    loaded_on = [
        {"worker_id": w.worker_id, "device": w.device, "pinned": m.pinned, "bytes": m.bytes}
        for w in workers
        for m in w.loaded_models
        if m.id == manifest.id
    ]
    return {**manifest.model_dump(mode="json"), "object": "model", "loaded_on": loaded_on}


def _installed(name: str, catalog: ModelCatalog, settings: Settings) -> ModelManifest:
    # As an APIError, so an app without our handlers (NeuralDrive's System API) answers 404.
    try:
        return installed_model(name, catalog, settings)
    except ServiceError as exc:
        raise http_error(exc) from exc


def _pick_worker(workers: list[WorkerHeartbeat], model_id: str, wanted: LoadRequest) -> str:
    """The requested worker; else one already holding the model; else the one with most room."""
    candidates = [
        w
        for w in workers
        if (wanted.worker_id is None or w.worker_id == wanted.worker_id)
        and (wanted.device is None or w.device == wanted.device)
    ]
    if not candidates:
        target = wanted.worker_id or wanted.device or "any"
        raise APIError(404, f"No live worker matches {target!r}.", code="worker_not_found",
                       param="worker_id")  # fmt: skip
    holders = [w for w in candidates if heartbeat.holds(w, model_id)]
    best = max(holders or candidates, key=lambda w: w.budget_bytes - w.used_bytes)
    return best.worker_id


async def _command(queue: JobQueue, worker_id: str, command: ControlCommand) -> dict[str, Any]:
    try:
        reply = await control.send(queue.redis, worker_id, command, CONTROL_TIMEOUT_S)
    except ControlTimeoutError as exc:
        raise APIError(503, str(exc), code="worker_timeout") from exc
    if not reply.ok:
        raise APIError(reply.status, reply.message, code=reply.code, param="model")
    return {
        "model": command.model,
        **reply.model_dump(include={"worker_id", "loaded", "pinned", "bytes"}),
    }


@router.get("/v1/audio/models", response_model=AudioModelList)
async def list_audio_models(
    queue: QueueDep, catalog: CatalogDep, settings: SettingsDep
) -> dict[str, Any]:
    """Installed audio models with engine, size, languages, voices and where each is loaded.

    ``models`` (``[{"id"}]``) is what Open WebUI's text-to-speech model dropdown reads:
    the installed text-to-speech models and the OpenAI names that reach one.
    """
    workers = await heartbeat.live_workers(queue.redis)
    return {
        "object": "list",
        "data": [_model_entry(m, workers) for m in catalog.all()],
        "models": [{"id": model_id} for model_id in speech_model_names(catalog, settings)],
    }


@router.post("/v1/audio/models/{name:path}/load", response_model=ModelLoaded)
async def load_model(
    name: str,
    queue: QueueDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    body: Annotated[LoadRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Load (and optionally pin or unpin) a model on a worker; returns when it is resident."""
    request = body or LoadRequest()
    manifest = _installed(name, catalog, settings)
    workers = await heartbeat.live_workers(queue.redis)
    worker_id = _pick_worker(workers, manifest.id, request)
    command = ControlCommand(action=ControlAction.LOAD, model=manifest.id, pin=request.pin)
    return await _command(queue, worker_id, command)


@router.post("/v1/audio/models/{name:path}/unload", response_model=ModelUnloaded)
async def unload_model(
    name: str,
    queue: QueueDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    body: Annotated[UnloadRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Unload a model from one worker, or from every worker holding it."""
    request = body or UnloadRequest()
    manifest = _installed(name, catalog, settings)
    workers = await heartbeat.live_workers(queue.redis)
    holders = [
        w.worker_id
        for w in workers
        if heartbeat.holds(w, manifest.id) and request.worker_id in (None, w.worker_id)
    ]
    if not holders:
        raise APIError(404, f"Model {manifest.id} is not loaded on any matching worker.",
                       code="model_not_loaded", param="model")  # fmt: skip
    results = [
        await _command(
            queue, worker_id, ControlCommand(action=ControlAction.UNLOAD, model=manifest.id)
        )
        for worker_id in holders
    ]
    return {"model": manifest.id, "unloaded_from": [r["worker_id"] for r in results]}


def _realtime_figures(request: Request) -> dict[str, Any] | None:
    # Only our own app serves live sessions; an app including this router has none.
    registry = getattr(request.app.state, "realtime", None)
    return None if registry is None else registry.figures()  # type: ignore[no-any-return]


@router.get("/system/audio/status", response_model=ServiceStatus, response_model_exclude_unset=True)
async def status(request: Request, queue: QueueDep) -> dict[str, Any]:
    """Every live worker, queue depths, jobs in progress, latency, real-time factors and
    live (realtime) sessions."""
    cap = request.app.state.settings.job_inflight_bytes_max
    return await build_status(queue, _realtime_figures(request), cap)


@router.get(
    "/metrics",
    response_class=Response,
    responses=media("text/plain", description="Prometheus text exposition."),
)
async def metrics(request: Request, queue: QueueDep) -> Response:
    """Prometheus text exposition of the status figures and histograms."""
    body = exposition(await take_snapshot(queue, _realtime_figures(request)))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
