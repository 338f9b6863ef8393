"""``/metrics``: the status figures and the Redis-kept histograms in Prometheus' format.

The figures live in Redis (heartbeats, stats), not in this process, so each scrape builds a
fresh registry from one snapshot and lets ``prometheus_client`` write the exposition.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from neuraldrive_audio.api.status_report import build_status
from neuraldrive_audio.queue import keys, stats
from neuraldrive_audio.queue.client import JobQueue

NS = "neuraldrive_audio"


@dataclass(frozen=True)
class Snapshot:
    """Everything one scrape reports."""

    status: dict[str, Any]
    latency: dict[str, stats.Histogram]
    real_time_factor: dict[str, stats.Histogram]


async def take_snapshot(queue: JobQueue, realtime: dict[str, Any] | None = None) -> Snapshot:
    """Read the status document (with this process' live sessions) and both histograms."""
    return Snapshot(
        status=await build_status(queue, realtime),
        latency=await stats.histograms(
            queue.redis, keys.STATS_LATENCY_HISTOGRAM, stats.LATENCY_BUCKETS_S
        ),
        real_time_factor=await stats.histograms(
            queue.redis, keys.STATS_RTF_HISTOGRAM, stats.RTF_BUCKETS
        ),
    )


def _gauge(name: str, doc: str, value: float, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{NS}_{name}", doc, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def _histogram(
    name: str, doc: str, label: str, series: dict[str, stats.Histogram]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(f"{NS}_{name}", doc, labels=[label])
    for value, histogram in series.items():
        family.add_metric([value], histogram.buckets, histogram.total)
    return family


def _queue_and_jobs(status: dict[str, Any]) -> Iterator[Metric]:
    yield _gauge("uptime_seconds", "Seconds since this API process started.", status["uptime_s"])
    depth = GaugeMetricFamily(f"{NS}_queue_depth", "Jobs waiting per lane.", labels=["lane"])
    for lane, count in status["queue"].items():
        if lane != "depth":
            depth.add_metric([lane], count)
    yield depth
    yield _gauge("workers", "Workers with a live heartbeat.", len(status["workers"]))
    yield _gauge(
        "jobs_in_progress", "Jobs running on any worker.", len(status["jobs"]["in_progress"])
    )
    yield _gauge(
        "jobs_per_minute",
        f"Jobs finished per minute over the last {stats.WINDOW_S} s.",
        status["jobs"]["per_minute"],
    )
    recent = GaugeMetricFamily(
        f"{NS}_recent_latency_seconds",
        f"Latency percentiles of the jobs finished in the last {stats.WINDOW_S} s.",
        labels=["quantile"],
    )
    for quantile, key in (("0.5", "p50"), ("0.95", "p95")):
        ms = status["jobs"]["latency_ms"][key]
        recent.add_metric([quantile], float("nan") if ms is None else ms / 1000)
    yield recent


def _models_and_workers(status: dict[str, Any]) -> Iterator[Metric]:
    loads = CounterMetricFamily(f"{NS}_model_loads", "Model loads by the live workers.")
    loads.add_metric([], status["models"]["loads"])
    yield loads
    evictions = CounterMetricFamily(
        f"{NS}_model_evictions", "Models evicted by the live workers to make room."
    )
    evictions.add_metric([], status["models"]["evictions"])
    yield evictions
    rtf = GaugeMetricFamily(
        f"{NS}_real_time_factor",
        "Inference time / audio time per engine over the live workers' lifetime.",
        labels=["engine"],
    )
    for engine, figures in status["engines"].items():
        rtf.add_metric([engine], figures["real_time_factor"])
    yield rtf
    names = ["worker", "device"]
    budget = GaugeMetricFamily(
        f"{NS}_worker_budget_bytes", "Memory a worker may fill with models.", labels=names
    )
    used = GaugeMetricFamily(
        f"{NS}_worker_used_bytes", "Memory a worker's loaded models take.", labels=names
    )
    done = CounterMetricFamily(f"{NS}_worker_jobs_done", "Jobs a worker finished.", labels=names)
    for worker in status["workers"]:
        values = [worker["worker_id"], worker["device"]]
        budget.add_metric(values, worker["budget_bytes"])
        used.add_metric(values, worker["used_bytes"])
        done.add_metric(values, worker["jobs_done"])
    yield from (budget, used, done)


def _realtime(realtime: dict[str, Any] | None) -> Iterator[Metric]:
    """Live transcription sessions of this API process (absent where none are served)."""
    if realtime is None:
        return
    yield _gauge("realtime_sessions_open", "Realtime sessions open now.", realtime["sessions_open"])
    total = CounterMetricFamily(f"{NS}_realtime_sessions", "Realtime sessions opened.")
    total.add_metric([], realtime["sessions_total"])
    yield total
    turns = CounterMetricFamily(
        f"{NS}_realtime_turns", "Realtime turns by outcome.", labels=["outcome"]
    )
    for outcome in ("committed", "completed", "failed"):
        turns.add_metric([outcome], realtime["turns"][outcome])
    yield turns
    delay = GaugeMetricFamily(
        f"{NS}_realtime_turn_delay_seconds",
        "Delay from speech_stopped to the turn's transcript, recent percentiles.",
        labels=["quantile"],
    )
    for quantile, key in (("0.5", "p50"), ("0.95", "p95")):
        ms = realtime["turn_delay_ms"][key]
        delay.add_metric([quantile], float("nan") if ms is None else ms / 1000)
    yield delay


def _front_doors(front_doors: dict[str, dict[str, dict[str, int]]]) -> Iterator[Metric]:
    """Requests the other front doors (the Wyoming server) answered, by kind and outcome."""
    family = CounterMetricFamily(
        f"{NS}_front_door_requests",
        "Requests answered by front doors other than this API, by outcome (ok or error code).",
        labels=["door", "kind", "outcome"],
    )
    for door, kinds in sorted(front_doors.items()):
        for kind, outcomes in sorted(kinds.items()):
            for outcome, count in sorted(outcomes.items()):
                family.add_metric([door, kind, outcome], count)
    yield family


class SnapshotCollector(Collector):
    """Yields the metric families of one snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """All families, in a stable order."""
        yield from _queue_and_jobs(self.snapshot.status)
        yield _histogram(
            "job_latency_seconds",
            "Time from enqueue to result of finished jobs (queue wait + run time).",
            "task",
            self.snapshot.latency,
        )
        yield _histogram(
            "inference_real_time_factor",
            "Inference time / audio time of single inferences.",
            "engine",
            self.snapshot.real_time_factor,
        )
        yield from _models_and_workers(self.snapshot.status)
        yield from _realtime(self.snapshot.status.get("realtime"))
        yield from _front_doors(self.snapshot.status.get("front_doors", {}))


def exposition(snapshot: Snapshot) -> bytes:
    """The snapshot in Prometheus' text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return generate_latest(registry)
