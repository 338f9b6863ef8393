"""Throughput under concurrency: dynamic batching off vs on, against raw faster-whisper.

Prints, from one run, for a 5 s and a ~30 s clip and 1, 4 and 8 concurrent clients (each
sends its requests one after the other through the official SDK): req/s and p50/p95 latency
with batching off (``INTERACTIVE_BATCH_WINDOW_MS=0``) and on (the default window), and raw
faster-whisper decoding the same clip sequentially in-process as the reference.
Targets: with 8 clients, batching on >= 1.3x raw sequential; 1 client, on within 3 % of off.
Then the idle CPU of each worker process (target < 1 % of a core).

Run: python bench/bench_concurrency.py   (needs redis-server and the demo extra)
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
from faster_whisper import WhisperModel

from neuraldrive_audio.engines.whisper import FALLBACK_TEMPERATURES
from neuraldrive_audio.media.decode import decode_upload
from neuraldrive_audio.storage.demo_models import WHISPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import RedisServer, Service
from tests.speech_clips import SENTENCES, make_clip

CLIENTS = (1, 4, 8)
REQUESTS = {1: 10, 4: 3, 8: 3}
"""Requests each client sends, per number of clients."""
CLIP_SECONDS = (5.0, 29.5)
"""A short dictation and one nearly full whisper window (one window, so no second pass)."""
RAW_RUNS = 5
IDLE_S = 10.0


@dataclass
class Round:
    """One concurrency level: throughput and latencies."""

    req_per_s: float
    p50: float
    p95: float


def clip_of(seconds: float) -> bytes:
    """A WAV of Piper speech cut to ``seconds``."""
    text, n = "", 0
    while True:
        text = " ".join(SENTENCES[i % len(SENTENCES)] for i in range(n + 1))
        data = make_clip(text)
        with wave.open(io.BytesIO(data)) as wav:
            rate, frames = wav.getframerate(), wav.getnframes()
            if frames / rate >= seconds:
                pcm = wav.readframes(int(seconds * rate))
                width, channels = wav.getsampwidth(), wav.getnchannels()
                break
        n += 1
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return out.getvalue()


def raw_rate(model_dir: Path, clip: bytes) -> float:
    """Requests per second of faster-whisper alone, one after the other (decode included)."""
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8")
    times = []
    for _ in range(RAW_RUNS + 1):
        started = time.perf_counter()
        segments, _ = model.transcribe(
            decode_upload(clip, 3600), language="en", beam_size=5, temperature=FALLBACK_TEMPERATURES
        )
        list(segments)
        times.append(time.perf_counter() - started)
    return 1 / statistics.median(times[1:])


def load(service: Service, clip: bytes, clients: int) -> Round:
    """``clients`` SDK clients at once, each sending its requests back to back."""
    client = service.client(max_retries=0, timeout=600)

    def one_client(_: int) -> list[float]:
        latencies = []
        for _ in range(REQUESTS[clients]):
            started = time.perf_counter()
            client.audio.transcriptions.create(model="whisper-1", file=("c.wav", clip))
            latencies.append(time.perf_counter() - started)
        return latencies

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = sorted(t for ts in pool.map(one_client, range(clients)) for t in ts)
    wall = time.perf_counter() - started
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return Round(len(latencies) / wall, statistics.median(latencies), p95)


def idle_cpu(service: Service) -> list[float]:
    """Each worker's CPU use (percent of one core) over IDLE_S with nothing to do."""
    processes = [psutil.Process(w.pid) for w in service.workers]
    before = [sum(p.cpu_times()[:2]) for p in processes]
    time.sleep(IDLE_S)
    after = [sum(p.cpu_times()[:2]) for p in processes]
    return [100 * (b - a) / IDLE_S for a, b in zip(before, after, strict=True)]


def main() -> None:
    clips = {seconds: clip_of(seconds) for seconds in CLIP_SECONDS}
    results: dict[tuple[bool, float, int], Round] = {}
    raw: dict[float, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = ModelStore(root / "models")
        register_demo_models(store)
        model_dir = store.path_of(store.get(WHISPER_ID))
        redis = RedisServer.start(root)
        services: dict[bool, Service] = {}
        try:
            # Both services stay up and each measurement alternates off/on, so the load
            # others put on this shared machine hits both alike.
            for db, batching in enumerate((False, True)):
                window = "5" if batching else "0"
                services[batching] = Service.start(
                    f"{redis.url}/{db}", root / f"data{db}", root / "models",
                    interactive_batch_window_ms=window,
                )  # fmt: skip
                warm = services[batching].client()
                warm.audio.transcriptions.create(model="whisper-1", file=("c.wav", clips[5.0]))
            idle = {batching: idle_cpu(service) for batching, service in services.items()}
            for seconds, clip in clips.items():
                raw[seconds] = raw_rate(model_dir, clip)
                for clients in CLIENTS:
                    for batching, service in services.items():
                        results[batching, seconds, clients] = load(service, clip, clients)
        finally:
            for service in services.values():
                service.stop()
            redis.stop()
    report(results, raw, idle)


def report(
    results: dict[tuple[bool, float, int], Round], raw: dict[float, float],
    idle: dict[bool, list[float]],
) -> None:  # fmt: skip
    """Print the table and the figures the targets name."""
    print(f"whisper tiny.en int8, beam 5, one worker; requests per client: {REQUESTS}")
    for seconds in CLIP_SECONDS:
        print(f"\n{seconds:g} s clip: raw faster-whisper sequential {raw[seconds]:.2f} req/s")
        print("clients | batching off: req/s  p50    p95  | batching on: req/s  p50    p95 "
              "| on/raw")  # fmt: skip
        for clients in CLIENTS:
            off, on = results[False, seconds, clients], results[True, seconds, clients]
            print(
                f"{clients:7d} | {off.req_per_s:18.2f} {off.p50:5.2f}s {off.p95:5.2f}s"
                f" | {on.req_per_s:17.2f} {on.p50:5.2f}s {on.p95:5.2f}s"
                f" | {on.req_per_s / raw[seconds]:5.2f}x"
            )
        one_off, one_on = results[False, seconds, 1], results[True, seconds, 1]
        eight = results[True, seconds, 8].req_per_s / raw[seconds]
        print(f"  8 clients, batching on / raw sequential: {eight:.2f}x   (target >= 1.3)")
        print(f"  1 client, p50 on / off: {one_on.p50 / one_off.p50:.3f}   (target <= 1.03)")
    for batching, figures in idle.items():
        shown = ", ".join(f"{f:.2f} %" for f in figures)
        label = "on" if batching else "off"
        print(
            f"\nidle worker CPU (batching {label}, {IDLE_S:g} s): {shown} of a core  (target < 1)"
        )


if __name__ == "__main__":
    main()
