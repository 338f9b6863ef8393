"""Chaos: bombs, crash loops, Redis outages, floods, hostile webhooks, careless imports.

Every test runs the real API and real worker processes against a real redis-server of
this module (so it can be stopped and restarted without disturbing other tests).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import psutil
import pytest

from neuraldrive_audio.engines import piper
from neuraldrive_audio.storage.model_store import ModelStore, check_model_id
from tests import speech_clips
from tests.harness import API_KEY, RedisServer, Service, free_port
from tests.speech_clips import SENTENCES, make_clip

pytestmark = pytest.mark.chaos

BOMB_HOURS = 1.0
"""The issue's bomb is 10 h; 1 h of it takes ~4 s to make, is over the sync limit (30 min)
and the job limit the refusal test sets (30 min), and decodes to 230 MB of float32
(3600 s * 16 kHz * 4 B), more than any memory bound below, so each still discriminates."""


@pytest.fixture(scope="module")
def chaos_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path_factory.mktemp("chaos-redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Opus silence: ~1 MB per hour of audio, 230 MB per hour once decoded to float32."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.ogg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono",
         "-t", str(int(BOMB_HOURS * 3600)), "-c:a", "libopus", "-b:a", "6k",
         "-frame_duration", "60", "-compression_level", "0", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


@pytest.fixture(scope="module")
def long_clip() -> bytes:
    """About 73 s of speech: a few seconds of work for whisper tiny on two cores, long
    enough to break things while it runs; one job chunk at the default chunk settings."""
    return speech_clips.long_clip(3)[0]


_db_counter = iter(range(1, 16))


def _start(
    chaos_redis: RedisServer, models_dir: Path, tmp_path: Path, workers: int = 1, **overrides: Any
) -> Service:
    """A service on a fresh database of the module's Redis."""
    return Service.start(f"{chaos_redis.url}/{next(_db_counter)}", tmp_path, models_dir,
                         workers=workers, **{k: str(v) for k, v in overrides.items()})  # fmt: skip


class RssSampler:
    """Samples the resident memory of processes in a thread; ``peak`` per pid."""

    def __init__(self, processes: list[subprocess.Popen[bytes]]) -> None:
        self.procs = [psutil.Process(p.pid) for p in processes]
        self.baseline = {p.pid: p.memory_info().rss for p in self.procs}
        self.peak = dict(self.baseline)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for proc in self.procs:
                try:
                    self.peak[proc.pid] = max(self.peak[proc.pid], proc.memory_info().rss)
                except psutil.NoSuchProcess:
                    continue

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def growth_mb(self) -> float:
        """Largest peak-minus-baseline over the sampled processes, in MB."""
        return max(self.peak[pid] - self.baseline[pid] for pid in self.peak) / 1e6


def _wait_for(predicate: Callable[[], bool], timeout_s: float, every_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return False


def _job(svc: Service, job_id: str) -> dict[str, Any]:
    with svc.http() as http:
        body: dict[str, Any] = http.get(f"/v1/audio/jobs/{job_id}").json()
        return body


def _wait_job(svc: Service, job_id: str, timeout_s: float = 120) -> dict[str, Any]:
    final: dict[str, Any] = {}

    def ended() -> bool:
        final.update(_job(svc, job_id))
        return final["status"] in ("completed", "failed", "cancelled")

    assert _wait_for(ended, timeout_s, 0.3), f"job {job_id} did not end: {final}"
    return final


def _post_audio(http: httpx.Client, path: str, audio: bytes) -> httpx.Response:
    return http.post(path, files={"file": ("a.ogg", audio)}, data={"model": "whisper-1"})


# 1. Decompression bombs ------------------------------------------------------------------


def test_bomb_sync_is_refused_while_decoding(
    chaos_redis: RedisServer, models_dir: Path, tmp_path: Path, bomb: bytes
) -> None:
    svc = _start(chaos_redis, models_dir, tmp_path)  # default limit: 30 min
    try:
        with RssSampler([svc.api, *svc.workers]) as rss, svc.http() as http:
            started = time.monotonic()
            response = _post_audio(http, "/v1/audio/transcriptions", bomb)
            took = time.monotonic() - started
        print(f"\nsync bomb ({BOMB_HOURS:g} h, {len(bomb) / 1e6:.1f} MB): {response.status_code} "
              f"in {took:.1f} s, RSS peak (API, workers) +{rss.growth_mb():.0f} MB")  # fmt: skip
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "audio_too_long" and error["param"] == "file"
        assert "30 minutes" in error["message"]
        # Measured ~80 MB: 30 min of int16 is 58 MB. Decoding the whole hour to float32
        # would hold 230 MB (3600 s * 16 kHz * 4 B), over the bound by itself.
        assert rss.growth_mb() < 150
        assert all(w.poll() is None for w in svc.workers)
    finally:
        svc.stop()


def test_bomb_job_is_refused_while_planning(
    chaos_redis: RedisServer, models_dir: Path, tmp_path: Path, bomb: bytes
) -> None:
    svc = _start(chaos_redis, models_dir, tmp_path, max_job_audio_duration_s=1800)  # < bomb
    try:
        with RssSampler([svc.api, *svc.workers]) as rss, svc.http() as http:
            response = _post_audio(http, "/v1/audio/jobs", bomb)
            assert response.status_code == 202, response.text
            job = _wait_job(svc, response.json()["id"])
        print(f"\njob bomb: {job['status']}, RSS peak (API, workers) +{rss.growth_mb():.0f} MB")
        assert job["status"] == "failed"
        assert job["error"]["code"] == "audio_too_long"
        assert "30 minutes" in job["error"]["message"]
        # Planning streams to disk: one block in memory (measured ~20 MB), not the half
        # hour decoded so far (115 MB as float32: 1800 s * 16 kHz * 4 B).
        assert rss.growth_mb() < 75
        assert all(w.poll() is None for w in svc.workers)
    finally:
        svc.stop()


def test_long_job_plans_in_bounded_memory(
    chaos_redis: RedisServer, models_dir: Path, tmp_path: Path, bomb: bytes
) -> None:
    """Within the job limit, the whole 1 h file is decoded and planned, memory flat."""
    svc = _start(chaos_redis, models_dir, tmp_path)
    try:
        with RssSampler([svc.api, *svc.workers]) as rss, svc.http() as http:
            response = _post_audio(http, "/v1/audio/jobs", bomb)
            assert response.status_code == 202, response.text
            job = _wait_job(svc, response.json()["id"], timeout_s=300)
        print(f"\n{BOMB_HOURS:g} h job: {job['status']} (duration {job['input_duration']} s), "
              f"RSS peak (API, workers) +{rss.growth_mb():.0f} MB")  # fmt: skip
        assert job["status"] == "completed", job
        assert job["input_duration"] == pytest.approx(BOMB_HOURS * 3600, abs=1)
        # Measured ~115 MB (the VAD and one window). Whole-file decoding would add the hour
        # as float32 (230 MB: 3600 s * 16 kHz * 4 B) plus its int16 copy (115 MB) on top,
        # and the float32 alone is over the bound.
        assert rss.growth_mb() < 200
    finally:
        svc.stop()


# 2. Poison jobs ---------------------------------------------------------------------------


class _InFlight:
    """A sync transcription sent from a background thread, so a test can break things
    (Redis, its worker) while it runs."""

    def __init__(self, svc: Service, clip: bytes) -> None:
        self._outcome: dict[str, httpx.Response] = {}

        def send() -> None:
            with svc.http() as http:
                self._outcome["response"] = _post_audio(http, "/v1/audio/transcriptions", clip)

        self._thread = threading.Thread(target=send)
        self._thread.start()

    def response(self, timeout_s: float, hung: str) -> httpx.Response:
        """The answer, once it came (failing with ``hung`` if not within ``timeout_s``)."""
        self._thread.join(timeout=timeout_s)
        assert not self._thread.is_alive(), hung
        return self._outcome["response"]


def _busy(svc: Service) -> bool:
    """A worker process still running is busy (a killed one's heartbeat lingers a while)."""
    pids = {w.pid for w in svc.workers if w.poll() is None}
    return any(w["jobs_in_progress"] for w in svc.status()["workers"] if w["pid"] in pids)


def test_poison_job_fails_after_max_attempts(
    chaos_redis: RedisServer, models_dir: Path, tmp_path: Path, long_clip: bytes
) -> None:
    """Every attempt at a chunk kills its worker (SIGKILL while it runs, as the out-of-memory
    killer did); after three attempts at one chunk the job fails and no worker picks it up
    again. (The API plans jobs since chunks travel through Redis, so the poison is a chunk.)"""
    svc = _start(chaos_redis, models_dir, tmp_path, job_max_tries=3,
                 worker_heartbeat_ttl_s=2, janitor_interval_s=0.5)  # fmt: skip
    try:
        with svc.http() as http:
            response = _post_audio(http, "/v1/audio/jobs", long_clip)
        job_id = response.json()["id"]
        kills = 0
        while _job(svc, job_id)["status"] not in ("failed", "completed") and kills < 8:
            assert _wait_for(lambda: _busy(svc) or _job(svc, job_id)["status"] == "failed", 60)
            if _job(svc, job_id)["status"] == "failed":
                break
            svc.kill_worker(svc.workers[0])
            kills += 1
            svc.start_worker()
        job = _wait_job(svc, job_id, timeout_s=30)
        # Three kills of one chunk end it; with n chunks the kills may alternate (≤ 2n + 1).
        assert 3 <= kills <= 2 * job["chunks_total"] + 1, (kills, job)
        assert job["status"] == "failed", job
        assert job["error"]["code"] == "worker_killed"
        assert "killed its worker 3 times" in job["error"]["message"]
        svc.wait_healthy()
        # A requeued attempt would be picked up at once (workers are woken) and show in
        # the next heartbeat (1 s); the dead worker was already seen before the job failed.
        time.sleep(2)
        assert not _busy(svc)
        assert all(w.poll() is None for w in svc.workers)
    finally:
        svc.stop()


# 3 + 4. Redis outage ----------------------------------------------------------------------

OUTAGE_ROUTES = [
    ("GET", "/v1/audio/jobs", None),
    ("GET", "/v1/audio/jobs/job_0123456789abcdef0123456789abcdef", None),
    ("GET", "/system/audio/status", None),
    ("GET", "/v1/audio/models", None),
    ("POST", "/v1/audio/speech", {"model": "tts-1", "input": "Hello there.", "voice": "alloy"}),
    ("POST", "/v1/audio/transcriptions", "audio"),
    ("POST", "/v1/audio/jobs", "audio"),
]


def _call(http: httpx.Client, method: str, path: str, body: object, clip: bytes) -> httpx.Response:
    if body == "audio":
        return _post_audio(http, path, clip)
    return http.request(method, path, json=body)


def test_redis_outage_gives_503s_and_everything_recovers(
    chaos_redis: RedisServer, models_dir: Path, tmp_path: Path, long_clip: bytes
) -> None:
    svc = _start(chaos_redis, models_dir, tmp_path)
    try:
        in_flight = _InFlight(svc, long_clip)
        assert _wait_for(lambda: _busy(svc), 30)
        chaos_redis.stop()
        response = in_flight.response(15, "the request in flight hung when Redis went away")
        assert response.status_code == 503, response.text
        clip = make_clip(SENTENCES[0])
        with svc.http() as http:
            for method, path, body in OUTAGE_ROUTES:
                started = time.monotonic()
                response = _call(http, method, path, body, clip)
                took = time.monotonic() - started
                print(f"\n{method} {path} with Redis down: {response.status_code} in {took:.2f} s")
                assert response.status_code == 503, (path, response.text)
                assert response.json()["error"]["code"] == "backend_unavailable"
                assert int(response.headers["Retry-After"]) > 0
                assert took < 2  # the issue asks for 1 s; slack for a loaded CI machine
            health = http.get("/health")
            assert health.status_code == 503 and health.headers["Retry-After"]
            assert chaos_redis.url.rsplit(":", 1)[1] not in health.text  # no Redis address
        time.sleep(3)  # the blip
    finally:
        chaos_redis.restart(tmp_path)
    try:
        assert all(w.poll() is None for w in svc.workers), "a worker exited on the Redis blip"
        svc.wait_healthy(timeout_s=30)  # the worker re-registers by itself
        with svc.http() as http:
            response = _post_audio(http, "/v1/audio/transcriptions", make_clip(SENTENCES[0]))
        assert response.status_code == 200, response.text
    finally:
        svc.stop()


# 6. Atomic admission ----------------------------------------------------------------------


def test_queue_depth_holds_under_concurrency(
    chaos_redis: RedisServer, models_dir: Path, tmp_path: Path
) -> None:
    """30 requests at once against MAX_QUEUE_DEPTH=8 and a frozen worker: exactly 8 get in."""
    svc = _start(chaos_redis, models_dir, tmp_path, max_queue_depth=8, worker_heartbeat_ttl_s=120)
    clip = make_clip(SENTENCES[0])
    barrier = threading.Barrier(30)
    statuses: list[int | str] = []
    retry_after: list[str | None] = []

    def request() -> None:
        # Refusals come back in well under a second; admitted requests wait this long.
        with httpx.Client(base_url=svc.base_url, timeout=5,
                          headers={"Authorization": f"Bearer {API_KEY}"}) as http:  # fmt: skip
            barrier.wait()
            try:
                response = _post_audio(http, "/v1/audio/transcriptions", clip)
            except httpx.TimeoutException:
                statuses.append("waiting")  # admitted: queued behind the frozen worker
                return
            statuses.append(response.status_code)
            retry_after.append(response.headers.get("Retry-After"))

    worker = psutil.Process(svc.workers[0].pid)
    worker.suspend()  # alive by its (long) heartbeat, but takes nothing off the queue
    try:
        threads = [threading.Thread(target=request) for _ in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        print(f"\n30 simultaneous requests, depth 8: {sorted(map(str, statuses))}")
        assert statuses.count("waiting") == 8
        assert statuses.count(429) == 22
        assert all(value and int(value) >= 1 for value in retry_after)
    finally:
        worker.resume()
        svc.stop()


# 10. Webhook targets ----------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    """Records every request; ``/redirect`` answers 302 to ``/landed``."""

    hits: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.hits.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/landed")
        else:
            self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def hook_server() -> Iterator[HTTPServer]:
    _Hook.hits = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def _speech_job(http: httpx.Client, webhook_url: str) -> httpx.Response:
    body = {"task": "speech", "model": "tts-1", "voice": "alloy", "input": "Done.",
            "webhook_url": webhook_url}  # fmt: skip
    return http.post("/v1/audio/jobs", json=body)


def test_webhooks_to_internal_addresses_are_refused(
    chaos_redis: RedisServer, models_dir: Path, tmp_path: Path, hook_server: HTTPServer
) -> None:
    port = hook_server.server_port
    redis_port = chaos_redis.url.rsplit(":", 1)[1]
    targets = [
        f"http://127.0.0.1:{port}/hook", f"http://localhost:{port}/hook",
        f"http://127.1:{port}/hook", f"http://2130706433:{port}/hook",
        f"http://user:pass@127.0.0.1:{port}/hook", f"http://127.0.0.1:{redis_port}/",
        "http://169.254.169.254/latest/meta-data/", f"http://[::1]:{port}/hook",
        f"http://[::ffff:127.0.0.1]:{port}/hook", "http://10.0.0.1/", "http://192.168.1.1/",
        "http://[fd00::1]/", "http://100.64.0.1/", "http://0.0.0.0/",
        "ftp://example.com/", "file:///etc/passwd",
    ]  # fmt: skip
    svc = _start(chaos_redis, models_dir, tmp_path)
    try:
        with svc.http() as http:
            for url in targets:
                response = _speech_job(http, url)
                assert response.status_code == 400, (url, response.text)
                error = response.json()["error"]
                assert error["param"] == "webhook_url", (url, error)
            assert http.get("/v1/audio/jobs").json()["data"] == []  # nothing was created
        assert _Hook.hits == []
    finally:
        svc.stop()


def test_allowed_webhooks_do_not_follow_redirects_or_echo_errors(
    chaos_redis: RedisServer, models_dir: Path, tmp_path: Path, hook_server: HTTPServer
) -> None:
    port = hook_server.server_port
    svc = _start(chaos_redis, models_dir, tmp_path, webhook_allow_networks="127.0.0.0/8",
                 janitor_interval_s=0.5, webhook_max_attempts=1)  # fmt: skip
    try:
        with svc.http() as http:
            redirected = _speech_job(http, f"http://127.0.0.1:{port}/redirect").json()["id"]
            dead = _speech_job(http, f"http://127.0.0.1:{free_port()}/hook").json()["id"]
        for job_id in (redirected, dead):
            assert _wait_for(lambda j=job_id: _job(svc, j).get("webhook") is not None, 120, 0.3)
        outcome = _job(svc, redirected)["webhook"]
        assert outcome["delivered"] is False and outcome["last_status"] == 302
        assert _Hook.hits == ["/redirect"]  # the redirect was not followed
        outcome = _job(svc, dead)["webhook"]
        assert outcome["delivered"] is False and outcome["last_status"] is None
        assert "refused" not in outcome["last_error"].lower()  # no remote detail
        assert "Errno" not in outcome["last_error"]
    finally:
        svc.stop()


# 9. models import ids ---------------------------------------------------------------------


def _models_cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEURALDRIVE_AUDIO_MODELS_DIR": str(store)}
    command = [sys.executable, "-m", "neuraldrive_audio.cli", "models", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_models_import_never_deletes_another_model(tmp_path: Path) -> None:
    assert piper.PLUGIN.demo is not None
    files, manifest = piper.PLUGIN.demo.locate()
    store = ModelStore(tmp_path / "store")
    store.install(files, manifest)
    joe = store.path_of(manifest)
    source = tmp_path / "voice"
    source.mkdir()
    for name, path in files.items():
        (source / f"voice.{name.removeprefix('model.')}").symlink_to(path)

    # The id rule every path goes through (model_dir checks it), in-process; through the
    # real command, the ids that would land on the engine's directory, above it, or inside
    # another model.
    for bad in [".", "", "../x", "/abs", "a//b"]:
        with pytest.raises(ValueError, match="invalid model id"):
            check_model_id(bad)
    for bad in ["piper", "..", "piper/en_US-joe-medium/x"]:
        result = _models_cli(store.root, "import", str(source), "--id", bad, "--engine", "piper")
        assert result.returncode != 0, (bad, result.stdout)
        assert "error:" in result.stderr, (bad, result.stderr)
        assert (joe / "manifest.json").is_file() and (joe / "model.onnx").is_file(), bad
    assert [m.id for m in store.list()] == [manifest.id]

    same = _models_cli(store.root, "import", str(source), "--id", manifest.id)
    assert same.returncode != 0 and "--force" in same.stderr
    assert store.get(manifest.id).source == manifest.source
    forced = _models_cli(store.root, "import", str(source), "--id", manifest.id, "--force")
    assert forced.returncode == 0, forced.stderr
    assert store.get(manifest.id).source == "import:voice"
    other = _models_cli(store.root, "import", str(source), "--id", "piper/joe-copy")
    assert other.returncode == 0, other.stderr
    assert [m.id for m in store.list()] == ["piper/en_US-joe-medium", "piper/joe-copy"]
    assert not list(store.root.glob("piper/**/.staging-*"))
    assert not list(store.root.glob("piper/**/.replaced-*"))


# 5. serve supervises ----------------------------------------------------------------------


def _serve_children(serve: psutil.Process) -> dict[int, str]:
    """pid -> role ('worker' or 'redis') of serve's live children."""
    roles = {}
    for child in serve.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            line = " ".join(child.cmdline())
            if child.status() != psutil.STATUS_ZOMBIE:
                roles[child.pid] = "redis" if "redis-server" in line else "worker"
    return roles


# The waits below add up to more than the suite's default 300 s: under a loaded machine
# each step (start, restart, shutdown) may take most of its own budget.
@pytest.mark.timeout(480)
def test_serve_restarts_dead_workers_and_redis_and_sigterm_stops_everything(
    models_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "NEURALDRIVE_API_KEY": API_KEY,
           "NEURALDRIVE_AUDIO_DATA_DIR": str(tmp_path), "NEURALDRIVE_AUDIO_PORT": str(port),
           "NEURALDRIVE_AUDIO_MODELS_DIR": str(models_dir),
           "NEURALDRIVE_AUDIO_WORKER_HEARTBEAT_TTL_S": "2"}  # fmt: skip
    env.pop("NEURALDRIVE_AUDIO_REDIS_URL", None)  # serve starts its own redis-server
    serve = subprocess.Popen([sys.executable, "-m", "neuraldrive_audio.cli", "serve"], env=env)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            # A loaded machine can take seconds to answer; a slow answer is not a dead one.
            return httpx.get(f"{base}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def restarted(dead: int) -> bool:
        roles = _serve_children(parent)
        return dead not in roles and list(roles.values()).count("worker") == 1

    def redis_restarted(dead: int) -> bool:
        roles = _serve_children(parent)
        return dead not in roles and list(roles.values()).count("redis") == 1

    def spoken() -> bool:
        body = {
            "model": "tts-1",
            "voice": "alloy",
            "input": "Back again.",
            "response_format": "wav",
        }
        headers = {"Authorization": f"Bearer {API_KEY}"}
        try:
            response = httpx.post(f"{base}/v1/audio/speech", json=body, headers=headers, timeout=60)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.content[:4] == b"RIFF"

    seen: set[int] = set()
    try:
        assert _wait_for(healthy, 90), "serve did not become healthy"
        parent = psutil.Process(serve.pid)
        children = _serve_children(parent)
        seen |= set(children)
        assert sorted(children.values()) == ["redis", "worker"]
        [worker] = [pid for pid, role in children.items() if role == "worker"]
        psutil.Process(worker).kill()
        # Wait for the outcome, not for the short unhealthy window in between (a quick
        # restart can hide it from a poll): a new worker process, then a healthy service.
        assert _wait_for(lambda: restarted(worker), 60, 0.2), "serve did not restart the worker"
        seen |= set(_serve_children(parent))
        assert _wait_for(healthy, 120), "the restarted worker never became healthy"

        # Its redis-server dies too: serve starts another on the same socket, the API and
        # the worker reconnect, and requests are served again.
        [redis] = [pid for pid, role in _serve_children(parent).items() if role == "redis"]
        psutil.Process(redis).kill()
        assert _wait_for(lambda: redis_restarted(redis), 60, 0.2), "redis-server not restarted"
        seen |= set(_serve_children(parent))
        assert _wait_for(healthy, 120), "no healthy service after the Redis restart"
        assert _wait_for(spoken, 120, 1.0), "no speech served after the Redis restart"

        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        alive = [pid for pid in seen if psutil.pid_exists(pid)
                 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]  # fmt: skip
        assert alive == [], f"left running after SIGTERM: {alive}"
    finally:
        if serve.poll() is None:
            with contextlib.suppress(psutil.NoSuchProcess):
                seen |= set(_serve_children(psutil.Process(serve.pid)))
            serve.kill()
        for pid in seen:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).kill()


# 7. Text that expands ---------------------------------------------------------------------


def test_expanding_speech_input_is_bounded(service: Service) -> None:
    """``"9" * 4096`` reads as 63k characters (minutes of synthesis): refused up front."""
    with service.http() as http:
        body = {"model": "tts-1", "voice": "alloy", "input": "9" * 4096}
        response = http.post("/v1/audio/speech", json=body)
    assert response.status_code == 400, response.text[:200]
    error = response.json()["error"]
    assert error["param"] == "input" and "limit" in error["message"]


def test_speech_stops_within_a_sentence_of_the_client_leaving(service: Service) -> None:
    sentence = "In 1987 we counted 4,321,987 birds."  # ~120 characters once spelled out
    body = json.dumps({"model": "tts-1", "voice": "alloy", "input": " ".join([sentence] * 30)})
    host, port = service.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            (f"POST /v1/audio/speech HTTP/1.1\r\nHost: {host}\r\n"
             f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
             f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
        )  # fmt: skip
        assert _wait_for(lambda: _busy(service), 30, 0.05)
    left = time.monotonic()
    # 30 sentences take Kokoro about a minute here; one takes ~2 s.
    assert _wait_for(lambda: not _busy(service), 20, 0.1), "speech went on for nobody"
    print(f"\nspeech stopped {time.monotonic() - left:.1f} s after the client left")


# 11. A sync request survives its worker ---------------------------------------------------


def test_sync_request_finishes_on_another_worker_when_its_worker_dies(
    chaos_redis: RedisServer, models_dir: Path, tmp_path: Path, long_clip: bytes
) -> None:
    svc = _start(chaos_redis, models_dir, tmp_path, workers=2, worker_heartbeat_ttl_s=2)
    try:
        in_flight = _InFlight(svc, long_clip)
        assert _wait_for(lambda: _busy(svc), 30)
        pids = {w["pid"] for w in svc.status()["workers"] if w["jobs_in_progress"]}
        [busy] = [w for w in svc.workers if w.pid in pids]
        svc.kill_worker(busy)
        response = in_flight.response(120, "the request hung after its worker died")
        assert response.status_code == 200, response.text
        assert "quarterly report" in response.json()["text"].lower()
    finally:
        svc.stop()


# 12. Small ones ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["?!...", "\u200b\u200b", "— … —"])
def test_speech_of_nothing_to_say_is_a_400(service: Service, text: str) -> None:
    with service.http() as http:
        response = http.post("/v1/audio/speech",
                             json={"model": "tts-1", "voice": "alloy", "input": text})  # fmt: skip
    assert response.status_code == 400, response.text[:200]
    assert response.json()["error"]["param"] == "input"


def test_bad_voice_object_names_voice(service: Service) -> None:
    with service.http() as http:
        body = {"model": "tts-1", "voice": {"name": "x"}, "input": "Hi."}
        response = http.post("/v1/audio/speech", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "voice"


def test_undecodable_job_upload_does_not_leak_server_paths(
    chaos_redis: RedisServer, models_dir: Path, tmp_path: Path
) -> None:
    svc = _start(chaos_redis, models_dir, tmp_path)
    try:
        with svc.http() as http:
            job_id = _post_audio(http, "/v1/audio/jobs", b"not audio at all " * 100).json()["id"]
        job = _wait_job(svc, job_id)
        assert job["status"] == "failed" and job["error"]["code"] == "invalid_audio"
        assert str(tmp_path) not in job["error"]["message"], job["error"]["message"]
    finally:
        svc.stop()
