"""Voice-to-voice latency of a Realtime conversation: speech_stopped -> first reply audio.

A spoken question (Piper-made) is streamed into ``/v1/realtime?model=gpt-realtime`` at
real-time pace in 100 ms chunks, followed by silence, through the official SDK, the real
API, Redis and one worker (tiny.en + Piper), with an instant LLM stand-in. Each run is a
fresh session. For every run it takes, on the client's clock:

- delay: ``input_audio_buffer.speech_stopped`` -> first ``response.output_audio.delta``;
- the client-side steps: stopped -> transcription completed, completed -> first transcript
  delta (LLM first token plus the response's start), first delta -> first audio;

and after each run, the raw parts in this process, back to back, so the machine's load is
about the same for both: ASR (faster-whisper on the question), LLM first token (the
stand-in through the openai client), first clause TTS (Piper on the first clause). Our
overhead is the delay minus the three raw parts.

Target (2-core CPU, tiny.en + Piper, instant LLM): median delay <= 1.0 s, overhead <= 100 ms.
The VAD's silence (``SILENCE_MS``) comes before speech_stopped, so it is not in the delay.

Run: python bench/bench_voice_agent.py [--runs N]   (needs redis-server and the demo extra)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.bench_voice_reply import RawParts
from neuraldrive_audio.storage.demo_models import PIPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import RedisServer, Service
from tests.llm_stand_in import serve_llm
from tests.realtime_audio import resample, silence, wav_samples
from tests.speech_clips import make_clip

QUESTION = "When does the next train to the city leave?"
RATE = 24_000
CHUNK_MS = 100
SILENCE_MS = 500
MARKS = ("stopped", "completed", "first_text", "first_audio")


def question_pcm(wav: bytes) -> bytes:
    """The question at 24 kHz s16le between half a second and a second of silence."""
    samples, rate = wav_samples(wav)
    speech = resample(samples, rate, RATE)
    return np.concatenate([silence(500, RATE), speech, silence(1000, RATE)]).tobytes()


async def one_turn(service: Service, pcm: bytes) -> dict[str, float]:
    """A fresh session, one spoken question: the client-clock time of each mark."""
    client = service.async_client()
    marks: dict[str, float] = {}
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await connection.session.update(
            session={
                "type": "realtime",
                "instructions": "You are a helpful assistant. Answer briefly.",
                "audio": {
                    "input": {
                        "transcription": {"model": "whisper-1", "language": "en"},
                        "turn_detection": {
                            "type": "server_vad",
                            "silence_duration_ms": SILENCE_MS,
                        },
                    },
                    "output": {"voice": "alloy"},
                },
            }
        )

        async def speak() -> None:
            loop = asyncio.get_running_loop()
            started, step = loop.time(), RATE * 2 * CHUNK_MS // 1000
            for index, start in enumerate(range(0, len(pcm), step)):
                chunk = base64.b64encode(pcm[start : start + step]).decode()
                await connection.input_audio_buffer.append(audio=chunk)
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


def run(service: Service, raw: RawParts, pcm: bytes, runs: int) -> dict[str, list[float]]:
    """Each run: one spoken turn through the service, then the raw parts back to back."""
    asyncio.run(one_turn(service, pcm))  # the worker loads whisper and Piper
    raw.asr_s(), raw.tts_s()
    figures: dict[str, list[float]] = {
        name: [] for name in ("delay", "asr_step", "llm_step", "tts_step", "asr", "llm", "tts")
    }
    for _ in range(runs):
        marks = asyncio.run(one_turn(service, pcm))
        figures["delay"].append(marks["first_audio"] - marks["stopped"])
        figures["asr_step"].append(marks["completed"] - marks["stopped"])
        figures["llm_step"].append(marks["first_text"] - marks["completed"])
        figures["tts_step"].append(marks["first_audio"] - marks["first_text"])
        figures["asr"].append(raw.asr_s())
        figures["llm"].append(raw.llm_first_token_s())
        figures["tts"].append(raw.tts_s())
    figures["ours"] = [
        delay - asr - llm - tts
        for delay, asr, llm, tts in zip(
            figures["delay"], figures["asr"], figures["llm"], figures["tts"], strict=True
        )
    ]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="spoken turns measured")
    args = parser.parse_args()
    wav = make_clip(QUESTION)
    with tempfile.TemporaryDirectory() as tmp, serve_llm() as llm:
        root = Path(tmp)
        store = ModelStore(root / "models")
        register_demo_models(store)
        raw = RawParts(store, llm, wav)
        redis = RedisServer.start(root)
        service = Service.start(
            f"{redis.url}/0",
            root / "data",
            root / "models",
            llm_base_url=llm.base_url,
            llm_model="llama3.2",
            voice_tts_model=PIPER_ID,
        )
        try:
            figures = run(service, raw, question_pcm(wav), args.runs)
        finally:
            service.stop()
            redis.stop()

    def ms(name: str) -> str:
        values = figures[name]
        return (
            f"median {statistics.median(values) * 1000:5.0f} ms  "
            f"(min {min(values) * 1000:5.0f}, max {max(values) * 1000:5.0f})"
        )

    print(f"Realtime conversation, speech_stopped -> first reply audio, {args.runs} turns,")
    print(f"tiny.en + Piper, instant LLM stand-in, server_vad silence {SILENCE_MS} ms:")
    print(f"  delay (client clock)          {ms('delay')}")
    print(f"    stopped -> transcript done  {ms('asr_step')}")
    print(f"    transcript -> first token   {ms('llm_step')}")
    print(f"    first token -> first audio  {ms('tts_step')}")
    print(f"  raw ASR (tiny.en)             {ms('asr')}   {QUESTION!r}")
    print(f"  raw LLM first token           {ms('llm')}")
    print(f"  raw first clause TTS (Piper)  {ms('tts')}   {raw.clause!r}")
    print(f"  our overhead                  {ms('ours')}   (delay minus the three raw parts)")
    delay, ours = statistics.median(figures["delay"]), statistics.median(figures["ours"])
    print(f"target median delay <= 1.0 s: {'met' if delay <= 1.0 else 'MISSED'}")
    print(f"target median overhead <= 100 ms: {'met' if ours <= 0.1 else 'MISSED'}")


if __name__ == "__main__":
    main()
