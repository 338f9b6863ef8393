"""What one worker process holds between jobs."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from arq.connections import ArqRedis

from neuraldrive_audio.config import Settings
from neuraldrive_audio.engines.base import Engine, JobCancelledError
from neuraldrive_audio.queue import heartbeat
from neuraldrive_audio.queue.heartbeat import RunningJob, WorkerHeartbeat
from neuraldrive_audio.queue.lanes import LANES, Lane
from neuraldrive_audio.storage.model_store import ModelStore
from neuraldrive_audio.workers.model_cache import ModelCache


@dataclass
class WorkerStats:
    """Counters a worker reports in its heartbeat."""

    jobs_done: int = 0
    jobs_failed: int = 0
    batches: int = 0
    """Batches of interactive transcriptions formed (dynamic batching)."""
    batched_jobs: int = 0
    """Jobs run as members of those batches (leaders included)."""
    audio_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    busy_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    unreported_rtf: list[tuple[str, float]] = field(default_factory=list)
    """Real-time factors of single inferences not yet added to the histogram in Redis."""

    def record_inference(self, engine: str, audio_s: float, busy_s: float) -> None:
        """Add one inference's audio length and wall time (for the real-time factor)."""
        self.audio_seconds[engine] += audio_s
        self.busy_seconds[engine] += busy_s
        if audio_s > 0:
            self.unreported_rtf.append((engine, busy_s / audio_s))

    def take_unreported_rtf(self) -> list[tuple[str, float]]:
        """The observations since the last call (each is reported once)."""
        taken, self.unreported_rtf = self.unreported_rtf, []
        return taken


class LaneActivity:
    """How many jobs of each lane run on this worker; yielding lanes wait on higher ones."""

    def __init__(self) -> None:
        self._running: Counter[str] = Counter()
        self._changed = threading.Condition()

    def begin(self, lane: Lane) -> None:
        """A job of ``lane`` starts: work of lower-ranked yielding lanes pauses."""
        with self._changed:
            self._running[lane.name] += 1

    def end(self, lane: Lane) -> None:
        """A job of ``lane`` ended; waiting work resumes when no higher lane has any."""
        with self._changed:
            self._running[lane.name] -= 1
            self._changed.notify_all()

    def running(self, lane: Lane) -> int:
        """Jobs of ``lane`` running now."""
        with self._changed:
            return self._running[lane.name]

    def wait_for_higher(self, lane: Lane, cancel: threading.Event) -> None:
        """Blocking (inference threads): wait while a higher-ranked lane has work here.

        Raises JobCancelledError if ``cancel`` is set meanwhile.
        """
        with self._changed:
            while any(self._running[h.name] for h in LANES if h.rank < lane.rank):
                if cancel.is_set():
                    raise JobCancelledError
                self._changed.wait(timeout=0.1)


@dataclass
class WorkerState:
    """Settings, connections and the model cache of one worker."""

    settings: Settings
    redis: ArqRedis
    store: ModelStore
    cache: ModelCache[Engine]
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    )
    started_at: float = field(default_factory=time.time)
    stats: WorkerStats = field(default_factory=WorkerStats)
    running: dict[str, RunningJob] = field(default_factory=dict)
    lanes: LaneActivity = field(default_factory=LaneActivity)

    def set_progress(self, job_id: str, progress: float) -> None:
        """Record a running job's progress (0..1) for the next heartbeat; any thread."""
        job = self.running.get(job_id)
        if job is not None:
            job.progress = progress

    async def publish_heartbeat(self) -> None:
        """Publish the heartbeat now (also done after each job, so status is fresh)."""
        await heartbeat.publish(self.redis, self.heartbeat(), self.settings.worker_heartbeat_ttl_s)

    def heartbeat(self) -> WorkerHeartbeat:
        """The heartbeat describing this worker right now."""
        return WorkerHeartbeat(
            worker_id=self.worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            device=self.settings.worker_device,
            started_at=self.started_at,
            budget_bytes=self.cache.budget_bytes(),
            used_bytes=self.cache.used_bytes,
            loaded_models=self.cache.snapshot(),
            jobs_in_progress=len(self.running),
            current_jobs=[job.model_copy() for job in list(self.running.values())],
            jobs_done=self.stats.jobs_done,
            jobs_failed=self.stats.jobs_failed,
            loads=self.cache.counters.loads,
            evictions=self.cache.counters.evictions,
            audio_seconds=dict(self.stats.audio_seconds),
            busy_seconds=dict(self.stats.busy_seconds),
        )
