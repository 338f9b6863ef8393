"""The arq function that speaks text sentence by sentence, streaming encoded audio."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

from neuraldrive_audio.engines.base import EngineInputError, TextToSpeech, as_text_to_speech
from neuraldrive_audio.media.clauses import ends_mid_phrase, split_first_clause
from neuraldrive_audio.media.encode import make_encoder
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE, Resampler
from neuraldrive_audio.media.samples import FloatAudio
from neuraldrive_audio.media.seams import trim_tail
from neuraldrive_audio.media.text import speakable
from neuraldrive_audio.queue.events import EventSink, EventType, JobEvent
from neuraldrive_audio.queue.payloads import SpeechJob, SpeechSummary
from neuraldrive_audio.workers.affinity import prefer_holder
from neuraldrive_audio.workers.job_frame import JobInfo, JobRun, run_job
from neuraldrive_audio.workers.state import WorkerState


def spoken_sentences(
    engine: TextToSpeech,
    sentences: list[str],
    voice: str,
    speed: float,
    checkpoint: Callable[[], None],
    run_on: int = 0,
    last_runs_on: bool = False,
) -> Iterator[FloatAudio]:
    """Blocking: each sentence (already :func:`speakable`) spoken and resampled to 24 kHz,
    then the resampler's tail. ``checkpoint`` runs before every sentence (it raises once
    the job is cancelled; batch work yields there). The first ``run_on`` pieces end
    mid-phrase, and the last one too with ``last_runs_on`` (its speech goes on in the
    next job): their trailing pause is trimmed so speech runs on into the next."""
    resampler = Resampler(engine.sample_rate, OUTPUT_SAMPLE_RATE)
    for index, sentence in enumerate(sentences):
        checkpoint()
        audio = engine.synthesize(sentence, voice, speed)
        if index < run_on or (last_runs_on and index == len(sentences) - 1):
            audio = trim_tail(audio, engine.sample_rate)
        yield resampler.process(audio)
    yield resampler.flush()


def spoken_pieces(text: str, max_spoken_chars: int) -> list[str]:
    """:func:`speakable` sentences, refused (400 on ``input``) when the text expands past
    ``max_spoken_chars`` or holds nothing to say."""
    sentences = speakable(text)
    spoken = sum(len(s) for s in sentences)
    if spoken > max_spoken_chars:
        raise EngineInputError(
            f"input reads as {spoken} characters once numbers and abbreviations are spelled "
            f"out; the limit is {max_spoken_chars}", param="input",
        )  # fmt: skip
    if not sentences:
        raise EngineInputError("input contains nothing that can be spoken", param="input")
    return sentences


def first_clause_apart(sentences: list[str]) -> tuple[list[str], int]:
    """The first sentence cut after its first clause, the rest as they are, and how many
    leading pieces end mid-phrase (0 or 1; see :func:`spoken_sentences`).

    The listener hears audio after a clause's synthesis time; only one seam is added
    (cutting every sentence would cost prosody and total time)."""
    if not sentences:
        return sentences, 0
    first = split_first_clause(sentences[0])
    run_on = int(len(first) > 1 and ends_mid_phrase(first[0]))
    return [*first, *sentences[1:]], run_on


def speak(
    engine: TextToSpeech,
    job: SpeechJob,
    emit: Callable[[bytes], None],
    run: JobRun,
    max_spoken_chars: int,
) -> SpeechSummary:
    """Blocking: speak the first clause, then sentence by sentence, encoding and emitting
    each unit's bytes at once."""
    sentences, run_on = first_clause_apart(spoken_pieces(job.input, max_spoken_chars))
    encoder = make_encoder(job.response_format, OUTPUT_SAMPLE_RATE)
    samples = 0
    pieces = spoken_sentences(
        engine, sentences, job.voice, job.speed, run.checkpoint, run_on, job.runs_on
    )
    for audio in pieces:
        samples += len(audio)
        emit(encoder.encode(audio))
    emit(encoder.finish())
    return SpeechSummary(
        sample_rate=OUTPUT_SAMPLE_RATE,
        samples=samples,
        sentences=len(sentences),
        input_characters=len(job.input),
    )


async def synthesize(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """arq entry point: run one speech job, audio going out through its event stream."""
    state: WorkerState = ctx["state"]
    job = SpeechJob.model_validate(payload)

    async def body(sink: EventSink, run: JobRun) -> dict[str, Any]:
        manifest = state.store.get(job.model_id)

        def emit(data: bytes) -> None:
            if data:
                sink.emit_threadsafe(JobEvent(EventType.AUDIO, audio=data))

        async with state.cache.use(manifest) as engine:
            started = time.perf_counter()
            summary = await asyncio.to_thread(
                speak, as_text_to_speech(engine), job, emit, run,
                state.settings.max_speech_spoken_chars,
            )  # fmt: skip
            audio_s = summary.samples / summary.sample_rate
            state.stats.record_inference(manifest.engine, audio_s, time.perf_counter() - started)
        return summary.model_dump()

    info = JobInfo.from_ctx(ctx, job.job_id, "speech", job.model_id)
    await prefer_holder(ctx, job.model_id)
    await run_job(state, info, body)
