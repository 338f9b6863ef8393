"""``neuraldrive-audio models ...``: inspect and change the model store."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import httpx2
from redis.asyncio import Redis
from redis.exceptions import RedisError

from neuraldrive_audio.cli.failures import CommandFailed, ExitCode
from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue import embedded
from neuraldrive_audio.queue.heartbeat import holds, live_workers
from neuraldrive_audio.storage.box_pull import BoxPullError, pull_from_box
from neuraldrive_audio.storage.demo_models import register_demo_models
from neuraldrive_audio.storage.hub import (
    HubPullError,
    detect_engine,
    download_dir,
    pull_model,
    read_voices,
    select_files,
)
from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.storage.model_store import (
    ModelExistsError,
    ModelNotInstalledError,
    ModelStore,
)

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
    store: ModelStore, path: Path, model_id: str | None, engine: str | None, *, force: bool = False
) -> ModelManifest:
    """Copy a model directory into the store with a manifest.

    The files are recognised exactly as ``models pull`` recognises a hub repository's.
    """
    relative = [p.name for p in path.iterdir() if p.is_file()]
    kind = engine or detect_engine(relative)
    files = {name: path / rel for name, rel in select_files(kind, relative).items()}
    manifest = ModelManifest(
        id=path.name if model_id is None else model_id,
        engine=kind,
        files=[],
        bytes_on_disk=0,
        voices=read_voices(kind, files),
        source=f"import:{path.name}",
    )
    return store.install(files, manifest, force=force)


async def workers_holding(redis: Redis, model_id: str) -> list[str]:
    """Ids of the live workers whose heartbeat lists ``model_id`` as loaded."""
    beats = await live_workers(redis)
    return [b.worker_id for b in beats if holds(b, model_id)]


class WorkersUnknownError(Exception):
    """Whether a worker holds the model cannot be found out; removing it needs ``--force``."""


async def remove_model(
    store: ModelStore, model_id: str, *, force: bool, redis: Redis | None
) -> ModelManifest:
    """Delete a model from the store.

    Refuses (ModelInUseError) when a live worker has it loaded, unless ``force``; with
    ``redis`` None no queue exists to ask (the caller established that). ModelNotInstalledError
    for an unknown id.
    """
    store.get(model_id)  # an unknown id fails before the workers are asked
    if not force and redis is not None:
        holders = await workers_holding(redis, model_id)
        if holders:
            raise ModelInUseError(model_id, holders)
    return store.remove(model_id)


def queue_url(settings: Settings) -> tuple[str, str] | None:
    """(URL, where it came from) of the queue the workers of this store use, if any.

    The configured Redis; else the embedded queue a running ``serve`` of this data dir
    announced. None: no Redis is configured and no ``serve`` announced one.
    """
    if settings.redis_url:
        return settings.redis_url, "NEURALDRIVE_AUDIO_REDIS_URL"
    run_dir = settings.data_dir / "run"
    url = embedded.discover(run_dir)
    if url is None:
        return None
    return url, f"the embedded queue of serve ({run_dir / embedded.URL_FILE})"


async def _connect(url: str) -> Redis:
    redis: Redis = Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
    )
    try:
        await redis.ping()
    except BaseException:
        await redis.aclose()
        raise
    return redis


async def _queue_to_ask(settings: Settings) -> Redis | None:
    """A live connection to the workers' queue; None when there is provably no queue."""
    found = queue_url(settings)
    if found is None:
        return None
    url, source = found
    try:
        return await _connect(url)
    except (RedisError, OSError) as exc:
        if source != "NEURALDRIVE_AUDIO_REDIS_URL" and _refused(exc):
            # The announced embedded queue is gone: its serve was killed before it could
            # withdraw the file, so no worker of it is alive.
            print(f"note: the serve that announced {url} is no longer running", file=sys.stderr)
            return None
        raise WorkersUnknownError(
            f"cannot ask the workers whether they hold the model: Redis at {url} ({source}) "
            f"is unreachable ({exc}); start the service, or pass --force to remove it anyway"
        ) from exc


def _refused(exc: BaseException) -> bool:
    """Nobody listens at the address (as opposed to a timeout or an auth failure)."""
    text = str(exc)
    return isinstance(exc, ConnectionRefusedError | FileNotFoundError) or any(
        reason in text for reason in ("Connection refused", "No such file or directory")
    )


async def _remove(store: ModelStore, model_id: str, force: bool, settings: Settings) -> None:
    store.get(model_id)  # an unknown id is reported before any queue is looked for
    redis = None if force else await _queue_to_ask(settings)
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
    manifest = import_model(store, Path(args.path), args.id, args.engine, force=args.force)
    print(f"imported {manifest.id} ({manifest.engine}) into {store.path_of(manifest)}")


def _pull_from_box(store: ModelStore, args: argparse.Namespace, settings: Settings) -> None:
    model_id = args.id or args.repo_id
    if not model_id:
        raise CommandFailed("models pull --from needs the model's id (--id ID)")
    try:
        manifest = pull_from_box(
            store, args.source, settings.resolve_api_key(), model_id, force=args.force,
            verify=args.ca_file or True,
        )  # fmt: skip
    except httpx.HTTPError as exc:
        raise CommandFailed(f"{args.source}: {exc}; nothing was installed") from exc
    size = manifest.bytes_on_disk / 1e6
    print(f"pulled {manifest.id} ({manifest.engine}, {size:.1f} MB, verified) from {args.source}")


def _pull(store: ModelStore, args: argparse.Namespace, settings: Settings) -> None:
    if args.source:
        _pull_from_box(store, args, settings)
        return
    if not args.repo_id:
        raise CommandFailed("models pull needs a hub repository (or --from URL --id ID)")
    try:
        manifest = pull_model(
            store, args.repo_id, revision=args.revision, engine=args.engine, model_id=args.id,
            force=args.force,
        )  # fmt: skip
    except (httpx2.HTTPError, OSError) as exc:  # huggingface_hub 2.x speaks httpx2
        kept = download_dir(store, args.repo_id)
        resume = (
            f"\nthe partial download in {kept} resumes on the next pull" if kept.exists() else ""
        )
        raise CommandFailed(f"{exc}{resume}") from exc
    size = manifest.bytes_on_disk / 1e6
    where = store.path_of(manifest)
    print(f"pulled {manifest.id} ({manifest.engine}, {size:.1f} MB) into {where}")


def _demo(store: ModelStore, args: argparse.Namespace, settings: Settings) -> None:
    registered = register_demo_models(store)
    if not store.list():
        raise CommandFailed("no demo model found: install the [demo] extra")
    print(f"registered: {', '.join(registered) or 'nothing new'}; the store {store.root} holds "
          f"{', '.join(m.id for m in store.list())}")  # fmt: skip


def _remove_command(store: ModelStore, args: argparse.Namespace, settings: Settings) -> None:
    asyncio.run(_remove(store, args.model_id, args.force, settings))


_COMMANDS: dict[str, Callable[[ModelStore, argparse.Namespace, Settings], None]] = {
    "list": _list,
    "import": _import,
    "pull": _pull,
    "remove": _remove_command,
    "demo": _demo,
}


def run(args: argparse.Namespace, settings: Settings) -> None:
    """Dispatch a ``models`` subcommand."""
    store = ModelStore(settings.resolved_models_dir)
    try:
        _COMMANDS[args.models_command](store, args, settings)
    except ModelNotInstalledError as exc:
        installed = ", ".join(m.id for m in store.list()) or "none (serve --demo registers some)"
        raise CommandFailed(
            f"no model {exc} is installed in {store.root}; installed: {installed}",
            ExitCode.NOT_FOUND,
        ) from exc
    except (
        HubPullError,
        BoxPullError,
        ModelInUseError,
        ModelExistsError,
        WorkersUnknownError,
        ValueError,
    ) as exc:
        raise CommandFailed(str(exc)) from exc
