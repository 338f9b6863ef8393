"""Voice-to-voice with a realtime session's defaults: speech_stopped -> first reply audio.

A spoken question (Piper-made) is streamed at real-time pace into
``/v1/realtime?model=gpt-realtime`` through the official SDK, the real API, Redis and one
CPU worker, with an instant LLM stand-in. The session keeps its defaults: voice ``alloy``,
no reply model named; only input transcription is switched on, so its ``completed`` event
shows where the transcript is ready. Each turn is a fresh session. Per turn, on the client
clock:

- delay: ``input_audio_buffer.speech_stopped`` -> first ``response.output_audio.delta``;
- the split: VAD (last speech chunk sent -> speech_stopped, which holds the VAD pause),
  transcript (stopped -> transcription completed), first token (-> first transcript
  delta), first audio (-> first audio delta);

and after each turn, in this process, back to back: raw ASR (tiny.en on the question), the
LLM's first token (the stand-in through the openai client) and raw TTS of the first spoken
piece; our overhead is the delay minus the three. The service starts transcribing during
the VAD's pause (200 ms into it), so up to ~300 ms of the raw ASR is hidden before
speech_stopped: the transcript step can be shorter than raw ASR, and the overhead negative.

Two ways to first audio on a CPU, each with the server's settings for it:

- ``cpu``: the default (``VOICE_TTS_POLICY=auto``): with no GPU worker, ``alloy`` is spoken
  by the fastest CPU voice, Piper; ``session.created`` names it;
- ``kokoro``: ``VOICE_TTS_POLICY=default`` keeps Kokoro (``default_tts_model``), whose first
  piece is chosen by length (4-8 words); raw TTS also shows the first sentence-or-clause by
  punctuation, what it spoke before.

The load average (the machine is shared) is printed next to each voice's figures.
Target (2-core CPU, instant LLM): median delay <= 1.0 s.

Run: python bench/bench_voice_to_voice.py [--runs N] [--only cpu|kokoro]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.voice_raw_parts import QUESTION, RawParts, load_average
from neuraldrive_audio.storage.demo_models import KOKORO_ID, PIPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import RedisServer, Service
from tests.llm_stand_in import serve_llm
from tests.realtime_audio import resample, silence, wav_samples
from tests.speech_clips import make_clip

RATE = 24_000
CHUNK_MS = 100
LEAD_MS, TAIL_MS = 500, 1200
MARKS = ("speech_end", "stopped", "completed", "first_text", "first_audio")


@dataclass(frozen=True)
class Voice:
    """A reply voice under test: the label, the service's settings, the engine's voice."""

    label: str
    model_id: str
    engine_voice: str
    overrides: dict[str, Any]


VOICES = {
    "cpu": Voice("alloy -> Piper (the CPU default, VOICE_TTS_POLICY=auto)", PIPER_ID,
                 "en_US-joe-medium", {}),
    "kokoro": Voice("alloy -> Kokoro (VOICE_TTS_POLICY=default), first piece by length",
                    KOKORO_ID, "jf_alpha", {"voice_tts_policy": "default"}),
}  # fmt: skip


def question_pcm(wav: bytes) -> tuple[bytes, float]:
    """The question at 24 kHz s16le with silence around it, and where the speech ends (s)."""
    samples, rate = wav_samples(wav)
    speech = resample(samples, rate, RATE)
    pcm = np.concatenate([silence(LEAD_MS, RATE), speech, silence(TAIL_MS, RATE)])
    return pcm.tobytes(), LEAD_MS / 1000 + len(speech) / RATE


async def one_turn(
    service: Service, pcm: bytes, speech_end_s: float, voice: str
) -> dict[str, float]:
    """A fresh session with its defaults, one spoken question: the time of each mark.
    ``session.created`` must name ``voice`` as the voice that speaks."""
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
                case "session.created":
                    spoken = event.model_dump()["session"]["audio"]["output"]["voice"]
                    if spoken != voice:
                        raise RuntimeError(f"replies spoken by {spoken!r}, not {voice!r}")
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
    asyncio.run(one_turn(service, pcm, speech_end_s, raw.voice))  # the worker loads models
    raw.asr_s(), raw.tts_s()
    names = ("delay", "vad", "asr_step", "llm_step", "tts_step", "asr", "llm", "tts", "tts_old")
    figures: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(runs):
        marks = asyncio.run(one_turn(service, pcm, speech_end_s, raw.voice))
        figures["delay"].append(marks["first_audio"] - marks["stopped"])
        figures["vad"].append(marks["stopped"] - marks["speech_end"])
        figures["asr_step"].append(marks["completed"] - marks["stopped"])
        figures["llm_step"].append(marks["first_text"] - marks["completed"])
        figures["tts_step"].append(marks["first_audio"] - marks["first_text"])
        figures["asr"].append(raw.asr_s())
        figures["llm"].append(raw.llm_first_token_s())
        figures["tts"].append(raw.tts_s())
        figures["tts_old"].append(raw.tts_s(raw.sentence))
    figures["ours"] = [
        delay - asr - llm - tts
        for delay, asr, llm, tts in zip(
            figures["delay"], figures["asr"], figures["llm"], figures["tts"], strict=True
        )
    ]
    return figures


def report(
    voice: Voice, raw: RawParts, figures: dict[str, list[float]], runs: int, loads: list[str]
) -> None:
    def ms(name: str) -> str:
        values = figures[name]
        return (
            f"median {statistics.median(values) * 1000:5.0f} ms  "
            f"(min {min(values) * 1000:5.0f}, max {max(values) * 1000:5.0f})"
        )

    print(f"\n{voice.label}: speech_stopped -> first reply audio, {runs} turns, instant LLM")
    print(f"  ({loads[0]} at the start, {loads[1]} at the end)")
    print(f"  delay (client clock)            {ms('delay')}")
    print(f"    VAD: speech end -> stopped    {ms('vad')}   (holds the VAD's 500 ms pause)")
    print(f"    stopped -> transcript done    {ms('asr_step')}")
    print(f"    transcript -> first token     {ms('llm_step')}")
    print(f"    first token -> first audio    {ms('tts_step')}")
    print(f"  raw ASR (tiny.en)               {ms('asr')}   {QUESTION!r}")
    print(f"  raw LLM first token             {ms('llm')}")
    print(f"  raw TTS, first piece by length  {ms('tts')}   {raw.piece!r}")
    print(f"  raw TTS, first by punctuation   {ms('tts_old')}   {raw.sentence!r}")
    print(f"  our overhead                    {ms('ours')}   (delay minus raw ASR, LLM, TTS;")
    print("                                  ASR starts in the VAD pause, so it can be < 0)")
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
                raw = RawParts(store, llm, wav, voice.model_id, voice.engine_voice)
                service = Service.start(
                    f"{redis.url}/{index}", root / f"data-{index}", root / "models",
                    llm_base_url=llm.base_url, llm_model="llama3.2", **voice.overrides,
                )  # fmt: skip
                try:
                    started = load_average()
                    figures = run(service, raw, wav, args.runs)
                    report(voice, raw, figures, args.runs, [started, load_average()])
                finally:
                    service.stop()
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
