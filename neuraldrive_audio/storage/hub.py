"""Pulling a model repository from the Hugging Face hub into the store (``models pull``).

Files download into ``<models_dir>/.downloads/<repo>/``, a directory that stays put
between runs: a re-run after an interruption keeps the files already complete and resumes
a partial one with an HTTP Range request. Only when every file is there and verified does
the model enter the store through ``ModelStore.install`` (staging directory, then rename),
after which the download directory is removed.

huggingface_hub 2.x deletes a partial file when ``hf_hub_download`` fails, so its own cache
cannot resume across runs; it is used here for the repo listing (``HfApi.model_info``) and
for the transfer loop (``http_get``: retries, Range, size check), not for file placement.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Collection, Mapping
from pathlib import Path, PurePosixPath

from huggingface_hub import HfApi, hf_hub_url
from huggingface_hub.file_download import http_get
from huggingface_hub.hf_api import RepoSibling
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # lazy __all__

from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.plugin import ModelFilesError
from neuraldrive_audio.engines.registry import UnknownEngineError
from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.storage.model_store import ModelExistsError, ModelStore

DOWNLOADS_DIR = ".downloads"
PART_SUFFIX = ".part"
COMMIT_FILE = ".commit"


class HubPullError(Exception):
    """The repository cannot be pulled as a model of a registered engine."""


def detect_engine(paths: Collection[str]) -> str:
    """The name of the engine whose files these are (``/``-separated, relative paths)."""
    try:
        return registry.recognise(paths).name
    except ModelFilesError as exc:
        raise HubPullError(str(exc)) from exc


def select_files(engine: str, paths: Collection[str]) -> dict[str, str]:
    """Map the store's file names for ``engine`` to the repository paths to download."""
    try:
        return registry.get(engine).select_files(paths)
    except (ModelFilesError, UnknownEngineError) as exc:
        raise HubPullError(str(exc)) from exc


def read_voices(engine: str, files: Mapping[str, Path]) -> list[str]:
    """Voices of a model, from its files keyed by store name (shared with ``models import``)."""
    return registry.get(engine).read_voices(files)


def download_dir(store: ModelStore, repo_id: str) -> Path:
    """Where a pull of ``repo_id`` keeps its files until the model is installed."""
    return store.root / DOWNLOADS_DIR / repo_id.replace("/", "--")


def pull_model(
    store: ModelStore,
    repo_id: str,
    *,
    revision: str | None = None,
    engine: str | None = None,
    model_id: str | None = None,
    endpoint: str | None = None,
    force: bool = False,
) -> ModelManifest:
    """Download ``repo_id`` at ``revision`` (default branch if None) and install it.

    ``endpoint`` overrides the hub URL (default: ``HF_ENDPOINT`` or huggingface.co).
    Raises HubPullError for a bad id or a repository no engine can use, and
    ``httpx2.HTTPError`` (huggingface_hub's HfHubHTTPError, connection errors) or OSError
    when the download fails; the partial download is then kept for the next run.
    """
    info = HfApi(endpoint=endpoint).model_info(repo_id, revision=revision, files_metadata=True)
    remote = {sibling.rfilename: sibling for sibling in info.siblings or []}
    kind = engine or detect_engine(remote)
    layout = select_files(kind, remote)
    target_id = repo_id if model_id is None else model_id
    _check_id(store, kind, target_id, force)
    work = _prepare_download_dir(download_dir(store, repo_id), info.sha)
    for path in layout.values():
        url = hf_hub_url(repo_id, path, revision=info.sha, endpoint=endpoint)
        _download(url, remote[path], work / path)
    files = {name: work / path for name, path in layout.items()}
    manifest = ModelManifest(
        id=target_id,
        engine=kind,
        files=[],
        bytes_on_disk=0,
        voices=read_voices(kind, files),
        source=f"hf:{repo_id}@{info.sha}",
    )
    installed = store.install(files, manifest, force=force)
    shutil.rmtree(work)
    return installed


def _check_id(store: ModelStore, engine: str, model_id: str, force: bool) -> None:
    """Reject an id the store cannot hold (or would replace without ``force``) before
    anything is downloaded."""
    try:
        store.check_install(engine, model_id, force=force)
    except (ValueError, ModelExistsError) as exc:
        raise HubPullError(str(exc)) from exc


def _prepare_download_dir(work: Path, commit: str | None) -> Path:
    """Reuse ``work`` if it holds files of ``commit``; start it afresh otherwise."""
    marker = work / COMMIT_FILE
    if work.exists() and (not marker.is_file() or marker.read_text() != commit):
        # Partial files of another commit would be resumed into a corrupt mix.
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    marker.write_text(commit or "")
    return work


def _download(url: str, remote: RepoSibling, dest: Path) -> None:
    """Fetch one file to ``dest``, resuming ``dest.part`` if an earlier run left one."""
    if dest.is_file():
        return  # completed (and verified) by an earlier run
    part = dest.with_name(dest.name + PART_SUFFIX)
    part.parent.mkdir(parents=True, exist_ok=True)
    done = part.stat().st_size if part.exists() else 0
    if remote.size is not None and done > remote.size:
        part.unlink()
        done = 0
    with part.open("ab") as out:
        http_get(
            url,
            out,
            resume_size=done,
            headers=build_hf_headers(),
            expected_size=remote.size,
            displayed_filename=PurePosixPath(remote.rfilename).name,
        )
    _verify(part, remote)
    part.rename(dest)


def _verify(part: Path, remote: RepoSibling) -> None:
    """Check an LFS file against the hub's sha256; a mismatch discards the partial file."""
    if remote.lfs is None:
        return  # small git-stored files: http_get already checked the size
    with part.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if digest != remote.lfs.sha256:
        part.unlink()
        raise HubPullError(f"{remote.rfilename}: sha256 mismatch after download; run pull again")
