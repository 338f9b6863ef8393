"""Load: short transcriptions and short speech under concurrent clients.

For 1 and 2 workers x 4 and 8 concurrent clients, N requests of each kind (a ~3 s clip
to whisper-1; one sentence to Piper): requests per second, latency p50/p95/p99, errors,
and each worker's resident memory sampled every 0.25 s: the median over the first and over
the second half of the requests, and the peak. A leak shows as a second-half median above
the first; a single reading is not enough, because a worker's RSS swings by a few hundred
MB with the size of the batch it is decoding (measured: 460-835 MB over 1600 requests from
8 clients, with no trend after the first few hundred).

Run: python bench/bench_load.py [--requests 400] [--workers 1,2] [--clients 4,8]
(needs redis-server and the demo extra)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.demo_service import from_clients
from neuraldrive_audio.storage.demo_models import PIPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import RedisServer, Service
from tests.speech_clips import SENTENCES, make_clip

SPEECH_BODY = {"model": PIPER_ID, "voice": "en_US-joe-medium", "input": SENTENCES[1],
               "response_format": "wav"}  # fmt: skip


@dataclass
class Run:
    """Latencies and errors of one configuration."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    rss_samples: list[tuple[int, list[float]]] = field(default_factory=list)
    """(requests finished so far, MB per worker), every 0.25 s."""

    def rss_summary(self, requests: int) -> str:
        """``first-half median / second-half median (peak)`` per worker, comma-separated."""
        halves = (
            [mb for done, mb in self.rss_samples if done < requests // 2],
            [mb for done, mb in self.rss_samples if done >= requests // 2],
        )
        if not all(halves):
            return "too few samples"
        first, second = ([statistics.median(col) for col in zip(*h, strict=True)] for h in halves)
        peak = [max(col) for col in zip(*(mb for _, mb in self.rss_samples), strict=True)]
        return ", ".join(
            f"{a:.0f} / {b:.0f} ({c:.0f})" for a, b, c in zip(first, second, peak, strict=True)
        )

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def _requester(service: Service, kind: str, clip: bytes) -> Callable[[httpx.Client], int]:
    if kind == "transcription":
        return lambda http: (
            http.post(
                "/v1/audio/transcriptions",
                files={"file": ("a.wav", clip)},
                data={"model": "whisper-1"},
            ).status_code
        )
    return lambda http: http.post("/v1/audio/speech", json=SPEECH_BODY).status_code


def _rss_mb(service: Service) -> list[float]:
    return [round(psutil.Process(w.pid).memory_info().rss / 1e6, 1) for w in service.workers]


def load(service: Service, kind: str, clip: bytes, clients: int, requests: int) -> Run:
    """``requests`` requests from ``clients`` threads, worker RSS sampled throughout."""
    run = Run()
    send = _requester(service, kind, clip)
    lock = threading.Lock()
    finished = threading.Event()

    def sample() -> None:
        while not finished.wait(0.25):
            with lock:
                done = len(run.latencies) + sum(run.errors.values())
            run.rss_samples.append((done, _rss_mb(service)))

    def call(http: httpx.Client, index: int) -> None:
        started = time.perf_counter()
        try:
            status = send(http)
        except httpx.HTTPError as exc:
            with lock:
                run.errors[type(exc).__name__] = run.errors.get(type(exc).__name__, 0) + 1
            return
        took = time.perf_counter() - started
        with lock:
            if status == 200:
                run.latencies.append(took)
            else:
                run.errors[str(status)] = run.errors.get(str(status), 0) + 1

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    from_clients(service, clients, requests, call)
    run.wall_s = time.perf_counter() - started
    finished.set()
    sampler.join()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--clients", default="4,8")
    parser.add_argument("--kinds", default="transcription,speech")
    args = parser.parse_args()
    clip = make_clip(SENTENCES[0])
    print(f"{args.requests} requests per row; RSS = MB per worker, median over the first half "
          "/ over the second half (peak)")  # fmt: skip
    print(f"{'kind':14} {'workers':>7} {'clients':>7} {'req/s':>6} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7}  errors  RSS")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = root / "models"
        register_demo_models(ModelStore(models))
        redis = RedisServer.start(root)
        try:
            for db, workers in enumerate(int(w) for w in args.workers.split(",")):
                service = Service.start(f"{redis.url}/{db}", root / f"data{db}", models,
                                        workers=workers, max_queue_depth="1000")  # fmt: skip
                try:
                    for kind in args.kinds.split(","):
                        load(service, kind, clip, 2, 4)  # warm-up: models loaded everywhere
                        for clients in (int(c) for c in args.clients.split(",")):
                            run = load(service, kind, clip, clients, args.requests)
                            rate = len(run.latencies) / run.wall_s
                            rss = run.rss_summary(args.requests)
                            print(f"{kind:14} {workers:7} {clients:7} {rate:6.1f} "
                                  f"{run.percentile(0.5):7.0f} {run.percentile(0.95):7.0f} "
                                  f"{run.percentile(0.99):7.0f}  {run.errors or 0}  {rss}",
                                  flush=True)  # fmt: skip
                finally:
                    service.stop()
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
