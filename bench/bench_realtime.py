"""Live transcription latency: speech_stopped -> ...transcription.completed, vs. raw whisper.

Streams a clip of spoken sentences (Piper, pauses between them) into /v1/realtime at
real-time pace in 100 ms chunks with server VAD, through the official SDK, API, Redis and a
worker. For every turn it takes the delay from the ``speech_stopped`` event to the
``.completed`` event; then it runs raw faster-whisper (decode + transcribe, same settings,
in this process, nothing else running) on exactly the audio each turn committed.

Prints per-turn figures, then median and p95 of both and of the difference.
Targets (2-core CPU, tiny.en): median delay <= median raw + 150 ms, and < 1 s.

Run: python bench/bench_realtime.py [--passes N]   (needs redis-server and the demo extra)
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import numpy.typing as npt
from faster_whisper import WhisperModel

from bench.demo_service import running_service, transcription_session
from neuraldrive_audio.engines.whisper import FALLBACK_TEMPERATURES
from neuraldrive_audio.media.decode import decode_upload
from neuraldrive_audio.media.pcm import wav_bytes
from neuraldrive_audio.storage.demo_models import WHISPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import Service
from tests.realtime_audio import CHUNK_MS, spoken_turns
from tests.speech_clips import SENTENCES, word_error_rate

RATE = 24000
SILENCE_MS = 500


async def stream_clip(
    service: Service, audio: npt.NDArray[np.int16], expected_turns: int
) -> list[dict[str, Any]]:
    """One pass: every turn's start/end (ms), speech_stopped -> completed delay, transcript."""
    client = service.async_client()
    turns: dict[str, dict[str, Any]] = {}
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        await connection.send(transcription_session(RATE, SILENCE_MS))  # type: ignore[arg-type]

        async def send() -> None:
            loop = asyncio.get_running_loop()
            started = loop.time()
            step = RATE * CHUNK_MS // 1000
            for index, start in enumerate(range(0, len(audio), step)):
                chunk = base64.b64encode(audio[start : start + step].tobytes()).decode()
                await connection.input_audio_buffer.append(audio=chunk)
                await asyncio.sleep(max(0.0, started + (index + 1) * CHUNK_MS / 1000 - loop.time()))

        sender = asyncio.create_task(send())
        async for event in connection:
            now = time.perf_counter()
            if event.type == "input_audio_buffer.speech_started":
                turns[event.item_id] = {"start_ms": event.audio_start_ms}
            elif event.type == "input_audio_buffer.speech_stopped":
                turns[event.item_id].update(end_ms=event.audio_end_ms, stopped=now)
            elif event.type == "conversation.item.input_audio_transcription.completed":
                turns[event.item_id].update(delay=now - turns[event.item_id]["stopped"],
                                            text=event.transcript)  # fmt: skip
            elif event.type == "conversation.item.input_audio_transcription.failed":
                raise RuntimeError(f"turn failed: {event.error}")
            if sum("delay" in t for t in turns.values()) == expected_turns:
                break
        await sender
    return list(turns.values())


def raw_time(model: WhisperModel, turn_audio: npt.NDArray[np.int16]) -> float:
    """Decode + transcribe the turn's WAV as the worker would, in this process."""
    wav = wav_bytes(turn_audio, RATE)
    started = time.perf_counter()
    segments, _ = model.transcribe(
        decode_upload(wav, 3600), language="en", beam_size=5, temperature=FALLBACK_TEMPERATURES
    )
    list(segments)
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passes", type=int, default=2, help="times the clip is streamed")
    args = parser.parse_args()
    audio = spoken_turns(SENTENCES, rate=RATE, gap_ms=1200)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = ModelStore(root / "models")
        register_demo_models(store)
        with running_service(root) as service:
            warm = wav_bytes(audio[: RATE * 3], RATE)  # the worker loads the model once
            service.client().audio.transcriptions.create(model="whisper-1", file=("w.wav", warm))
            turns = [
                t
                for _ in range(args.passes)
                for t in asyncio.run(stream_clip(service, audio, len(SENTENCES)))
            ]
        model = WhisperModel(str(store.path_of(store.get(WHISPER_ID))), device="cpu",
                             compute_type="int8")  # fmt: skip
        raw_time(model, audio[: RATE * 3])  # warm-up
        for turn in turns:
            segment = audio[turn["start_ms"] * RATE // 1000 : turn["end_ms"] * RATE // 1000]
            turn["raw"] = raw_time(model, segment)
    delays = [t["delay"] for t in turns]
    raws = [t["raw"] for t in turns]
    extra = [t["delay"] - t["raw"] for t in turns]
    print(f"{len(turns)} turns ({args.passes} passes of {len(SENTENCES)} sentences), whisper "
          f"tiny.en int8 beam 5, server_vad silence {SILENCE_MS} ms, 100 ms chunks")  # fmt: skip
    print(f"{'turn s':>7} {'delay ms':>9} {'raw ms':>7} {'extra ms':>9}  transcript")
    for turn in turns:
        seconds = (turn["end_ms"] - turn["start_ms"]) / 1000
        print(f"{seconds:7.2f} {turn['delay'] * 1000:9.0f} {turn['raw'] * 1000:7.0f} "
              f"{(turn['delay'] - turn['raw']) * 1000:9.0f}  {turn['text'][:60]}")  # fmt: skip
    expected = " ".join(SENTENCES * args.passes)
    heard = " ".join(t["text"] for t in turns)
    print(f"WER over all turns: {word_error_rate(expected, heard) * 100:.1f} %")
    for name, values in (("speech_stopped -> completed", delays), ("raw faster-whisper", raws),
                         ("difference (ours)", extra)):  # fmt: skip
        print(f"{name:28} median {statistics.median(values) * 1000:6.0f} ms   "
              f"p95 {percentile(values, 0.95) * 1000:6.0f} ms")  # fmt: skip
    median_delay, median_raw = statistics.median(delays), statistics.median(raws)
    verdict = "met" if median_delay <= median_raw + 0.15 else "MISSED"
    print(f"target median <= raw + 150 ms: {median_delay * 1000:.0f} <= "
          f"{(median_raw + 0.15) * 1000:.0f}  -> {verdict}")  # fmt: skip
    print(f"target median < 1 s: {'met' if median_delay < 1 else 'MISSED'}")


if __name__ == "__main__":
    main()
