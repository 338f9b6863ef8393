"""Idle cost: CPU of a quiet API and worker, and the Redis commands they send while quiet.

Starts the real service (redis-server, the API, one worker, as separate processes; or with
``--serve`` the one-command ``neuraldrive-audio serve``, whose process holds the API and the
supervisor of its worker and embedded redis-server), runs a burst of requests (transcriptions
and speech from a few concurrent clients, one asynchronous job) and one realtime transcription
session through the official SDK, then lets it sit. Over the window that follows (60 s by
default) it takes each process's CPU seconds from ``psutil`` (user + system: robust to other
load on the machine, unlike a sampled percentage) and the Redis command counts from ``INFO
commandstats`` (the two INFO calls of the bench itself are left out).

Prints, per round: percent of one core per process, and Redis commands per second with the
busiest commands. Target: API and worker each under 1 % of a core. Then the latency of a
no-op job sent to the idle worker (a second apart): sleeping must not slow pickup.

Run: python bench/bench_idle.py [--window 60] [--rounds 1] [--settle 5] [--serve]
(needs redis-server and the demo extra)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import httpx
import psutil
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.demo_service import from_clients, ping_latencies, transcription_session
from neuraldrive_audio.storage.demo_models import PIPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import API_KEY, RedisServer, Service, free_port
from tests.realtime_audio import CHUNK_MS, spoken_turns
from tests.speech_clips import SENTENCES, make_clip

RATE = 24000
PING_GAP_S = 1.0
BURST_CLIENTS = 4
FINAL = ("completed", "failed", "cancelled")


def burst(service: Service, requests: int) -> None:
    """``requests`` transcriptions and as many speech requests from a few clients, and a job."""
    clip = make_clip(SENTENCES[0])
    speech = {"model": PIPER_ID, "voice": "en_US-joe-medium", "input": SENTENCES[1]}

    def send(http: httpx.Client, index: int) -> None:
        if index % 2:
            response = http.post("/v1/audio/speech", json=speech)
        else:
            response = http.post("/v1/audio/transcriptions", files={"file": ("a.wav", clip)},
                                 data={"model": "whisper-1"})  # fmt: skip
        response.raise_for_status()

    from_clients(service, BURST_CLIENTS, 2 * requests, send)
    with service.http() as http:
        job = http.post("/v1/audio/jobs", files={"file": ("a.wav", clip)},
                        data={"model": "whisper-1"})  # fmt: skip
        job.raise_for_status()
        job_id = job.json()["id"]
        deadline = time.monotonic() + 120
        while http.get(f"/v1/audio/jobs/{job_id}").json()["status"] not in FINAL:
            if time.monotonic() > deadline:
                raise RuntimeError("the asynchronous job did not end")
            time.sleep(0.2)


async def realtime_session(service: Service) -> int:
    """Stream two spoken sentences into a transcription session; the turns transcribed."""
    audio = spoken_turns(SENTENCES[:2], rate=RATE, gap_ms=1000)
    client = service.async_client()
    done = 0
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        await connection.send(transcription_session(RATE, 500))  # type: ignore[arg-type]
        step = RATE * CHUNK_MS // 1000
        for start in range(0, len(audio), step):
            chunk = base64.b64encode(audio[start : start + step].tobytes()).decode()
            await connection.input_audio_buffer.append(audio=chunk)
            await asyncio.sleep(CHUNK_MS / 1000 / 4)  # faster than real time: VAD keeps up
        async for event in connection:
            if event.type == "conversation.item.input_audio_transcription.completed":
                done += 1
            elif event.type == "conversation.item.input_audio_transcription.failed":
                raise RuntimeError(f"turn failed: {event.error}")
            if done == 2:
                break
    return done


def command_counts(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the server started, from INFO commandstats."""
    stats = cast(dict[str, dict[str, Any]], client.info("commandstats"))
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU seconds the process has used so far."""
    times = process.cpu_times()
    return float(times.user + times.system)


def measure(processes: dict[str, psutil.Process], client: redis.Redis, window_s: float) -> None:
    """Print percent of a core per process and Redis commands/s over ``window_s``."""
    before_cpu = {name: cpu_seconds(p) for name, p in processes.items()}
    before_cmds = command_counts(client)
    started = time.monotonic()
    time.sleep(window_s)
    elapsed = time.monotonic() - started
    after_cmds = command_counts(client)
    after_cpu = {name: cpu_seconds(p) for name, p in processes.items()}
    for name in processes:
        used = after_cpu[name] - before_cpu[name]
        print(f"  {name:8} {used:6.2f} CPU s in {elapsed:.0f} s = {used / elapsed * 100:5.2f} % "
              "of a core")  # fmt: skip
    delta = {n: after_cmds[n] - before_cmds.get(n, 0) for n in after_cmds}
    delta["info"] = delta.get("info", 0) - 1  # the bench's own INFO before the window
    delta = {n: c for n, c in delta.items() if c > 0}
    total = sum(delta.values())
    top = ", ".join(f"{n} {c / elapsed:.2f}" for n, c in sorted(delta.items(), key=lambda x: -x[1]))
    print(f"  redis    {total / elapsed:6.2f} commands/s ({top or 'none'})")


def start_serve(root: Path) -> tuple[Service, dict[str, psutil.Process], str]:
    """``neuraldrive-audio serve`` with its embedded redis-server and one worker: the service,
    its processes by role, and the embedded Redis URL."""
    port = free_port()
    data = root / "data"
    env = {**os.environ, "NEURALDRIVE_API_KEY": API_KEY, "NEURALDRIVE_AUDIO_PORT": str(port),
           "NEURALDRIVE_AUDIO_DATA_DIR": str(data),
           "NEURALDRIVE_AUDIO_MODELS_DIR": str(root / "models")}  # fmt: skip
    env.pop("NEURALDRIVE_AUDIO_REDIS_URL", None)
    command = [sys.executable, "-m", "neuraldrive_audio.cli", "serve", "--workers", "1"]
    serve = subprocess.Popen(command, env=env)
    service = Service(f"http://127.0.0.1:{port}", env, data, serve)
    service.wait_healthy(300)
    parent = psutil.Process(serve.pid)
    children = parent.children()
    [redis_server] = [c for c in children if "redis-server" in " ".join(c.cmdline())]
    [worker] = [c for c in children if c.cmdline()[-1:] == ["worker"]]
    url = (data / "run" / "queue.url").read_text().strip()
    return service, {"serve": parent, "worker": worker, "redis": redis_server}, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured per round")
    parser.add_argument("--rounds", type=int, default=1, help="measurements after the warm-up")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--requests", type=int, default=12, help="of each kind in the burst")
    parser.add_argument("--pings", type=int, default=20,
                        help="no-op jobs sent to the idle worker at the end (0: none)")  # fmt: skip
    parser.add_argument(
        "--serve",
        action="store_true",
        help="run `neuraldrive-audio serve` (API, supervisor, embedded redis)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        register_demo_models(ModelStore(root / "models"))
        server: RedisServer | None = None
        if args.serve:
            service, processes, url = start_serve(root)
        else:
            server = RedisServer.start(root)
            url = f"{server.url}/0"
            service = Service.start(url, root / "data", root / "models", wait=False)
            service.wait_healthy(300)  # a loaded machine takes long to import everything
            processes = {
                "api": psutil.Process(service.api.pid),
                "worker": psutil.Process(service.workers[0].pid),
                "redis": psutil.Process(server.process.pid),
            }
        client = redis.Redis.from_url(url)
        try:
            started = time.monotonic()
            burst(service, args.requests)
            turns = asyncio.run(realtime_session(service))
            print(f"burst: {args.requests} transcriptions, {args.requests} speech requests, "
                  f"1 job, 1 realtime session ({turns} turns) in "
                  f"{time.monotonic() - started:.1f} s")  # fmt: skip
            time.sleep(args.settle)
            for index in range(args.rounds):
                print(f"idle round {index + 1}, {args.window:.0f} s:")
                measure(processes, client, args.window)
            if args.pings:
                pings = asyncio.run(ping_latencies(url, args.pings, PING_GAP_S))
                p50, p99 = pings[len(pings) // 2], pings[max(0, int(len(pings) * 0.99) - 1)]
                print(f"no-op job to an idle worker ({PING_GAP_S:.0f} s apart), {args.pings} "
                      f"runs: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")  # fmt: skip
        finally:
            client.close()
            service.stop()
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
