"""What the newer transcription fields cost, on the whisper engine itself (no queue).

Prints the median time of a ~20 s clip transcribed plain, with ``include[]=logprobs``
(one extra encoder pass and forced decode per segment), with ``chunking_strategy=auto``
(VAD clips through the batched pipeline) and with ``keywords[]`` (hotwords).

    python bench/bench_transcription_fields.py
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import whisper
from neuraldrive_audio.engines.base import TranscribeOptions
from neuraldrive_audio.media.decode import decode_upload
from neuraldrive_audio.media.samples import duration_s
from neuraldrive_audio.queue.payloads import TranscriptionTask, VadSplit
from neuraldrive_audio.storage.demo_models import WHISPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.speech_clips import SENTENCES, make_clip

RUNS = 3


def main() -> None:
    """Time each variant RUNS times and print medians."""
    store = ModelStore(Path(tempfile.mkdtemp()))
    register_demo_models(store)
    manifest = store.get(WHISPER_ID)
    engine = whisper.load(manifest, store.path_of(manifest), Settings(), Device("cpu"))
    audio = decode_upload(make_clip(" ".join(SENTENCES[:6])), 3600)
    base = {"task": TranscriptionTask.TRANSCRIBE, "language": None, "prompt": None,
            "temperature": 0.0, "word_timestamps": False}  # fmt: skip
    variants = {
        "plain": TranscribeOptions(**base),  # type: ignore[arg-type]
        "include[]=logprobs": TranscribeOptions(**base, logprobs=True),  # type: ignore[arg-type]
        "chunking_strategy=auto": TranscribeOptions(**base, vad_split=VadSplit()),  # type: ignore[arg-type]
        "keywords[]": TranscribeOptions(**base, hotwords="report finance"),  # type: ignore[arg-type]
    }
    print(f"clip: {duration_s(audio):.1f} s, whisper tiny.en int8, {RUNS} runs each")
    engine.transcribe(audio, variants["plain"], lambda _: None, threading.Event())  # warm up
    for name, options in variants.items():
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            engine.transcribe(audio, options, lambda _: None, threading.Event())
            times.append(time.perf_counter() - started)
        print(f"{name:24s} median {statistics.median(times):.2f} s  (min {min(times):.2f})")


if __name__ == "__main__":
    main()
