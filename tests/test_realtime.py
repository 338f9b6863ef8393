"""Live transcription over /v1/realtime with the official SDK against the real service."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
import websockets
from openai.resources.realtime.realtime import AsyncRealtimeConnection

from neuraldrive_audio.media import g711
from tests.harness import API_KEY, RedisServer, Service
from tests.realtime_audio import (
    chunks,
    sentence_pcm,
    spoken_turns,
    stream_at_once,
)
from tests.speech_clips import SENTENCES, word_error_rate

pytestmark = pytest.mark.service

Event = dict[str, Any]
COMPLETED = "conversation.item.input_audio_transcription.completed"
DELTA = "conversation.item.input_audio_transcription.delta"
PCM = {"type": "audio/pcm", "rate": 24000}


def _session(fmt: dict[str, Any] = PCM, turn_detection: Any = "server_vad") -> Event:
    detection = {"type": "server_vad"} if turn_detection == "server_vad" else turn_detection
    return {
        "type": "session.update",
        "session": {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": fmt,
                    "transcription": {"model": "whisper-1", "language": "en"},
                    "turn_detection": detection,
                }
            },
        },
    }


def _connect(service: Service, api_key: str = API_KEY) -> Any:
    client = openai.AsyncOpenAI(base_url=f"{service.base_url}/v1", api_key=api_key)
    return client.realtime.connect(extra_query={"intent": "transcription"})


class Recorder:
    """Reads every server event into a list, in order, with its arrival time."""

    def __init__(self, connection: AsyncRealtimeConnection) -> None:
        self.events: list[Event] = []
        self.times: list[float] = []
        self._task = asyncio.create_task(self._read(connection))

    async def _read(self, connection: AsyncRealtimeConnection) -> None:
        async for event in connection:
            self.events.append(event.model_dump())
            self.times.append(time.monotonic())

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e["type"] == kind]

    async def wait(self, done: Callable[[list[Event]], bool], timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not done(self.events):
            if self._task.done():
                raise AssertionError(f"connection ended; events: {self.types()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; events: {self.types()}")
            await asyncio.sleep(0.02)

    async def wait_for(self, kind: str, count: int = 1, timeout_s: float = 60) -> list[Event]:
        await self.wait(lambda events: len(self.of(kind)) >= count, timeout_s)
        return self.of(kind)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    async def stop(self) -> None:
        self._task.cancel()


async def _send_audio(connection: AsyncRealtimeConnection, audio: bytes, rate_bytes: int) -> None:
    """The audio in 100 ms chunks as fast as the socket takes them: the VAD's decisions
    depend on samples, not on their pace (see ``stream_at_once``)."""

    async def send(chunk: str) -> None:
        await connection.input_audio_buffer.append(audio=chunk)

    await stream_at_once(send, audio, rate_bytes)


async def test_server_vad_gives_one_transcript_per_sentence(service: Service) -> None:
    sentences = SENTENCES[:3]
    audio = spoken_turns(sentences).tobytes()
    async with _connect(service) as connection:
        recorder = Recorder(connection)
        await recorder.wait_for("session.created")
        await connection.send(_session())  # type: ignore[arg-type]
        await recorder.wait_for("session.updated")
        # At once: the VAD finds the same turns on the samples' own timeline; the one
        # microphone-paced test is test_voice_session's barge-in (a latency in wall time).
        await _send_audio(connection, audio, 48000)
        completed = await recorder.wait_for(COMPLETED, len(sentences))
        await asyncio.sleep(0.5)  # nothing more may come
        await recorder.stop()
    assert len(recorder.of(COMPLETED)) == len(sentences), recorder.types()
    committed = recorder.of("input_audio_buffer.committed")
    started = recorder.of("input_audio_buffer.speech_started")
    stopped = recorder.of("input_audio_buffer.speech_stopped")
    assert len(committed) == len(started) == len(stopped) == len(sentences)
    assert [c["item_id"] for c in committed] == [s["item_id"] for s in stopped]
    assert committed[0]["previous_item_id"] is None
    assert committed[1]["previous_item_id"] == committed[0]["item_id"]
    assert all(
        s["audio_start_ms"] < t["audio_end_ms"] for s, t in zip(started, stopped, strict=True)
    )
    by_item = {c["item_id"]: c for c in completed}
    for sentence, commit in zip(sentences, committed, strict=True):
        item = commit["item_id"]
        result = by_item[item]
        # Per turn one word may differ (tiny.en writes "favorite"); the whole stays <= 10 %.
        assert word_error_rate(sentence, result["transcript"]) <= 0.2, result["transcript"]
        assert result["usage"]["type"] == "duration" and result["usage"]["seconds"] > 1
        kinds = [(e["type"], e.get("item_id")) for e in recorder.events]
        deltas = [i for i, k in enumerate(kinds) if k == (DELTA, item)]
        assert deltas and max(deltas) < kinds.index((COMPLETED, item))
        text = "".join(e["delta"] for e in recorder.of(DELTA) if e["item_id"] == item)
        assert text.strip() == result["transcript"]
    whole = " ".join(by_item[c["item_id"]]["transcript"] for c in committed)
    assert word_error_rate(" ".join(sentences), whole) <= 0.10


async def test_legacy_transcription_session_update(service: Service) -> None:
    async with _connect(service) as connection:
        recorder = Recorder(connection)
        await connection.send(
            {  # type: ignore[arg-type]
                "type": "transcription_session.update",
                "session": {
                    "input_audio_format": "pcm16",
                    "input_audio_transcription": {"model": "whisper-1", "language": "en"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 400},
                    "input_audio_noise_reduction": {"type": "near_field"},
                },
            }
        )
        (updated,) = await recorder.wait_for("transcription_session.updated")
        session = updated["session"]
        assert session["input_audio_format"] == "pcm16"
        assert session["input_audio_transcription"]["model"] == "whisper-1"
        assert session["turn_detection"]["silence_duration_ms"] == 400
        await _send_audio(connection, spoken_turns(SENTENCES[3:4]).tobytes(), 48000)
        (completed,) = await recorder.wait_for(COMPLETED)
        await recorder.stop()
    assert word_error_rate(SENTENCES[3], completed["transcript"]) <= 0.10


async def test_manual_commits(service: Service) -> None:
    async with _connect(service) as connection:
        recorder = Recorder(connection)
        await connection.send(_session(turn_detection=None))  # type: ignore[arg-type]
        (updated,) = await recorder.wait_for("session.updated")
        assert updated["session"]["audio"]["input"]["turn_detection"] is None
        await connection.input_audio_buffer.commit(event_id="evt_empty")
        (error,) = await recorder.wait_for("error")
        assert error["error"]["code"] == "input_audio_buffer_commit_empty"
        assert error["error"]["event_id"] == "evt_empty"
        for sentence in SENTENCES[4:6]:
            for chunk in chunks(sentence_pcm(sentence).tobytes(), 4800):
                await connection.input_audio_buffer.append(audio=chunk)
            await connection.input_audio_buffer.commit()
        # Audio that is cleared never becomes a turn.
        await connection.input_audio_buffer.append(
            audio=chunks(sentence_pcm(SENTENCES[0]).tobytes(), 10**9)[0]
        )
        await connection.input_audio_buffer.clear()
        await recorder.wait_for("input_audio_buffer.cleared")
        completed = await recorder.wait_for(COMPLETED, 2)
        await asyncio.sleep(0.5)
        await recorder.stop()
    assert not recorder.of("input_audio_buffer.speech_started")
    committed = [c["item_id"] for c in recorder.of("input_audio_buffer.committed")]
    assert len(committed) == 2
    texts = {c["item_id"]: c["transcript"] for c in completed}
    for sentence, item in zip(SENTENCES[4:6], committed, strict=True):
        assert word_error_rate(sentence, texts[item]) <= 0.10, texts[item]


@pytest.mark.parametrize("codec", ["audio/pcmu", "audio/pcma"])
async def test_g711_input(service: Service, codec: str) -> None:
    encode = g711.encode_mulaw if codec == "audio/pcmu" else g711.encode_alaw
    audio = encode(spoken_turns(SENTENCES[6:7], rate=8000))
    async with _connect(service) as connection:
        recorder = Recorder(connection)
        await connection.send(_session(fmt={"type": codec}))  # type: ignore[arg-type]
        (updated,) = await recorder.wait_for("session.updated")
        assert updated["session"]["audio"]["input"]["format"] == {"type": codec}
        await _send_audio(connection, audio, 8000)
        (completed,) = await recorder.wait_for(COMPLETED)
        await recorder.stop()
    assert word_error_rate(SENTENCES[6], completed["transcript"]) <= 0.10


async def test_bad_events_get_error_events_and_the_session_goes_on(service: Service) -> None:
    async with _connect(service) as connection:
        recorder = Recorder(connection)
        await recorder.wait_for("session.created")
        await connection.send({"type": "no.such.event", "event_id": "evt_1"})  # type: ignore[arg-type]
        await connection.send(
            {"type": "input_audio_buffer.append", "audio": "@@not base64@@", "event_id": "evt_2"}  # type: ignore[arg-type]
        )
        await connection.send_raw("{not json")  # type: ignore[attr-defined]
        mp3 = {"type": "transcription", "audio": {"input": {"format": {"type": "audio/mp3"}}}}
        await connection.send({"type": "session.update", "event_id": "evt_3", "session": mp3})  # type: ignore[arg-type]
        await connection.send(
            {"type": "session.update", "session": {"type": "realtime"}, "event_id": "evt_4"}
        )  # type: ignore[arg-type]
        await connection.send(_session(turn_detection=None))  # type: ignore[arg-type]
        await recorder.wait_for("session.updated")
        errors = [e["error"] for e in recorder.of("error")]
        await recorder.stop()
    assert [e["event_id"] for e in errors] == ["evt_1", "evt_2", None, "evt_3", "evt_4"]
    assert errors[0]["param"] == "type" and "no.such.event" in errors[0]["message"]
    assert errors[1]["code"] == "invalid_base64" and errors[1]["param"] == "audio"
    assert errors[2]["code"] == "invalid_json"
    assert errors[3]["param"] == "session.audio.input.format"
    assert errors[4]["param"] == "session.type" and "Cannot change" in errors[4]["message"]
    assert all(e["type"] == "invalid_request_error" for e in errors)


def _ws_url(service: Service) -> str:
    return service.base_url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"


async def test_wrong_key_is_refused_with_401_before_the_upgrade(service: Service) -> None:
    with pytest.raises(websockets.InvalidStatus) as header_refusal:
        async with _connect(service, api_key="wrong-key"):
            pass
    assert header_refusal.value.response.status_code == 401
    assert json.loads(header_refusal.value.response.body)["error"]["code"] == "invalid_api_key"
    for protocols in (["realtime", "openai-insecure-api-key.wrong-key"], ["realtime"]):
        with pytest.raises(websockets.InvalidStatus) as refusal:
            async with websockets.connect(_ws_url(service), subprotocols=protocols):  # type: ignore[arg-type]
                pass
        assert refusal.value.response.status_code == 401


async def test_browser_subprotocol_key_is_accepted(service: Service) -> None:
    protocols = ["realtime", f"openai-insecure-api-key.{API_KEY}"]
    async with websockets.connect(_ws_url(service), subprotocols=protocols) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "realtime"
        created = json.loads(await ws.recv())
    assert created["type"] == "session.created"
    assert created["session"]["type"] == "transcription"


def _busy(service: Service) -> bool:
    return any(w["jobs_in_progress"] for w in service.status()["workers"])


async def test_client_disconnect_aborts_the_turns_job(service: Service) -> None:
    long_turn = np.concatenate([sentence_pcm(s) for s in SENTENCES * 4]).tobytes()
    async with _connect(service) as connection:
        recorder = Recorder(connection)
        await connection.send(_session(turn_detection=None))  # type: ignore[arg-type]
        await recorder.wait_for("session.updated")
        for chunk in chunks(long_turn, 240_000):
            await connection.input_audio_buffer.append(audio=chunk)
        await connection.input_audio_buffer.commit()
        await recorder.wait_for("input_audio_buffer.committed")
        deadline = time.monotonic() + 30
        while not await asyncio.to_thread(_busy, service):
            assert time.monotonic() < deadline, "the turn never started on the worker"
            await asyncio.sleep(0.05)
        await recorder.stop()
    left = time.monotonic()
    # Whisper needs several seconds for this turn; an aborted job frees the worker sooner.
    while await asyncio.to_thread(_busy, service):
        assert time.monotonic() - left < 4, "the turn's job kept running after the client left"
        await asyncio.sleep(0.05)
    assert not recorder.of(COMPLETED)


async def test_status_and_metrics_count_sessions_and_turns(service: Service) -> None:
    async with _connect(service) as connection:
        recorder = Recorder(connection)
        await recorder.wait_for("session.created")
        status = await asyncio.to_thread(service.status)
        assert status["realtime"]["sessions_open"] >= 1
        await recorder.stop()
    with service.http() as http:
        metrics = http.get("/metrics").text
    assert "neuraldrive_audio_realtime_sessions_open" in metrics
    assert 'neuraldrive_audio_realtime_turns_total{outcome="completed"}' in metrics
    assert 'neuraldrive_audio_realtime_turn_delay_seconds{quantile="0.5"}' in metrics


async def test_session_limits_buffer_cap_and_no_worker(
    redis_server: RedisServer, models_dir: Path, tmp_path: Path
) -> None:
    svc = Service.start(f"{redis_server.url}/3", tmp_path, models_dir, workers=0, wait=False,
                        realtime_max_sessions_per_key="1", realtime_max_buffer_s="1")  # fmt: skip
    try:
        svc.wait_healthy(status=503)
        async with _connect(svc) as first:
            await first.recv()
            with pytest.raises(websockets.InvalidStatus) as refusal:
                async with _connect(svc):
                    pass
            response = refusal.value.response
            assert response.status_code == 429
            assert json.loads(response.body)["error"]["code"] == "session_limit_reached"
        # Closing the first session frees its place.
        async with _connect(svc) as again:
            recorder = Recorder(again)
            await again.send(_session(turn_detection=None))  # type: ignore[arg-type]
            await recorder.wait_for("session.updated")
            # 1.5 s uncommitted against a 1 s cap: committed by the server, nothing lost...
            for chunk in chunks(sentence_pcm(SENTENCES[0])[:36000].tobytes(), 4800):
                await again.input_audio_buffer.append(audio=chunk)
            (committed,) = await recorder.wait_for("input_audio_buffer.committed")
            # ...and with no worker alive the turn fails with a retryable error; the session
            # still answers.
            (failed,) = await recorder.wait_for(
                "conversation.item.input_audio_transcription.failed"
            )
            assert failed["item_id"] == committed["item_id"]
            assert failed["error"]["code"] == "backend_unavailable"
            await again.input_audio_buffer.clear()
            await recorder.wait_for("input_audio_buffer.cleared")
            await recorder.stop()
    finally:
        svc.stop()


@pytest.mark.chaos
async def test_a_worker_dying_mid_turn_fails_that_turn_only(
    redis_server: RedisServer, models_dir: Path, tmp_path: Path
) -> None:
    svc = Service.start(f"{redis_server.url}/4", tmp_path, models_dir,
                        worker_heartbeat_ttl_s="2", job_max_tries="1")  # fmt: skip
    try:
        long_turn = np.concatenate([sentence_pcm(s) for s in SENTENCES * 4]).tobytes()
        async with _connect(svc) as connection:
            recorder = Recorder(connection)
            await connection.send(_session(turn_detection=None))  # type: ignore[arg-type]
            await recorder.wait_for("session.updated")
            for chunk in chunks(long_turn, 240_000):
                await connection.input_audio_buffer.append(audio=chunk)
            await connection.input_audio_buffer.commit()
            deadline = time.monotonic() + 30
            while not await asyncio.to_thread(_busy, svc):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            svc.kill_worker(svc.workers[0])
            (failed,) = await recorder.wait_for(
                "conversation.item.input_audio_transcription.failed", timeout_s=30
            )
            assert failed["error"]["type"] == "server_error"
            # The session goes on: a new worker transcribes the next turn.
            svc.start_worker()
            await asyncio.to_thread(svc.wait_healthy)
            for chunk in chunks(sentence_pcm(SENTENCES[1]).tobytes(), 48000):
                await connection.input_audio_buffer.append(audio=chunk)
            await connection.input_audio_buffer.commit()
            (completed,) = await recorder.wait_for(COMPLETED, timeout_s=60)
            await recorder.stop()
        assert word_error_rate(SENTENCES[1], completed["transcript"]) <= 0.10
    finally:
        svc.stop()
