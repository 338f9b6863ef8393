"""The files of installed models, for worker hosts that fetch what they lack
(``neuraldrive-audio models pull --from URL --id ID``; see storage.box_pull).

- GET /v1/audio/model-files?id=ID                the manifest, each file's size and sha256
- GET /v1/audio/model-files/content?id=ID&file=F one file of it
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from neuraldrive_audio.api.contract.response_bodies import media
from neuraldrive_audio.api.http.auth import ApiKeyRequired
from neuraldrive_audio.api.http.dependencies import CatalogDep
from neuraldrive_audio.api.http.errors import APIError
from neuraldrive_audio.storage.box_pull import FILES_PATH, ModelListing, listing_of
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.storage.model_store import ModelStore

router = APIRouter(prefix=FILES_PATH, tags=["models"], dependencies=[ApiKeyRequired])


def _installed(catalog: ModelCatalog, model_id: str) -> ModelManifest:
    manifest = catalog.find(model_id)
    if manifest is None:
        raise APIError(404, f"No model '{model_id}' is installed.", code="model_not_found",
                       param="id")  # fmt: skip
    return manifest


def _store(request: Request) -> ModelStore:
    return ModelStore(request.app.state.settings.resolved_models_dir)


@router.get("", response_model=ModelListing)
async def model_listing(request: Request, id: str, catalog: CatalogDep) -> ModelListing:
    """The model's manifest and its files' sizes and sha256 (hashed once per install)."""
    manifest = _installed(catalog, id)
    cache: dict[tuple[str, float], ModelListing] | None = getattr(
        request.app.state, "model_listings", None
    )
    if cache is None:
        cache = request.app.state.model_listings = {}
    key = (manifest.id, manifest.installed_at.timestamp())
    if key not in cache:
        cache[key] = await asyncio.to_thread(listing_of, _store(request), manifest)
    return cache[key]


@router.get(
    "/content",
    response_model=None,
    response_class=FileResponse,
    responses=media("application/octet-stream", description="The file's bytes."),
)
async def model_file(request: Request, id: str, file: str, catalog: CatalogDep) -> FileResponse:
    """One file of the model (only the files its manifest lists)."""
    manifest = _installed(catalog, id)
    if file not in manifest.files:
        raise APIError(404, f"Model '{id}' has no file '{file}'.", code="file_not_found",
                       param="file")  # fmt: skip
    path = _store(request).path_of(manifest) / file
    return FileResponse(path.resolve(), media_type="application/octet-stream")
