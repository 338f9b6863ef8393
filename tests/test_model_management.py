"""Load/unload over HTTP, status, metrics, eviction, dead workers and model affinity."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import RedisServer, Service
from tests.speech_clips import SENTENCES, make_clip

pytestmark = pytest.mark.service

WHISPER = "Systran/faster-whisper-tiny.en"
KOKORO = "kokoro-82m"
PIPER = "piper/en_US-joe-medium"


def _loaded(service: Service) -> dict[str, dict[str, Any]]:
    """model id -> loaded-model info, over all workers."""
    return {m["id"]: m for w in service.status()["workers"] for m in w["loaded_models"]}


def _post(service: Service, path: str, body: dict[str, Any] | None = None) -> Any:
    with service.http() as http:
        return http.post(path, json=body)


def test_load_pin_unload_over_http(service: Service) -> None:
    response = _post(service, "/v1/audio/models/piper%2Fen_US-joe-medium/load", {"pin": True})
    assert response.status_code == 200, response.text
    assert response.json()["pinned"] is True
    assert _loaded(service)[PIPER]["pinned"] is True
    with service.http() as http:
        listing = http.get("/v1/audio/models").json()["data"]
    piper = next(m for m in listing if m["id"] == PIPER)
    assert piper["loaded_on"] and piper["voices"] == ["en_US-joe-medium"]

    response = _post(service, f"/v1/audio/models/{PIPER}/unload")
    assert response.status_code == 200, response.text
    assert PIPER not in _loaded(service)
    again = _post(service, f"/v1/audio/models/{PIPER}/unload")
    assert again.status_code == 404 and again.json()["error"]["code"] == "model_not_loaded"


def test_management_errors(service: Service) -> None:
    assert _post(service, "/v1/audio/models/nope/load").json()["error"]["code"] == "model_not_found"
    wrong_worker = _post(service, f"/v1/audio/models/{PIPER}/load", {"worker_id": "ghost"})
    assert wrong_worker.status_code == 404
    assert _post(service, f"/v1/audio/models/{PIPER}/load", {"pin": "sometimes"}).status_code == 400


def test_status_and_metrics_report_work(service: Service) -> None:
    client = service.client()
    client.audio.transcriptions.create(model="whisper-1", file=("a.wav", make_clip(SENTENCES[0])))
    client.audio.speech.create(model=PIPER, voice="alloy", input="Status check.").read()
    status = service.status()
    assert status["queue"]["depth"] == 0 and status["uptime_s"] > 0
    assert status["jobs"]["per_minute"] > 0 and status["jobs"]["latency_ms"]["p50"] > 0
    assert 0 < status["engines"]["whisper"]["real_time_factor"] < 1
    assert status["models"]["loads"] >= 2
    with service.http() as http:
        response = http.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=")
    metrics = response.text
    assert "# HELP neuraldrive_audio_job_latency_seconds " in metrics
    assert "# TYPE neuraldrive_audio_job_latency_seconds histogram" in metrics
    assert "# TYPE neuraldrive_audio_inference_real_time_factor histogram" in metrics
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    rtf = {
        s.labels["engine"]: s.value for s in families["neuraldrive_audio_real_time_factor"].samples
    }
    assert 0 < rtf["whisper"] < 1
    assert families["neuraldrive_audio_worker_used_bytes"].samples[0].value > 0
    latency = families["neuraldrive_audio_job_latency_seconds"].samples
    counts = {s.labels["task"]: s.value for s in latency if s.name.endswith("_count")}
    assert counts["transcribe"] >= 1 and counts["speech"] >= 1
    inf = [s for s in latency if s.labels.get("le") == "+Inf" and s.labels["task"] == "speech"]
    assert inf[0].value == counts["speech"]
    histogram = families["neuraldrive_audio_inference_real_time_factor"].samples
    whisper = [s for s in histogram if s.labels["engine"] == "whisper"]
    buckets = [s.value for s in whisper if s.name.endswith("_bucket")]
    assert buckets == sorted(buckets) and buckets[-1] >= 1


def test_eviction_under_budget_shows_in_status(
    redis_server: RedisServer, models_dir: Path, tmp_path: Path
) -> None:
    probe = Service.start(f"{redis_server.url}/7", tmp_path / "probe", models_dir)
    try:
        for model in (WHISPER, KOKORO, PIPER):
            assert _post(probe, f"/v1/audio/models/{model}/load").status_code == 200
        costs = {m: info["bytes"] for m, info in _loaded(probe).items()}
    finally:
        probe.stop()
    # Same load order in a fresh worker, with room for Kokoro and Piper but not all three.
    # The budget sits half of Whisper's cost away from both edges: costs are measured at
    # load (RSS before/after), so they differ a little from one process to the next.
    budget = costs[KOKORO] + costs[PIPER] + costs[WHISPER] // 2
    svc = Service.start(f"{redis_server.url}/8", tmp_path / "svc", models_dir,
                        worker_memory_budget_bytes=str(budget))  # fmt: skip
    try:
        for model in (WHISPER, KOKORO, PIPER):
            assert _post(svc, f"/v1/audio/models/{model}/load").status_code == 200
        loaded = _loaded(svc)
        assert WHISPER not in loaded and {KOKORO, PIPER} <= set(loaded)
        worker = svc.status()["workers"][0]
        assert worker["evictions"] == 1 and worker["used_bytes"] <= worker["budget_bytes"]
    finally:
        svc.stop()


@pytest.mark.chaos
def test_killed_worker_vanishes_from_status(
    redis_server: RedisServer, models_dir: Path, tmp_path: Path
) -> None:
    # A short heartbeat TTL: the dead worker drops out in ~2 s instead of the default 4.
    svc = Service.start(f"{redis_server.url}/9", tmp_path, models_dir, workers=2,
                        worker_heartbeat_ttl_s="2")  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while len(svc.status()["workers"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        svc.kill_worker(svc.workers[0])
        killed_at = time.monotonic()
        while len(svc.status()["workers"]) != 1:
            assert time.monotonic() - killed_at < 8, "dead worker still listed"
            time.sleep(0.2)
    finally:
        svc.stop()


def test_alternating_models_on_two_workers_do_not_reload(
    redis_server: RedisServer, models_dir: Path, tmp_path: Path
) -> None:
    # Each worker has room for one of the two models: without affinity they would thrash.
    svc = Service.start(f"{redis_server.url}/10", tmp_path, models_dir, workers=2,
                        worker_memory_budget_bytes=str(130 * 1024 * 1024))  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while len(svc.status()["workers"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        client = svc.client()
        clip = make_clip(SENTENCES[1])

        def one_round() -> None:
            client.audio.transcriptions.create(model="whisper-1", file=("a.wav", clip))
            client.audio.speech.create(model=PIPER, voice="alloy", input="One more.").read()

        # Warm up until each worker holds one of the models (the first placements load).
        for _ in range(6):
            one_round()
            if sorted(len(w["loaded_models"]) for w in svc.status()["workers"]) == [1, 1]:
                break
        loads_before = sum(w["loads"] for w in svc.status()["workers"])
        for _ in range(5):
            one_round()
        time.sleep(1.5)
        workers = svc.status()["workers"]
        assert sum(w["loads"] for w in workers) == loads_before
        assert sorted(len(w["loaded_models"]) for w in workers) == [1, 1]
    finally:
        svc.stop()
