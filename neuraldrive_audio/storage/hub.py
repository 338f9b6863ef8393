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
import json
import shutil
from collections.abc import Collection, Mapping
from pathlib import Path, PurePosixPath

import numpy as np
from huggingface_hub import HfApi, hf_hub_url
from huggingface_hub.file_download import http_get
from huggingface_hub.hf_api import RepoSibling
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # lazy __all__

from neuraldrive_audio.storage.manifest import MANIFEST_NAME, EngineKind, ModelManifest
from neuraldrive_audio.storage.model_store import ModelExistsError, ModelStore

DOWNLOADS_DIR = ".downloads"
PART_SUFFIX = ".part"
COMMIT_FILE = ".commit"
# Repository files a whisper model never needs (the store writes its own manifest).
_NOT_MODEL_FILES = (".gitattributes", MANIFEST_NAME)


class HubPullError(Exception):
    """The repository cannot be pulled as a model of a supported engine."""


def detect_engine(paths: Collection[str]) -> EngineKind:
    """Tell the engine from a repository's file paths (``/``-separated, relative)."""
    root = {p for p in paths if "/" not in p}
    has_vocab = "tokenizer.json" in root or any(n.startswith("vocabulary.") for n in root)
    if {"model.bin", "config.json"} <= root and has_vocab:
        return EngineKind.WHISPER
    if _piper_voices(paths):
        return EngineKind.PIPER
    if any(p.endswith(".onnx") for p in paths) and (
        any(p.endswith(".npz") for p in paths) or _packed_voices(paths)
    ):
        return EngineKind.KOKORO
    raise HubPullError("cannot tell the engine from the repository's files; pass --engine")


def select_files(engine: EngineKind, paths: Collection[str]) -> dict[str, str]:
    """Map the store's file names for ``engine`` to the repository paths to download."""
    if engine is EngineKind.PIPER:
        onnx = _single(_piper_voices(paths), "Piper voice (*.onnx with its *.onnx.json)")
        return {"model.onnx": onnx, "model.onnx.json": f"{onnx}.json"}
    if engine is EngineKind.KOKORO:
        return _kokoro_files(paths)
    return _whisper_files(paths)


def read_voices(engine: EngineKind, files: Mapping[str, Path]) -> list[str]:
    """Voices of a model, from its files keyed by store name (shared with ``models import``)."""
    if engine is EngineKind.PIPER:
        config = files["model.onnx.json"]
        speakers = json.loads(config.read_text()).get("speaker_id_map") or {}
        # A single-speaker Piper model has one voice: the name of its files.
        return sorted(speakers) or [config.name.removesuffix(".onnx.json")]
    if engine is EngineKind.KOKORO:
        with np.load(files["voices.npz"]) as voices:
            return sorted(voices.files)
    return []


def download_dir(store: ModelStore, repo_id: str) -> Path:
    """Where a pull of ``repo_id`` keeps its files until the model is installed."""
    return store.root / DOWNLOADS_DIR / repo_id.replace("/", "--")


def pull_model(
    store: ModelStore,
    repo_id: str,
    *,
    revision: str | None = None,
    engine: EngineKind | None = None,
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


def _check_id(store: ModelStore, engine: EngineKind, model_id: str, force: bool) -> None:
    """Reject an id the store cannot hold (or would replace without ``force``) before
    anything is downloaded."""
    try:
        store.check_install(engine, model_id, force=force)
    except (ValueError, ModelExistsError) as exc:
        raise HubPullError(str(exc)) from exc


def _piper_voices(paths: Collection[str]) -> list[str]:
    return sorted(p for p in paths if p.endswith(".onnx") and f"{p}.json" in paths)


def _packed_voices(paths: Collection[str]) -> list[str]:
    """Kokoro voices shipped one file per voice (``voices/*.bin`` or ``*.pt``)."""
    return [p for p in paths if p.startswith("voices/") and p.endswith((".bin", ".pt"))]


def _kokoro_files(paths: Collection[str]) -> dict[str, str]:
    npz = [p for p in paths if p.endswith(".npz")]
    if not npz and _packed_voices(paths):
        raise HubPullError(
            "this Kokoro repository ships its voices as voices/*.bin or *.pt; only a single "
            "voices .npz archive (the kokoro-onnx format) is supported. Build one and use "
            "`models import`."
        )
    onnx = _single([p for p in paths if p.endswith(".onnx")], "ONNX model (*.onnx)")
    return {"model.onnx": onnx, "voices.npz": _single(npz, "voices archive (*.npz)")}


def _whisper_files(paths: Collection[str]) -> dict[str, str]:
    # CTranslate2 whisper repos are flat; faster-whisper reads every file at the root
    # (model, config, tokenizer, vocabulary, and preprocessor_config for large-v3).
    root = [p for p in paths if "/" not in p]
    files = [p for p in root if p not in _NOT_MODEL_FILES and not p.endswith(".md")]
    if "model.bin" not in files:
        raise HubPullError("no model.bin at the repository root: not a CTranslate2 whisper model")
    return {p: p for p in files}


def _single(candidates: list[str], what: str) -> str:
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise HubPullError(f"no {what} in the repository")
    shown = ", ".join(candidates[:5]) + (", …" if len(candidates) > 5 else "")
    raise HubPullError(f"the repository has {len(candidates)} of {what}: {shown}; expected one")


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
