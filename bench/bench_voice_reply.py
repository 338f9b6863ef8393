"""Voice reply latency of POST /v1/audio/chat/completions (streamed), tiny.en + Piper.

A spoken question (Piper-made WAV) is sent with ``modalities: ["text", "audio"]`` and
``stream: true`` to the real API, Redis and one worker, with an instant LLM stand-in.
Prints the median time from request to the first reply audio byte, and next to it the
raw times of its parts, each measured on its own in-process:

- ASR: faster-whisper tiny.en on the question (the worker's engine, no queue/HTTP);
- LLM first token: the stand-in's first streamed token through the openai client;
- first clause TTS: Piper speaking the first clause of the reply;
- our overhead: the rest (HTTP, base64, Redis queue hops, job pickup, clause splitting).

Run: python bench/bench_voice_reply.py   (needs redis-server and the demo extra)
"""

from __future__ import annotations

import base64
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import openai

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.base import TranscribeOptions, as_speech_to_text, as_text_to_speech
from neuraldrive_audio.media.clauses import ClauseSplitter
from neuraldrive_audio.media.decode import decode_upload
from neuraldrive_audio.media.text import normalize
from neuraldrive_audio.queue.payloads import TranscriptionTask
from neuraldrive_audio.storage.demo_models import PIPER_ID, WHISPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import API_KEY, RedisServer, Service
from tests.llm_stand_in import LLMStandIn, serve_llm, tokens
from tests.speech_clips import make_clip

RUNS = 7
QUESTION = "When does the next train to the city leave?"


def first_clause(reply: str) -> str:
    """The first clause the pipeline speaks (same splitter, fed token by token)."""
    splitter = ClauseSplitter()
    for token in tokens(reply):
        if clauses := splitter.feed(token):
            return clauses[0]
    return splitter.flush()[0]


class RawParts:
    """The engines themselves, loaded in this process, timing one run of each part."""

    def __init__(self, store: ModelStore, llm: LLMStandIn, wav: bytes) -> None:
        whisper, piper = store.get(WHISPER_ID), store.get(PIPER_ID)
        settings, cpu = Settings(), Device("cpu")
        asr = registry.of(whisper).load(whisper, store.path_of(whisper), settings, cpu)
        tts = registry.of(piper).load(piper, store.path_of(piper), settings, cpu)
        self.asr, self.tts = as_speech_to_text(asr), as_text_to_speech(tts)
        self.audio = decode_upload(wav, 3600)
        self.clause = first_clause(llm.reply)
        self.llm = openai.OpenAI(base_url=llm.base_url, api_key="unused")

    def asr_s(self) -> float:
        options = TranscribeOptions(TranscriptionTask.TRANSCRIBE, "en", None, 0.0, False)
        started = time.perf_counter()
        self.asr.transcribe(self.audio, options, lambda _: None, threading.Event())
        return time.perf_counter() - started

    def tts_s(self) -> float:
        started = time.perf_counter()
        self.tts.synthesize(normalize(self.clause), "en_US-joe-medium", 1.0)
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
            runs = measure(service, raw, wav)
        finally:
            service.stop()
            redis.stop()

    def ms(name: str) -> str:
        median, low = statistics.median(runs[name]) * 1000, min(runs[name]) * 1000
        return f"median {median:5.0f} ms  (min {low:5.0f})"

    print(f"Shape 2 streamed, request -> first reply audio byte, {RUNS} runs:")
    print(f"  total                  {ms('total')}")
    print(f"  ASR (tiny.en, raw)     {ms('asr')}   {QUESTION!r}")
    print(f"  LLM first token        {ms('llm')}   (instant stand-in)")
    print(f"  first clause TTS (raw) {ms('tts')}   {raw.clause!r}")
    print(f"  our overhead           {ms('ours')}   (total minus the three, per run)")


if __name__ == "__main__":
    main()
