"""Voice reply latency of POST /v1/audio/chat/completions (streamed), tiny.en + Piper
(``alloy``, no reply model named: the CPU default).

A spoken question (Piper-made WAV) is sent with ``modalities: ["text", "audio"]`` and
``stream: true`` to the real API, Redis and one worker, with an instant LLM stand-in.
Prints the median time from request to the first reply audio byte, and next to it the
raw times of its parts, each measured on its own in-process:

- ASR: faster-whisper tiny.en on the question (the worker's engine, no queue/HTTP);
- LLM first token: the stand-in's first streamed token through the openai client;
- first piece TTS: Piper speaking the reply's first piece (what the pipeline speaks first);
- our overhead: the rest (HTTP, base64, Redis queue hops, job pickup, clause splitting).

Run: python bench/bench_voice_reply.py   (needs redis-server and the demo extra)
"""

from __future__ import annotations

import base64
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import openai

from bench.voice_raw_parts import QUESTION, RawParts, load_average
from neuraldrive_audio.storage.demo_models import PIPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import API_KEY, RedisServer, Service
from tests.llm_stand_in import serve_llm
from tests.speech_clips import make_clip

RUNS = 7


def service_first_audio_s(client: openai.OpenAI, wav: bytes) -> float:
    """One streamed request: seconds until the first reply audio arrives."""
    audio_part: Any = {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(wav).decode(), "format": "wav"},
    }
    started = time.perf_counter()
    stream = client.chat.completions.create(
        model="gpt-4o-audio-preview",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
        messages=[{"role": "user", "content": [audio_part]}],
        stream=True,
    )
    first = float("nan")
    for chunk in stream:
        audio = chunk.choices[0].delta.audio if chunk.choices else None
        if audio is not None and audio.data:
            first = time.perf_counter() - started
            break
    stream.close()
    return first


def measure(service: Service, raw: RawParts, wav: bytes) -> dict[str, list[float]]:
    """Each run: one request through the service, then each raw part, back to back, so
    the machine's load (shared by other work) is about the same for both."""
    client = openai.OpenAI(base_url=f"{service.base_url}/v1/audio", api_key=API_KEY)
    service_first_audio_s(client, wav)  # the worker loads its models
    raw.asr_s(), raw.tts_s()
    runs: dict[str, list[float]] = {"total": [], "asr": [], "llm": [], "tts": [], "ours": []}
    for _ in range(RUNS):
        total = service_first_audio_s(client, wav)
        asr, llm, tts = raw.asr_s(), raw.llm_first_token_s(), raw.tts_s()
        for name, value in zip(["total", "asr", "llm", "tts"], [total, asr, llm, tts], strict=True):
            runs[name].append(value)
        runs["ours"].append(total - asr - llm - tts)
    return runs


def main() -> None:
    wav = make_clip(QUESTION)
    with tempfile.TemporaryDirectory() as tmp, serve_llm() as llm:
        root = Path(tmp)
        store = ModelStore(root / "models")
        register_demo_models(store)
        raw = RawParts(store, llm, wav, PIPER_ID, "en_US-joe-medium")
        redis = RedisServer.start(root)
        service = Service.start(
            f"{redis.url}/0",
            root / "data",
            root / "models",
            llm_base_url=llm.base_url,
            llm_model="llama3.2",
        )
        try:
            loads = [load_average()]
            runs = measure(service, raw, wav)
            loads.append(load_average())
        finally:
            service.stop()
            redis.stop()

    def ms(name: str) -> str:
        median, low = statistics.median(runs[name]) * 1000, min(runs[name]) * 1000
        return f"median {median:5.0f} ms  (min {low:5.0f})"

    print(f"Shape 2 streamed, request -> first reply audio byte, {RUNS} runs:")
    print(f"  ({loads[0]} at the start, {loads[1]} at the end)")
    print(f"  total                  {ms('total')}")
    print(f"  ASR (tiny.en, raw)     {ms('asr')}   {QUESTION!r}")
    print(f"  LLM first token        {ms('llm')}   (instant stand-in)")
    print(f"  first piece TTS (raw)  {ms('tts')}   {raw.piece!r}")
    print(f"  our overhead           {ms('ours')}   (total minus the three, per run)")


if __name__ == "__main__":
    main()
