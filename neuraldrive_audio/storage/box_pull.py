"""Copying a model from another installation's API (``models pull --from URL --id ID``).

A worker host that lacks a model fetches it from the main box over the authenticated
model-files route: the listing gives the manifest and every file's size and sha256, each
file downloads into a temporary directory under the store and is checked against both, and
only then does the model enter the store through ``ModelStore.install`` (staging directory,
then rename). A failed or interrupted pull leaves nothing registered and no temp files.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path, PurePosixPath

import httpx
from pydantic import BaseModel

from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.storage.model_store import ModelStore

FILES_PATH = "/v1/audio/model-files"
BLOCK = 1024 * 1024


class ModelFile(BaseModel):
    """One file of a model as the listing describes it."""

    name: str
    size: int
    sha256: str


class ModelListing(BaseModel):
    """What the model-files route answers for one model."""

    manifest: ModelManifest
    files: list[ModelFile]


class BoxPullError(Exception):
    """The model could not be fetched or did not match its listing; nothing was installed."""


def file_digest(path: Path) -> str:
    """sha256 of a file, read block by block."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def listing_of(store: ModelStore, manifest: ModelManifest) -> ModelListing:
    """Blocking: the manifest and every file's size and sha256 (linked files followed)."""
    root = store.path_of(manifest)
    files = [
        ModelFile(name=name, size=(root / name).stat().st_size, sha256=file_digest(root / name))
        for name in manifest.files
    ]
    return ModelListing(manifest=manifest, files=files)


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BoxPullError(f"the listing names an unsafe file path: {name!r}")
    return path


def _download(client: httpx.Client, model_id: str, entry: ModelFile, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    params = {"id": model_id, "file": entry.name}
    with client.stream("GET", f"{FILES_PATH}/content", params=params) as response:
        if response.status_code != 200:
            raise BoxPullError(f"{entry.name}: the box answered {response.status_code}")
        with dest.open("wb") as out:
            for block in response.iter_bytes(BLOCK):
                digest.update(block)
                size += out.write(block)
    if size != entry.size or digest.hexdigest() != entry.sha256:
        raise BoxPullError(
            f"{entry.name}: got {size} bytes with sha256 {digest.hexdigest()[:12]}…, the "
            f"listing says {entry.size} bytes and {entry.sha256[:12]}…; nothing was installed"
        )


def fetch_listing(client: httpx.Client, model_id: str) -> ModelListing:
    """The box's listing of ``model_id`` (BoxPullError if it has no such model)."""
    response = client.get(FILES_PATH, params={"id": model_id})
    if response.status_code != 200:
        raise BoxPullError(f"the box answered {response.status_code}: {response.text[:300]}")
    return ModelListing.model_validate_json(response.content)


def install_from(
    client: httpx.Client, store: ModelStore, listing: ModelListing, source: str, force: bool
) -> ModelManifest:
    """Download every file of ``listing`` into a temp dir, verify, then install atomically."""
    manifest = listing.manifest
    store.check_install(manifest.engine, manifest.id, force=force)
    store.root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".pull-", dir=store.root))
    try:
        files = {}
        for entry in listing.files:
            dest = work / _safe_name(entry.name)
            _download(client, manifest.id, entry, dest)
            files[entry.name] = dest
        fresh = manifest.model_copy(update={"linked_files": {}, "source": source})
        return store.install(files, fresh, force=force)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pull_from_box(
    store: ModelStore, base_url: str, api_key: str | None, model_id: str, *,
    force: bool = False, verify: bool | str = True,
) -> ModelManifest:  # fmt: skip
    """Fetch ``model_id`` from the installation at ``base_url`` into ``store``."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    timeout = httpx.Timeout(30.0, read=300.0)
    with httpx.Client(base_url=base_url, headers=headers, timeout=timeout, verify=verify) as client:
        listing = fetch_listing(client, model_id)
        return install_from(client, store, listing, f"pull:{base_url}", force)
