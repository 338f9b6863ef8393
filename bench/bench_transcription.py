"""Transcription through the service vs. raw faster-whisper, and the queue's own overhead.

Prints, from one run:
  1. service time / raw in-process faster-whisper time on the same ~30 s clip and settings
     (target <= 1.05);
  2. queue round trip p50/p99 for a no-op job (target p50 <= 15 ms).

Run: python bench/bench_transcription.py   (needs redis-server and the demo extra)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faster_whisper import WhisperModel

from neuraldrive_audio.engines.whisper import FALLBACK_TEMPERATURES
from neuraldrive_audio.media.decode import decode_upload
from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.client import JobQueue, new_job_id
from neuraldrive_audio.queue.connection import connect
from neuraldrive_audio.queue.events import EventType
from neuraldrive_audio.storage.demo_models import WHISPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import RedisServer, Service
from tests.speech_clips import SENTENCES, make_clip

RUNS = 7
PINGS = 300


def compare(model_dir: Path, service: Service, clip: bytes) -> tuple[float, float]:
    """Median wall times (raw, service), alternating runs so machine drift hits both alike.

    Raw is faster-whisper itself: decode + transcribe with the service's settings. Service
    is the same request through the SDK, HTTP, Redis and a worker.
    """
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8")
    client = service.client()
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


async def ping_latencies(redis_url: str) -> list[float]:
    """Round trips of no-op jobs: enqueue -> worker -> done event read by XREAD BLOCK."""
    redis = await connect(redis_url)
    queue = JobQueue(redis, max_depth=1000, event_ttl_s=60, job_ttl_s=60)

    class Ping:
        def __init__(self, job_id: str) -> None:
            self.job_id = job_id

        def model_dump(self, mode: str = "json") -> dict[str, str]:
            return {"job_id": self.job_id}

    latencies = []
    for _ in range(PINGS):
        job_id = new_job_id()
        started = time.perf_counter()
        await queue.submit(keys.PING_FUNCTION, Ping(job_id), job_id)  # type: ignore[arg-type]
        async for event in queue.follow(job_id, timeout_s=10):
            if event.type is EventType.DONE:
                break
        latencies.append(time.perf_counter() - started)
    await redis.aclose()
    return latencies


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = ModelStore(root / "models")
        register_demo_models(store)
        clip = make_clip(" ".join(SENTENCES + SENTENCES[:3]))  # ~30 s
        seconds = len(decode_upload(clip, 3600)) / 16_000
        redis = RedisServer.start(root)
        service = Service.start(f"{redis.url}/0", root / "data", root / "models")
        try:
            raw, via_service = compare(store.path_of(store.get(WHISPER_ID)), service, clip)
            pings = sorted(asyncio.run(ping_latencies(f"{redis.url}/0")))
        finally:
            service.stop()
            redis.stop()
    p50 = pings[len(pings) // 2] * 1000
    p99 = pings[int(len(pings) * 0.99) - 1] * 1000
    print(f"clip: {seconds:.1f} s of speech, whisper tiny.en int8, beam 5, {RUNS} runs (median)")
    print(f"raw faster-whisper:   {raw:.3f} s")
    print(f"through the service:  {via_service:.3f} s")
    print(f"ratio service/raw:    {via_service / raw:.3f}   (target <= 1.05)")
    print(f"queue no-op job, {PINGS} runs: p50 {p50:.1f} ms, p99 {p99:.1f} ms   (target p50 <= 15)")


if __name__ == "__main__":
    main()
