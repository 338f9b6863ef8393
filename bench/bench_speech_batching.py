"""Can speech jobs be batched like transcriptions? What Kokoro's graph accepts, measured.

Prints, from one run, for the demo Kokoro ONNX graph:
  1. the batch dimension its inputs declare, and what ONNX Runtime answers to a batch of 2;
  2. N sentences synthesized one after another vs. N at once from N threads on the same
     session (the only way to "batch" a batch-1 graph), as a throughput ratio.
Read with bench_concurrency.py: batching pays for whisper because its decoder steps are
many small matrix products; a Kokoro call is one large forward pass that already spreads
over every core (ONNX Runtime's intra-op threads).

Run: python bench/bench_speech_batching.py   (needs the demo extra)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import onnxruntime as ort

from neuraldrive_audio.storage.demo_models import KOKORO_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore

SENTENCES = 4
TOKENS = 60  # about a 12-word sentence
RUNS = 3


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(Path(tmp) / "models")
        register_demo_models(store)
        model_dir = store.path_of(store.get(KOKORO_ID))
        session = ort.InferenceSession(
            str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        voices = np.load(model_dir / "voices.npz")
        style = np.asarray(voices[sorted(voices.keys())[0]])[TOKENS - 1]
    tokens_input = session.get_inputs()[0]
    print(f"kokoro graph inputs: {[(i.name, i.shape) for i in session.get_inputs()]}")
    tokens = np.random.default_rng(0).integers(1, 150, (1, TOKENS)).astype(np.int64)
    speed = np.array([1.0], np.float32)

    def speak(_: int = 0) -> None:
        session.run(None, {tokens_input.name: tokens, "style": style, "speed": speed})

    try:
        pair = {"style": np.repeat(style, 2, 0), "speed": np.repeat(speed, 2)}
        session.run(None, {tokens_input.name: np.repeat(tokens, 2, 0), **pair})
        print("batch of 2: accepted")
    except Exception as error:  # ONNX Runtime raises its own exception types
        print(f"batch of 2: refused ({str(error).splitlines()[0][:100]})")
    speak()  # warm-up
    sequential, threaded = [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        for _ in range(SENTENCES):
            speak()
        sequential.append(time.perf_counter() - started)
        with ThreadPoolExecutor(SENTENCES) as pool:
            started = time.perf_counter()
            list(pool.map(speak, range(SENTENCES)))
            threaded.append(time.perf_counter() - started)
    seq, thr = statistics.median(sequential), statistics.median(threaded)
    print(f"{SENTENCES} sentences of {TOKENS} tokens, median of {RUNS}: "
          f"one after another {seq:.2f} s, {SENTENCES} threads at once {thr:.2f} s, "
          f"throughput gain {seq / thr:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
