"""``neuraldrive-audio models ...``: inspect and change the model store."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import httpx2
from redis.asyncio import Redis
from redis.exceptions import RedisError

from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue.heartbeat import holds, live_workers
from neuraldrive_audio.storage.hub import (
    HubPullError,
    detect_engine,
    download_dir,
    pull_model,
    read_voices,
    select_files,
)
from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.storage.model_store import ModelNotInstalledError, ModelStore

REDIS_TIMEOUT_S = 2.0


class ModelInUseError(Exception):
    """The model is loaded on live workers; removing it needs ``--force``."""

    def __init__(self, model_id: str, workers: list[str]) -> None:
        super().__init__(
            f"{model_id} is loaded on worker(s) {', '.join(workers)}; "
            "unload it first or pass --force"
        )
        self.workers = workers


def import_model(
    store: ModelStore, path: Path, model_id: str | None, engine: str | None
) -> ModelManifest:
    """Copy a model directory into the store with a manifest.

    The files are recognised exactly as ``models pull`` recognises a hub repository's.
    """
    relative = [p.name for p in path.iterdir() if p.is_file()]
    kind = engine or detect_engine(relative)
    files = {name: path / rel for name, rel in select_files(kind, relative).items()}
    manifest = ModelManifest(
        id=model_id or path.name,
        engine=kind,
        files=[],
        bytes_on_disk=0,
        voices=read_voices(kind, files),
        source=f"import:{path.name}",
    )
    return store.install(files, manifest)


async def workers_holding(redis: Redis, model_id: str) -> list[str]:
    """Ids of the live workers whose heartbeat lists ``model_id`` as loaded."""
    beats = await live_workers(redis)
    return [b.worker_id for b in beats if holds(b, model_id)]


async def remove_model(
    store: ModelStore, model_id: str, *, force: bool, redis: Redis | None
) -> ModelManifest:
    """Delete a model from the store.

    Refuses (ModelInUseError) when a live worker has it loaded, unless ``force``; with
    ``redis`` None nobody is asked. ModelNotInstalledError for an unknown id.
    """
    store.get(model_id)  # an unknown id fails before the workers are asked
    if not force and redis is not None:
        holders = await workers_holding(redis, model_id)
        if holders:
            raise ModelInUseError(model_id, holders)
    return store.remove(model_id)


async def _reachable_redis(url: str | None) -> Redis | None:
    """A client for ``url``, or None with a note when none is configured or it is down."""
    if not url:
        _note("no Redis URL is configured")
        return None
    redis: Redis = Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
    )
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        await redis.aclose()
        _note(f"Redis at {url} is unreachable ({exc})")
        return None
    return redis


def _note(reason: str) -> None:
    print(f"note: {reason}; cannot see which models workers have loaded", file=sys.stderr)


async def _remove(store: ModelStore, model_id: str, force: bool, redis_url: str | None) -> None:
    store.get(model_id)  # an unknown id is reported without a note about Redis
    redis = None if force else await _reachable_redis(redis_url)
    try:
        manifest = await remove_model(store, model_id, force=force, redis=redis)
    finally:
        if redis is not None:
            await redis.aclose()
    print(f"removed {manifest.id} ({manifest.engine})")


def _list(store: ModelStore, args: argparse.Namespace, settings: Settings) -> None:
    for m in store.list():
        size = m.bytes_on_disk / 1e6
        print(f"{m.id:40} {m.engine:8} {size:8.1f} MB  {','.join(m.voices[:5])}")


def _import(store: ModelStore, args: argparse.Namespace, settings: Settings) -> None:
    manifest = import_model(store, Path(args.path), args.id, args.engine)
    print(f"imported {manifest.id} ({manifest.engine}) into {store.path_of(manifest)}")


def _pull(store: ModelStore, args: argparse.Namespace, settings: Settings) -> None:
    try:
        manifest = pull_model(
            store, args.repo_id, revision=args.revision, engine=args.engine, model_id=args.id
        )
    except (httpx2.HTTPError, OSError) as exc:  # huggingface_hub 2.x speaks httpx2
        kept = download_dir(store, args.repo_id)
        resume = (
            f"\nthe partial download in {kept} resumes on the next pull" if kept.exists() else ""
        )
        sys.exit(f"error: {exc}{resume}")
    size = manifest.bytes_on_disk / 1e6
    where = store.path_of(manifest)
    print(f"pulled {manifest.id} ({manifest.engine}, {size:.1f} MB) into {where}")


def _remove_command(store: ModelStore, args: argparse.Namespace, settings: Settings) -> None:
    asyncio.run(_remove(store, args.model_id, args.force, settings.redis_url))


_COMMANDS: dict[str, Callable[[ModelStore, argparse.Namespace, Settings], None]] = {
    "list": _list,
    "import": _import,
    "pull": _pull,
    "remove": _remove_command,
}


def run(args: argparse.Namespace, settings: Settings) -> None:
    """Dispatch a ``models`` subcommand."""
    store = ModelStore(settings.resolved_models_dir)
    try:
        _COMMANDS[args.models_command](store, args, settings)
    except ModelNotInstalledError as exc:
        sys.exit(f"error: no model {exc} is installed")
    except (HubPullError, ModelInUseError) as exc:
        sys.exit(f"error: {exc}")
