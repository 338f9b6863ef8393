"""Workers on two hosts sharing nothing but Redis (over TLS, with ACL users), in network
namespaces made by the test (see tests/two_hosts.py). Root and ``ip netns`` are needed."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import redis

from tests import speech_clips
from tests.harness import API_KEY
from tests.realtime_audio import chunks, sentence_pcm
from tests.speech_clips import SENTENCES, word_error_rate
from tests.two_hosts import TwoHosts, netns_unavailable, two_hosts

_why = netns_unavailable()
pytestmark = [
    pytest.mark.deploy,
    pytest.mark.netns,
    pytest.mark.skipif(_why is not None, reason=f"two-host tests: {_why}"),
    pytest.mark.timeout(900),  # two hosts' worth of work on the same shared cores
]

PAYLOAD_CAP = 2 * 1024 * 1024
"""Two 30 s chunks of 16 kHz s16 audio: the feeder must hold the rest back."""
CHUNK_BYTES = 30 * 16_000 * 2
"""The largest chunk here: one whisper window of 16 kHz s16 audio."""
SETTINGS = {
    "job_chunk_target_s": "30",
    "job_batch_size": "1",  # one clip (<= 30 s) per chunk: four chunks or more from 97 s
    "job_inflight_bytes_max": str(PAYLOAD_CAP),
    "janitor_interval_s": "0.5",
    "worker_heartbeat_ttl_s": "3",
    "speech_job_chunk_chars": "300",
}
LINK_DOWN_S = 2 * float(SETTINGS["worker_heartbeat_ttl_s"])
"""Long past the heartbeat TTL: box takes the remote worker for dead and requeues its chunk
(the janitor looks every 0.5 s), while gpu2's connection outlives the outage."""


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[TwoHosts]:
    with two_hosts(tmp_path_factory.mktemp("two-hosts"), models_dir, **SETTINGS) as made:
        yield made


@pytest.fixture(scope="module")
def long_clip() -> tuple[bytes, str]:
    """About 97 s of speech: four chunks or more, twice the payload cap."""
    return speech_clips.long_clip(4)


def _submit(hosts: TwoHosts, audio: bytes) -> str:
    fields = {"model": "whisper-1", "response_format": "verbose_json"}
    response = hosts.http("POST", "/v1/audio/jobs", files={"file": ("a.wav", audio)}, data=fields)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def _wait(hosts: TwoHosts, job_id: str, timeout_s: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = hosts.http("GET", f"/v1/audio/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end")


def _check_transcript(hosts: TwoHosts, job_id: str, expected: str) -> None:
    """Nothing lost, nothing twice: the words match and segments move forward."""
    result = hosts.http("GET", f"/v1/audio/jobs/{job_id}/result").json()
    assert word_error_rate(expected, result["text"]) < 0.15, result["text"]
    starts = [s["start"] for s in result["segments"]]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)


def _wait_until_gpu2_runs_a_chunk(hosts: TwoHosts, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    assert hosts.gpu2_worker is not None
    while time.monotonic() < deadline:
        workers = hosts.http("GET", "/system/audio/status").json()["workers"]
        if any(w["pid"] == hosts.gpu2_worker.pid and w["current_jobs"] for w in workers):
            return
        time.sleep(0.2)
    raise AssertionError("gpu2 never took a chunk")


class MemorySampler:
    """Samples Redis's used memory and the job payload ledger while a job runs."""

    def __init__(self, hosts: TwoHosts) -> None:
        self.redis = hosts.admin_redis()
        self.baseline = int(self.redis.info("memory")["used_memory"])
        self.peak_used = self.baseline
        self.peak_payload = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak_used = max(self.peak_used, int(self.redis.info("memory")["used_memory"]))
            ledger = self.redis.hvals("nda:chunks:inflight")
            self.peak_payload = max(self.peak_payload, sum(int(v) for v in ledger))

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.redis.close()


def test_redis_refuses_wrong_certificates_users_and_commands(hosts: TwoHosts) -> None:
    url = hosts.worker_url_over_tls()
    env = hosts.gpu2_env
    tls = {
        "ssl_ca_certs": env["NEURALDRIVE_AUDIO_REDIS_TLS_CA_FILE"],
        "ssl_certfile": env["NEURALDRIVE_AUDIO_REDIS_TLS_CERT_FILE"],
        "ssl_keyfile": env["NEURALDRIVE_AUDIO_REDIS_TLS_KEY_FILE"],
        "ssl_cert_reqs": "required",
    }

    def over_tls(url: str, **options: str) -> redis.Redis:
        return redis.Redis.from_url(url, socket_connect_timeout=5, **options)

    def probe() -> dict[str, str]:
        seen = {}
        worker = over_tls(url, **tls)
        seen["worker ping"] = str(worker.ping())
        for name, command in {
            "worker reads the feeder lock": ("GET", "nda:feeder:lock"),
            "worker creates job records": ("ZADD", "nda:jobs", "1", "job_x"),
            "worker flushes": ("FLUSHALL",),
            "worker reconfigures": ("CONFIG", "SET", "maxmemory", "1"),
        }.items():
            try:
                worker.execute_command(*command)
                seen[name] = "allowed"
            except redis.exceptions.NoPermissionError:
                seen[name] = "refused"
        worker.close()
        no_cert = {k: v for k, v in tls.items() if k not in ("ssl_certfile", "ssl_keyfile")}
        for name, attempt in {
            "no client certificate": lambda: over_tls(url, **no_cert).ping(),
            "wrong user": lambda: over_tls(url.replace("//worker:", "//api:"), **tls).ping(),
            "plain TCP": lambda: over_tls(url.replace("rediss://", "redis://")).ping(),
        }.items():
            try:
                attempt()
                seen[name] = "allowed"
            except (redis.exceptions.ConnectionError, redis.exceptions.AuthenticationError,
                    redis.exceptions.ResponseError):  # fmt: skip
                seen[name] = "refused"
        return seen

    seen = hosts.gpu2.call(probe)
    assert seen == {
        "worker ping": "True",
        "worker reads the feeder lock": "refused",
        "worker creates job records": "refused",
        "worker flushes": "refused",
        "worker reconfigures": "refused",
        "no client certificate": "refused",
        "wrong user": "refused",
        "plain TCP": "refused",
    }
    api = redis.Redis.from_url(hosts.api_env["NEURALDRIVE_AUDIO_REDIS_URL"])
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            api.set("nda:worker:forged", "{}")  # heartbeats are the workers' to write
        with pytest.raises(redis.exceptions.NoPermissionError):
            api.execute_command("SHUTDOWN", "NOSAVE")
        assert api.get("nda:feeder:lock") is not None  # the API's own keys are its own
    finally:
        api.close()


def test_async_transcription_runs_on_both_hosts_within_the_payload_cap(
    hosts: TwoHosts, long_clip: tuple[bytes, str]
) -> None:
    with MemorySampler(hosts) as memory:
        job_id = _submit(hosts, long_clip[0])
        job = _wait(hosts, job_id)
    grown = memory.peak_used - memory.baseline
    print(f"\nlong job: Redis used memory +{grown / 1e6:.2f} MB at peak (baseline "
          f"{memory.baseline / 1e6:.1f} MB), payload ledger peak {memory.peak_payload / 1e6:.2f}"
          f" MB, cap {PAYLOAD_CAP / 1e6:.2f} MB, chunks {job['chunks_total']}")  # fmt: skip
    assert job["status"] == "completed", job
    # More chunks than fit under the cap at once: the feeder had to hold some back.
    assert job["chunks_total"] > PAYLOAD_CAP // CHUNK_BYTES
    _check_transcript(hosts, job_id, long_clip[1])
    ids = hosts.live_worker_pids()
    by_pid = {pid: worker for worker, pid in ids.items()}
    assert hosts.box_worker is not None and hosts.gpu2_worker is not None
    ran = job["chunk_workers"]
    assert sorted(ran, key=int) == [str(i) for i in range(job["chunks_total"])]
    assert set(ran.values()) == {by_pid[hosts.box_worker.pid], by_pid[hosts.gpu2_worker.pid]}
    assert 0 < memory.peak_payload <= PAYLOAD_CAP
    # Stored payloads stay under the cap. Redis also keeps a client's query buffer after a
    # big write for a while (up to about one chunk per connection that sent one: the API's
    # pool and the workers), which is what the rest of the growth is.
    assert grown < PAYLOAD_CAP + 4 * CHUNK_BYTES
    # Only the API host keeps job files; the worker host has its models and nothing else.
    assert (hosts.box.root / "data" / "jobs" / job_id / "result.json").exists()
    assert not (hosts.gpu2.root / "data" / "jobs").exists()
    status = hosts.http("GET", "/system/audio/status").json()["jobs"]
    assert status["payload_bytes_max"] == PAYLOAD_CAP and status["payload_bytes"] == 0


def test_long_speech_job_across_hosts(hosts: TwoHosts) -> None:
    text = " ".join(SENTENCES * 2)
    response = hosts.http("POST", "/v1/audio/jobs", json={
        "task": "speech", "model": "piper/en_US-joe-medium", "voice": "alloy", "input": text,
        "response_format": "wav",
    })  # fmt: skip
    assert response.status_code == 202, response.text
    job = _wait(hosts, response.json()["id"])
    assert job["status"] == "completed", job
    assert job["chunks_total"] > 1 and len(job["chunk_workers"]) == job["chunks_total"]
    audio = hosts.http("GET", f"/v1/audio/jobs/{job['id']}/result").content
    seconds = (len(audio) - 44) / 2 / 24000  # the service speaks 24 kHz s16 WAV
    assert seconds > len(text) / 25  # every chunk is in the file
    assert not (hosts.gpu2.root / "data" / "jobs").exists()


def test_sync_requests_served_by_the_remote_worker_alone(
    hosts: TwoHosts, speech_clip: tuple[bytes, str]
) -> None:
    assert hosts.box_worker is not None and hosts.gpu2_worker is not None
    hosts.box.stop(hosts.box_worker)
    try:
        deadline = time.monotonic() + 30
        while set(hosts.live_worker_pids().values()) != {hosts.gpu2_worker.pid}:
            assert time.monotonic() < deadline, "box's worker did not go away"
            time.sleep(0.3)
        audio, text = speech_clip
        transcript = hosts.openai(lambda c: c.audio.transcriptions.create(
            model="whisper-1", file=("clip.wav", audio)))  # fmt: skip
        assert word_error_rate(text, transcript.text) < 0.2
        speech = hosts.openai(lambda c: c.audio.speech.create(
            model="tts-1", voice="alloy", input="Hello from the other host.",
            response_format="wav").content)  # fmt: skip
        assert speech[:4] == b"RIFF" and len(speech) > 24000
        assert not (hosts.gpu2.root / "data" / "jobs").exists()
    finally:
        hosts.start_box_worker()
        hosts.wait_for_workers({hosts.box_worker.pid, hosts.gpu2_worker.pid})


def test_killing_the_remote_worker_mid_chunk(hosts: TwoHosts, long_clip: tuple[bytes, str]) -> None:
    job_id = _submit(hosts, long_clip[0])
    _wait_until_gpu2_runs_a_chunk(hosts)
    assert hosts.gpu2_worker is not None
    hosts.gpu2.stop(hosts.gpu2_worker, signal.SIGKILL)
    hosts.start_gpu2_worker()
    job = _wait(hosts, job_id)
    assert job["status"] == "completed", job
    _check_transcript(hosts, job_id, long_clip[1])


def test_link_down_past_the_heartbeat_ttl_mid_job(
    hosts: TwoHosts, long_clip: tuple[bytes, str]
) -> None:
    job_id = _submit(hosts, long_clip[0])
    _wait_until_gpu2_runs_a_chunk(hosts)
    hosts.set_link(up=False)
    time.sleep(LINK_DOWN_S)
    hosts.set_link(up=True)
    job = _wait(hosts, job_id)
    assert job["status"] == "completed", job
    _check_transcript(hosts, job_id, long_clip[1])
    assert hosts.gpu2_worker is not None and hosts.gpu2_worker.poll() is None
    hosts.wait_for_workers({hosts.gpu2_worker.pid}, timeout_s=60)  # it reconnected


def test_a_realtime_turn_is_transcribed_by_the_remote_worker(hosts: TwoHosts) -> None:
    assert hosts.box_worker is not None and hosts.gpu2_worker is not None
    hosts.box.stop(hosts.box_worker)  # so the turn can only run on gpu2
    session = {
        "type": "session.update",
        "session": {"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "whisper-1", "language": "en"},
            "turn_detection": None,
        }}},
    }  # fmt: skip

    async def turn() -> str:
        client = openai.AsyncOpenAI(base_url=f"{hosts.api_url}/v1", api_key=API_KEY)
        async with client.realtime.connect(extra_query={"intent": "transcription"}) as rt:
            await rt.send(session)  # type: ignore[arg-type]
            for piece in chunks(sentence_pcm(SENTENCES[2]).tobytes(), 4800):
                await rt.input_audio_buffer.append(audio=piece)
            await rt.input_audio_buffer.commit()
            async for event in rt:
                if event.type == "conversation.item.input_audio_transcription.completed":
                    return str(event.transcript)  # type: ignore[union-attr]
                assert event.type != "error", event
        raise AssertionError("the session ended without a transcript")

    try:
        deadline = time.monotonic() + 30
        while set(hosts.live_worker_pids().values()) != {hosts.gpu2_worker.pid}:
            assert time.monotonic() < deadline, "box's worker did not go away"
            time.sleep(0.3)
        text = hosts.box.call(lambda: asyncio.run(asyncio.wait_for(turn(), 180)))
        assert word_error_rate(SENTENCES[2], text) <= 0.15, text
    finally:
        hosts.start_box_worker()
        hosts.wait_for_workers({hosts.box_worker.pid, hosts.gpu2_worker.pid})
