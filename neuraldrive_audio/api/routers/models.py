"""GET /v1/models and /v1/models/{id} (OpenAI contract; ids may contain '/')."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter

from neuraldrive_audio.api.auth import ApiKeyRequired
from neuraldrive_audio.api.dependencies import CatalogDep, SettingsDep
from neuraldrive_audio.api.response_bodies import Model, ModelList
from neuraldrive_audio.service.names import alias_names, alias_target, installed_model
from neuraldrive_audio.storage.manifest import ModelManifest

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[ApiKeyRequired])

OWNER = "neuraldrive"


def _model_object(model_id: str, manifest: ModelManifest) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": int(manifest.installed_at.timestamp()),
        "owned_by": OWNER,
    }


@router.get("", response_model=ModelList)
async def list_models(catalog: CatalogDep, settings: SettingsDep) -> dict[str, Any]:
    """Installed models, then the OpenAI model names whose target is installed."""
    data = [_model_object(m.id, m) for m in catalog.all()]
    installed = {m.id for m in catalog.all()}
    for alias in alias_names(settings):
        target = catalog.find(alias_target(alias, settings) or "")
        if target is not None and alias not in installed:
            data.append(_model_object(alias, target))
    return {"object": "list", "data": data}


@router.get("/{model_id:path}", response_model=Model)
async def retrieve_model(
    model_id: str, catalog: CatalogDep, settings: SettingsDep
) -> dict[str, Any]:
    """One model; the id may arrive with '/' percent-encoded."""
    model_id = unquote(model_id)
    return _model_object(model_id, installed_model(model_id, catalog, settings))
