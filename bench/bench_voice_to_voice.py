"""Voice-to-voice with a realtime session's defaults: speech_stopped -> first reply audio.

A spoken question (Piper-made) is streamed at real-time pace into
``/v1/realtime?model=gpt-realtime`` through the official SDK, the real API, Redis and one
worker, with an instant LLM stand-in. The session keeps its defaults: voice ``alloy``, no
reply model named (so ``alloy`` -> Kokoro, the default TTS model), server VAD with its
default pause; only input transcription is switched on, so its ``completed`` event shows
where the transcript is ready. Each turn is a fresh session. Per turn, on the client clock:

- delay: ``input_audio_buffer.speech_stopped`` -> first ``response.output_audio.delta``;
- the split: VAD (last speech chunk sent -> speech_stopped, which holds the VAD pause),
  transcript (stopped -> transcription completed), first token (-> first transcript
  delta), first audio (-> first audio delta);

and after each turn, in this process, back to back: raw ASR (tiny.en on the question), the
LLM's first token (the stand-in through the openai client) and raw TTS of the first spoken
piece; our overhead is the delay minus the three.

The same is run with the reply voice switched to Piper (``VOICE_TTS_MODEL``), the other way
to first audio on a CPU; and raw TTS compares the first piece chosen by length (4-8 words,
what the reply speaks first) with the first sentence-or-clause by punctuation (before).

Target (2-core CPU, instant LLM): median delay <= 1.0 s.

Run: python bench/bench_voice_to_voice.py [--runs N] [--only kokoro|piper]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import openai

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.base import TranscribeOptions, as_speech_to_text, as_text_to_speech
from neuraldrive_audio.media.clauses import FIRST_PIECE_WORDS, ClauseSplitter
from neuraldrive_audio.media.decode import decode_upload
from neuraldrive_audio.media.text import normalize
from neuraldrive_audio.queue.payloads import TranscriptionTask
from neuraldrive_audio.storage.demo_models import (
    KOKORO_ID,
    PIPER_ID,
    WHISPER_ID,
    register_demo_models,
)
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import RedisServer, Service
from tests.llm_stand_in import LLMStandIn, serve_llm, tokens
from tests.realtime_audio import resample, silence, wav_samples
from tests.speech_clips import make_clip

QUESTION = "When does the next train to the city leave?"
RATE = 24_000
CHUNK_MS = 100
LEAD_MS, TAIL_MS = 500, 1200
MARKS = ("speech_end", "stopped", "completed", "first_text", "first_audio")


@dataclass(frozen=True)
class Voice:
    """A reply voice under test: the label, the service's override, the raw engine's voice."""

    label: str
    model_id: str
    engine_voice: str
    overrides: dict[str, Any]


VOICES = {
    "kokoro": Voice("alloy -> Kokoro (the default)", KOKORO_ID, "jf_alpha", {}),
    "piper": Voice("alloy -> Piper (VOICE_TTS_MODEL)", PIPER_ID, "en_US-joe-medium",
                   {"voice_tts_model": PIPER_ID}),
}  # fmt: skip


def first_piece(reply: str, by_length: bool) -> str:
    """What the reply speaks first: fed token by token to the splitter."""
    splitter = ClauseSplitter(first_piece_words=FIRST_PIECE_WORDS if by_length else None)
    for token in tokens(reply):
        if clauses := splitter.feed(token):
            return clauses[0]
    return splitter.flush()[0]


class RawParts:
    """The engines in this process, each part timed on its own."""

    def __init__(self, store: ModelStore, llm: LLMStandIn, wav: bytes, voice: Voice) -> None:
        settings, cpu = Settings(), Device("cpu")
        whisper, tts = store.get(WHISPER_ID), store.get(voice.model_id)
        asr = registry.of(whisper).load(whisper, store.path_of(whisper), settings, cpu)
        self.asr = as_speech_to_text(asr)
        self.tts = as_text_to_speech(registry.of(tts).load(tts, store.path_of(tts), settings, cpu))
        self.voice = voice.engine_voice
        self.audio = decode_upload(wav, 3600)
        self.piece = first_piece(llm.reply, by_length=True)
        self.sentence = first_piece(llm.reply, by_length=False)
        self.llm = openai.OpenAI(base_url=llm.base_url, api_key="unused")

    def asr_s(self) -> float:
        options = TranscribeOptions(TranscriptionTask.TRANSCRIBE, "en", None, 0.0, False)
        started = time.perf_counter()
        self.asr.transcribe(self.audio, options, lambda _: None, threading.Event())
        return time.perf_counter() - started

    def tts_s(self, text: str) -> float:
        started = time.perf_counter()
        self.tts.synthesize(normalize(text), self.voice, 1.0)
        return time.perf_counter() - started

    def llm_first_token_s(self) -> float:
        started = time.perf_counter()
        stream = self.llm.chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        stream.close()
        return time.perf_counter() - started


def question_pcm(wav: bytes) -> tuple[bytes, float]:
    """The question at 24 kHz s16le with silence around it, and where the speech ends (s)."""
    samples, rate = wav_samples(wav)
    speech = resample(samples, rate, RATE)
    pcm = np.concatenate([silence(LEAD_MS, RATE), speech, silence(TAIL_MS, RATE)])
    return pcm.tobytes(), LEAD_MS / 1000 + len(speech) / RATE


async def one_turn(service: Service, pcm: bytes, speech_end_s: float) -> dict[str, float]:
    """A fresh session with its defaults, one spoken question: the time of each mark."""
    client = service.async_client()
    marks: dict[str, float] = {}
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await connection.session.update(
            session={
                "type": "realtime",
                "audio": {"input": {"transcription": {"model": "whisper-1", "language": "en"}}},
            }
        )

        async def speak() -> None:
            loop = asyncio.get_running_loop()
            started, step = loop.time(), RATE * 2 * CHUNK_MS // 1000
            for index, start in enumerate(range(0, len(pcm), step)):
                chunk = base64.b64encode(pcm[start : start + step]).decode()
                await connection.input_audio_buffer.append(audio=chunk)
                if (index + 1) * CHUNK_MS / 1000 >= speech_end_s:
                    marks.setdefault("speech_end", time.perf_counter())
                await asyncio.sleep(max(0.0, started + (index + 1) * CHUNK_MS / 1000 - loop.time()))

        sender = asyncio.create_task(speak())
        async for event in connection:
            now = time.perf_counter()
            match event.type:
                case "input_audio_buffer.speech_stopped":
                    marks.setdefault("stopped", now)
                case "conversation.item.input_audio_transcription.completed":
                    marks.setdefault("completed", now)
                case "response.output_audio_transcript.delta":
                    marks.setdefault("first_text", now)
                case "response.output_audio.delta":
                    marks.setdefault("first_audio", now)
                case "error":
                    raise RuntimeError(f"error event: {event.error.message}")
                case "response.done":
                    break
        await sender
    missing = [mark for mark in MARKS if mark not in marks]
    if missing:
        raise RuntimeError(f"the turn ended without {missing}")
    return marks


def run(service: Service, raw: RawParts, wav: bytes, runs: int) -> dict[str, list[float]]:
    """Each run: one spoken turn through the service, then the raw parts back to back."""
    pcm, speech_end_s = question_pcm(wav)
    asyncio.run(one_turn(service, pcm, speech_end_s))  # the worker loads its models
    raw.asr_s(), raw.tts_s(raw.piece)
    names = ("delay", "vad", "asr_step", "llm_step", "tts_step", "asr", "llm", "tts", "tts_old")
    figures: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(runs):
        marks = asyncio.run(one_turn(service, pcm, speech_end_s))
        figures["delay"].append(marks["first_audio"] - marks["stopped"])
        figures["vad"].append(marks["stopped"] - marks["speech_end"])
        figures["asr_step"].append(marks["completed"] - marks["stopped"])
        figures["llm_step"].append(marks["first_text"] - marks["completed"])
        figures["tts_step"].append(marks["first_audio"] - marks["first_text"])
        figures["asr"].append(raw.asr_s())
        figures["llm"].append(raw.llm_first_token_s())
        figures["tts"].append(raw.tts_s(raw.piece))
        figures["tts_old"].append(raw.tts_s(raw.sentence))
    figures["ours"] = [
        delay - asr - llm - tts
        for delay, asr, llm, tts in zip(
            figures["delay"], figures["asr"], figures["llm"], figures["tts"], strict=True
        )
    ]
    return figures


def report(voice: Voice, raw: RawParts, figures: dict[str, list[float]], runs: int) -> None:
    def ms(name: str) -> str:
        values = figures[name]
        return (
            f"median {statistics.median(values) * 1000:5.0f} ms  "
            f"(min {min(values) * 1000:5.0f}, max {max(values) * 1000:5.0f})"
        )

    print(f"\n{voice.label}: speech_stopped -> first reply audio, {runs} turns, instant LLM")
    print(f"  delay (client clock)            {ms('delay')}")
    print(f"    VAD: speech end -> stopped    {ms('vad')}   (holds the VAD's 500 ms pause)")
    print(f"    stopped -> transcript done    {ms('asr_step')}")
    print(f"    transcript -> first token     {ms('llm_step')}")
    print(f"    first token -> first audio    {ms('tts_step')}")
    print(f"  raw ASR (tiny.en)               {ms('asr')}   {QUESTION!r}")
    print(f"  raw LLM first token             {ms('llm')}")
    print(f"  raw TTS, first piece by length  {ms('tts')}   {raw.piece!r}")
    print(f"  raw TTS, first by punctuation   {ms('tts_old')}   {raw.sentence!r}")
    print(f"  our overhead                    {ms('ours')}   (delay minus raw ASR, LLM, TTS)")
    delay = statistics.median(figures["delay"])
    print(f"  target median delay <= 1.0 s: {'met' if delay <= 1.0 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="spoken turns measured per voice")
    parser.add_argument("--only", choices=sorted(VOICES), help="measure one reply voice")
    args = parser.parse_args()
    wav = make_clip(QUESTION)
    voices = [VOICES[args.only]] if args.only else list(VOICES.values())
    with tempfile.TemporaryDirectory() as tmp, serve_llm() as llm:
        root = Path(tmp)
        store = ModelStore(root / "models")
        register_demo_models(store)
        redis = RedisServer.start(root)
        try:
            for index, voice in enumerate(voices):
                raw = RawParts(store, llm, wav, voice)
                service = Service.start(
                    f"{redis.url}/{index}", root / f"data-{index}", root / "models",
                    llm_base_url=llm.base_url, llm_model="llama3.2", **voice.overrides,
                )  # fmt: skip
                try:
                    report(voice, raw, run(service, raw, wav, args.runs), args.runs)
                finally:
                    service.stop()
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
