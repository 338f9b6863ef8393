"""Dynamic batching of interactive transcriptions: claims (fakeredis, fast) and the real
whisper demo model in an in-process worker (slow): batched answers equal lone answers."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss, in_progress_key_prefix

from neuraldrive_audio.config import Settings
from neuraldrive_audio.engines.base import EngineInputError, JobCancelledError, TranscribeOptions
from neuraldrive_audio.engines.whisper import WhisperEngine
from neuraldrive_audio.media.decode import decode_upload
from neuraldrive_audio.queue import batch_claim, events, keys
from neuraldrive_audio.queue.events import EventType, JobEvent
from neuraldrive_audio.queue.lanes import INTERACTIVE
from neuraldrive_audio.queue.payloads import Transcript, TranscriptionJob, TranscriptionTask
from neuraldrive_audio.storage.demo_models import WHISPER_ID
from neuraldrive_audio.workers import batch_transcription
from neuraldrive_audio.workers import main as worker_main
from neuraldrive_audio.workers.state import WorkerState
from tests.speech_clips import SENTENCES, make_clip

OTHER_MODEL = "Systran/faster-whisper-base"


def _state(redis: ArqRedis, tmp_path: Path, models_dir: Path, **settings: object) -> WorkerState:
    config = Settings(data_dir=tmp_path, models_dir=models_dir, **settings)  # type: ignore[arg-type]
    return worker_main.build_state(config, redis)


async def _enqueue(redis: ArqRedis, job_id: str, model: str = WHISPER_ID,
                   upload: bytes | None = b"", **fields: object) -> TranscriptionJob:  # fmt: skip
    job = TranscriptionJob(job_id=job_id, model_id=model, upload_key=keys.upload(job_id),
                           **fields)  # type: ignore[arg-type]  # fmt: skip
    if upload is not None:
        await redis.set(job.upload_key, upload)
    await redis.enqueue_job(keys.TRANSCRIBE_FUNCTION, job.model_dump(mode="json"),
                            _job_id=job_id, _queue_name=INTERACTIVE.queue_name)  # fmt: skip
    return job


def _ctx(state: WorkerState) -> dict[str, object]:
    return {"state": state, "lane": INTERACTIVE}


# --- claiming (fakeredis, no model) -----------------------------------------------------


async def test_a_lone_request_never_waits_for_the_window(
    arq_redis: ArqRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(batch_transcription, "wait_window", record)
    state = _state(arq_redis, tmp_path, tmp_path / "models", interactive_batch_window_ms=10_000)
    leader = await _enqueue(arq_redis, "job_lone")
    await _enqueue(arq_redis, "job_speech_like", model=WHISPER_ID, vad_split={})  # never joins
    assert await batch_transcription.claim_peers(_ctx(state), leader) == []
    assert waits == []  # nothing compatible queued: no window at all
    await _enqueue(arq_redis, "job_second")
    peers = await batch_transcription.claim_peers(_ctx(state), leader)
    assert [p.job.job_id for p in peers] == ["job_second"] and waits == [10.0]


async def test_mixed_models_are_never_batched(arq_redis: ArqRedis, tmp_path: Path) -> None:
    state = _state(arq_redis, tmp_path, tmp_path / "models", interactive_batch_window_ms=1)
    leader = await _enqueue(arq_redis, "job_leader")
    await _enqueue(arq_redis, "job_other_model", model=OTHER_MODEL)
    await _enqueue(arq_redis, "job_same_1")
    await arq_redis.enqueue_job(keys.SPEECH_FUNCTION, {"job_id": "job_tts"},
                                _job_id="job_tts", _queue_name=INTERACTIVE.queue_name)  # fmt: skip
    await _enqueue(arq_redis, "job_same_2")
    peers = await batch_transcription.claim_peers(_ctx(state), leader)
    assert sorted(p.job.job_id for p in peers) == ["job_same_1", "job_same_2"]
    for job_id in ("job_other_model", "job_tts"):  # left for arq to pick as usual
        assert not await arq_redis.exists(in_progress_key_prefix + job_id)
    for job_id in ("job_same_1", "job_same_2"):  # no other worker (or arq) starts them now
        assert await arq_redis.exists(in_progress_key_prefix + job_id)
    left = await batch_claim.waiting(arq_redis, INTERACTIVE, "job_leader", 10)
    assert sorted(w.job_id for w in left) == ["job_other_model", "job_tts"]


async def test_claims_respect_the_maximum_aborts_and_other_workers(
    arq_redis: ArqRedis, tmp_path: Path
) -> None:
    state = _state(arq_redis, tmp_path, tmp_path / "models", interactive_batch_max=3)
    leader = await _enqueue(arq_redis, "job_leader")
    for n in range(5):
        await _enqueue(arq_redis, f"job_{n}")
    await arq_redis.zadd(abort_jobs_ss, {"job_0": 1})  # aborted while queued: arq skips it
    await arq_redis.set(in_progress_key_prefix + "job_1", b"1")  # another worker runs it
    peers = await batch_transcription.claim_peers(_ctx(state), leader)
    assert [p.job.job_id for p in peers] == ["job_2", "job_3"]
    left = await batch_claim.waiting(arq_redis, INTERACTIVE, "job_leader", 10)
    assert [w.job_id for w in left] == ["job_4"]  # for the next leader
    off = _state(arq_redis, tmp_path, tmp_path / "models", interactive_batch_window_ms=0)
    assert await batch_transcription.claim_peers(_ctx(off), leader) == []  # 0 = off


# --- the real model (slow) --------------------------------------------------------------


def _clips() -> list[bytes]:
    # One sentence each (~3 s, of different lengths): batching is about the decoder's
    # lockstep, not the audio's length, and fewer tokens decode sooner.
    return [make_clip(SENTENCES[i]) for i in range(0, 8, 2)]


async def _transcripts(state: WorkerState, job_ids: list[str]) -> dict[str, JobEvent]:
    finals = {}
    for job_id in job_ids:
        read = await events.read(state.redis, job_id, "0-0", block_ms=1)
        finals[job_id] = next(e for _, e in read if e.type.is_final)
    return finals


async def _run_burst(state: WorkerState) -> None:
    worker = worker_main._lane_worker(state, INTERACTIVE, state.redis)
    worker.burst = True
    try:
        await worker.async_run()
    finally:
        await worker.close()


@pytest.mark.service
async def test_batched_answers_equal_lone_answers(
    arq_redis: ArqRedis, tmp_path: Path, models_dir: Path
) -> None:
    clips = _clips()
    fields: list[dict[str, Any]] = [{}, {"word_timestamps": True}, {"temperature": 0.0}, {}]
    answers: dict[bool, dict[str, JobEvent]] = {}
    for batching in (False, True):
        window = 50.0 if batching else 0.0
        state = _state(arq_redis, tmp_path, models_dir, interactive_batch_window_ms=window)
        ids = [f"job_{batching}_{n}" for n in range(len(clips))]
        for job_id, clip, extra in zip(ids, clips, fields, strict=True):
            await _enqueue(arq_redis, job_id, upload=clip, **extra)
        await _run_burst(state)
        assert state.stats.batches == (1 if batching else 0)
        assert state.stats.batched_jobs == (len(clips) if batching else 0)
        finals = await _transcripts(state, ids)
        answers[batching] = {job_id[-1]: event for job_id, event in finals.items()}
        await state.cache.close()
    for n, alone in answers[False].items():
        together = answers[True][n]
        assert alone.type is together.type is EventType.DONE
        assert Transcript.model_validate(together.data["transcript"]) == Transcript.model_validate(
            alone.data["transcript"]
        )  # text, segments, timestamps, words: all equal
    assert answers[True]["1"].data["transcript"]["segments"][0]["words"]


@pytest.mark.service
async def test_a_failing_or_aborted_member_does_not_sink_the_batch(
    arq_redis: ArqRedis, tmp_path: Path, models_dir: Path
) -> None:
    clips = _clips()
    state = _state(arq_redis, tmp_path, models_dir, interactive_batch_window_ms=50)
    await _enqueue(arq_redis, "job_good_0", upload=clips[0])
    await _enqueue(arq_redis, "job_garbage", upload=b"this is not audio at all")
    await _enqueue(arq_redis, "job_translate", upload=clips[1], task=TranscriptionTask.TRANSLATE)
    await _enqueue(arq_redis, "job_expired", upload=None)
    long_clip = make_clip(" ".join(SENTENCES * 2))
    await _enqueue(arq_redis, "job_aborted", upload=long_clip)
    await _enqueue(arq_redis, "job_good_1", upload=clips[2])

    async def abort_once_started() -> None:
        while True:
            read = await events.read(state.redis, "job_aborted", "0-0", block_ms=50)
            if any(e.type is EventType.STARTED for _, e in read):
                await arq_redis.zadd(abort_jobs_ss, {"job_aborted": 1})
                return

    aborter = asyncio.create_task(abort_once_started())
    await _run_burst(state)
    await aborter
    assert state.stats.batches == 1 and state.stats.batched_jobs == 6
    finals = await _transcripts(
        state, ["job_good_0", "job_good_1", "job_garbage", "job_translate", "job_expired"]
    )
    for job_id, text in (("job_good_0", SENTENCES[0]), ("job_good_1", SENTENCES[4])):
        assert finals[job_id].type is EventType.DONE
        assert text.split()[1] in finals[job_id].data["transcript"]["text"]
    assert finals["job_garbage"].data["code"] == "invalid_audio"
    assert finals["job_translate"].data["param"] == "model"
    assert finals["job_expired"].data["code"] == "input_missing"  # not bad audio (#23)
    aborted = await events.read(state.redis, "job_aborted", "0-0", block_ms=1)
    assert not any(e.type.is_final for _, e in aborted)  # cancelled: no answer
    # Every member is cleared from the queue, as arq clears the jobs it ran.
    assert await arq_redis.zcard(INTERACTIVE.queue_name) == 0
    await state.cache.close()


@pytest.mark.service
def test_lockstep_members_are_isolated(models_dir: Path) -> None:
    """In the engine: a cancelled member and a refused one leave, the others get answers
    equal to their lone ones."""
    from neuraldrive_audio.engines import whisper
    from neuraldrive_audio.storage.model_store import ModelStore

    store = ModelStore(models_dir)
    manifest = store.get(WHISPER_ID)
    engine: WhisperEngine = whisper.load(manifest, store.path_of(manifest), Settings(),
                                         Settings().device)  # fmt: skip
    audio = [decode_upload(clip, 3600) for clip in _clips()]
    plain = TranscribeOptions(TranscriptionTask.TRANSCRIBE, "en", None, 0.0, False)
    refused = TranscribeOptions(TranscriptionTask.TRANSLATE, None, None, 0.0, False)
    never = threading.Event()
    alone = [engine.transcribe(a, plain, lambda s: None, never) for a in audio[:2]]
    batch = engine.batch(4)
    cancelled = threading.Event()
    cancelled.set()
    outcomes: dict[int, object] = {}

    def member(n: int, a: object, options: TranscribeOptions, cancel: threading.Event) -> None:
        try:
            outcomes[n] = batch.transcribe(a, options, lambda s: None, cancel)  # type: ignore[arg-type]
        except Exception as exc:  # the outcome is what the test checks
            outcomes[n] = exc

    threads = [
        threading.Thread(target=member, args=(0, audio[0], plain, never)),
        threading.Thread(target=member, args=(1, audio[1], plain, never)),
        threading.Thread(target=member, args=(2, audio[2], plain, cancelled)),
        threading.Thread(target=member, args=(3, audio[3], refused, never)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes[0] == alone[0] and outcomes[1] == alone[1]
    assert isinstance(outcomes[2], JobCancelledError)
    assert isinstance(outcomes[3], EngineInputError)
    assert batch.lockstep.batched_calls >= 1  # members 0 and 1 shared the decoder
    engine.close()


@pytest.mark.service
@pytest.mark.timeout(120)  # it hung for good before the fix
async def test_a_member_aborted_before_its_body_runs_still_leaves_the_batch(
    arq_redis: ArqRedis, tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The abort lands between the member's `started` event and its decode: its body never
    # runs, so it never took (or gave up) its seat. The other members waited for it in the
    # lockstep forever (seen as a 300 s hang when a slow machine hit that window).
    clips = _clips()
    state = _state(arq_redis, tmp_path, models_dir, interactive_batch_window_ms=50)
    await _enqueue(arq_redis, "job_good_0", upload=clips[0])
    await _enqueue(arq_redis, "job_aborted", upload=clips[1])
    await _enqueue(arq_redis, "job_good_1", upload=clips[2])
    emit = events.EventSink.emit

    async def held_start(sink: events.EventSink, event: JobEvent) -> None:
        await emit(sink, event)
        if sink._job_id == "job_aborted" and event.type is EventType.STARTED:
            await arq_redis.zadd(abort_jobs_ss, {"job_aborted": 1})
            await asyncio.sleep(3)  # the batch's abort watcher cancels it meanwhile

    monkeypatch.setattr(events.EventSink, "emit", held_start)
    await asyncio.wait_for(_run_burst(state), 60)
    finals = await _transcripts(state, ["job_good_0", "job_good_1"])
    for job_id, text in (("job_good_0", SENTENCES[0]), ("job_good_1", SENTENCES[4])):
        assert finals[job_id].type is EventType.DONE
        assert text.split()[1] in finals[job_id].data["transcript"]["text"]
    await state.cache.close()
