"""Who speaks a voice agent's replies when no reply model is named (``voice_tts_policy``):
on a box whose workers have no GPU, OpenAI's voice names go to the fastest CPU voice (Piper),
a voice only Kokoro has stays Kokoro's; with a GPU, or with the policy ``default``, the
default TTS model speaks. The workers' devices come from their heartbeats (fakeredis here),
and a conversation session's ``session.created`` names the voice that will speak (also
checked once on the shared CPU service)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis

from neuraldrive_audio.api.realtime.emitter import EventEmitter
from neuraldrive_audio.api.realtime.responder import ReplyBackend
from neuraldrive_audio.api.realtime.session import (
    ConversationBackend,
    RealtimeSession,
    SessionLimits,
)
from neuraldrive_audio.api.realtime.session_config import SessionConfig
from neuraldrive_audio.api.realtime.session_registry import RealtimeRegistry
from neuraldrive_audio.config import Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.queue import heartbeat
from neuraldrive_audio.queue.client import JobQueue
from neuraldrive_audio.queue.heartbeat import WorkerHeartbeat
from neuraldrive_audio.service.errors import ServiceError
from neuraldrive_audio.service.names import (
    ResolvedVoice,
    fastest_cpu_speech_model,
    resolve_reply_voice,
)
from neuraldrive_audio.service.speech_service import SpeechService
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import Service
from tests.realtime_events import validate_strictly
from tests.test_voice_session_unit import FakeReplies

KOKORO = "kokoro-82m"
PIPER = "piper/en_US-joe-medium"
JOE = "en_US-joe-medium"


@pytest.fixture
def catalog(models_dir: Path) -> ModelCatalog:
    return ModelCatalog(ModelStore(models_dir))


def test_openai_voices_go_to_the_fastest_cpu_voice_without_a_gpu(catalog: ModelCatalog) -> None:
    settings = Settings()
    for name in ("alloy", "marin", "default", "ALLOY"):
        assert resolve_reply_voice(name, catalog, settings, gpu=False) == ResolvedVoice(PIPER, JOE)
    assert resolve_reply_voice(JOE, catalog, settings, gpu=False) == ResolvedVoice(PIPER, JOE)


def test_a_voice_only_kokoro_has_is_still_kokoros(catalog: ModelCatalog) -> None:
    settings = Settings()
    kokoro = catalog.find(KOKORO)
    assert kokoro is not None
    own = kokoro.voices[1]
    assert resolve_reply_voice(own, catalog, settings, gpu=False) == ResolvedVoice(KOKORO, own)
    mix = f"{kokoro.voices[0]}(2)+{kokoro.voices[1]}(1)"
    assert resolve_reply_voice(mix, catalog, settings, gpu=False) == ResolvedVoice(KOKORO, mix)
    with pytest.raises(ServiceError) as caught:
        resolve_reply_voice("nobody", catalog, settings, gpu=False)
    assert caught.value.code == "invalid_voice"


def test_a_gpu_the_default_policy_or_a_named_model_keep_their_model(
    catalog: ModelCatalog,
) -> None:
    alloy = Settings().voice_aliases["alloy"]
    with_gpu = resolve_reply_voice("alloy", catalog, Settings(), gpu=True)
    assert with_gpu == ResolvedVoice(KOKORO, alloy)
    kept = resolve_reply_voice("alloy", catalog, Settings(voice_tts_policy="default"), gpu=False)
    assert kept == ResolvedVoice(KOKORO, alloy)
    named = Settings(voice_tts_model=KOKORO)
    assert resolve_reply_voice("alloy", catalog, named, gpu=False) == ResolvedVoice(KOKORO, alloy)
    named = Settings(voice_tts_model=PIPER, voice_tts_policy="default")
    assert resolve_reply_voice("alloy", catalog, named, gpu=True) == ResolvedVoice(PIPER, JOE)


def test_the_fastest_cpu_voice_is_piper_when_installed(
    catalog: ModelCatalog, tmp_path: Path
) -> None:
    assert (found := fastest_cpu_speech_model(catalog)) is not None and found.id == PIPER
    demo = registry.get("kokoro").demo
    assert demo is not None
    only_kokoro = ModelStore(tmp_path / "models")
    only_kokoro.link(*demo.locate())
    kokoro_catalog = ModelCatalog(only_kokoro)
    assert (found := fastest_cpu_speech_model(kokoro_catalog)) is not None and found.id == KOKORO
    alloy = Settings().voice_aliases["alloy"]
    resolved = resolve_reply_voice("alloy", kokoro_catalog, Settings(), gpu=False)
    assert resolved == ResolvedVoice(KOKORO, alloy)


def _beat(worker_id: str, device: str) -> WorkerHeartbeat:
    return WorkerHeartbeat(worker_id=worker_id, hostname="h", pid=1, device=device, started_at=0)


async def test_the_workers_heartbeats_tell_whether_a_gpu_is_there(
    arq_redis: ArqRedis, catalog: ModelCatalog, tmp_path: Path
) -> None:
    queue = JobQueue(arq_redis, max_depth=10, event_ttl_s=60, job_ttl_s=60)

    def service(**overrides: Any) -> SpeechService:
        return SpeechService(queue, catalog, Settings(data_dir=tmp_path, **overrides))

    nobody_yet = service(worker_device="cuda:0")
    await nobody_yet.refresh_worker_devices()  # no heartbeat: this host's worker_device
    assert nobody_yet.reply_voice("alloy").model_id == KOKORO
    await heartbeat.publish(arq_redis, _beat("cpu-worker", "cpu"), ttl_s=60)
    cpu_only = service(worker_device="cuda:0")
    await cpu_only.refresh_worker_devices()
    assert cpu_only.reply_voice("alloy", 1.2).model_id == PIPER
    assert cpu_only.reply_voice("alloy", 1.2).speed == 1.2
    await heartbeat.publish(arq_redis, _beat("gpu-worker", "cuda:0"), ttl_s=60)
    with_gpu = service()
    await with_gpu.refresh_worker_devices()
    assert with_gpu.reply_voice("alloy").model_id == KOKORO


async def test_session_created_names_the_voice_that_will_speak(
    arq_redis: ArqRedis, catalog: ModelCatalog, tmp_path: Path
) -> None:
    await heartbeat.publish(arq_redis, _beat("cpu-worker", "cpu"), ttl_s=60)
    queue = JobQueue(arq_redis, max_depth=10, event_ttl_s=60, job_ttl_s=60)
    speech = SpeechService(queue, catalog, Settings(data_dir=tmp_path))
    await speech.refresh_worker_devices()
    sent: list[dict[str, Any]] = []
    replies = FakeReplies()  # no response is asked for here

    async def send(text: str) -> None:
        sent.append(json.loads(text))

    session = RealtimeSession(
        emitter=EventEmitter(send),
        queue=queue,
        registry=RealtimeRegistry(4, 4),
        resolve_model=lambda name: speech.asr_model(name).id,
        limits=SessionLimits(max_buffer_ms=60_000, turn_timeout_s=10),
        config=SessionConfig(type="realtime"),
        backend=ConversationBackend(
            ReplyBackend(replies.speak, replies.write), speech.llm_model, speech.reply_voice
        ),
    )
    await session.start("gpt-realtime")
    kokoro = catalog.find(KOKORO)
    assert kokoro is not None
    own = kokoro.voices[1]
    for voice in ("marin", own):
        update = {"type": "realtime", "audio": {"output": {"voice": voice}}}
        await session.handle(json.dumps({"type": "session.update", "session": update}))
    for event in sent:
        validate_strictly(event)
    voices = [e["session"]["audio"]["output"]["voice"] for e in sent]
    assert [e["type"] for e in sent] == ["session.created", "session.updated", "session.updated"]
    assert voices == [JOE, JOE, own]


@pytest.mark.service
async def test_the_cpu_service_names_piper_in_session_created(service: Service) -> None:
    client = service.async_client()
    async with client.realtime.connect(model="gpt-realtime") as connection:
        created = json.loads(await connection.recv_bytes())
        validate_strictly(created)
        assert created["type"] == "session.created"
        assert created["session"]["audio"]["output"]["voice"] == JOE
