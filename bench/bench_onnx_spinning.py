"""What ONNX Runtime's spin-waiting threads cost, for Kokoro and Piper on this CPU.

Prints, from one run, per engine and per setting of ``onnx_thread_spinning``: the median
wall time and the CPU time (user + system of this process) of one sentence, alone and
again while a CPU-bound process competes for the cores (a stand-in for the LLM or another
worker on the box). Spinning threads busy-wait for the next operator instead of sleeping,
so they burn CPU the other process could use; the ratio CPU(on) / CPU(off) is what the
default (off) saves.

Run: python bench/bench_onnx_spinning.py [--runs N]   (needs the demo extra)
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.base import TextToSpeech, as_text_to_speech
from neuraldrive_audio.storage.demo_models import KOKORO_ID, PIPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore

SENTENCE = "The weather today is sunny with a light breeze from the west."
VOICES = {KOKORO_ID: "jf_alpha", PIPER_ID: "en_US-joe-medium"}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _burn(stop: multiprocessing.synchronize.Event) -> None:
    """A CPU-bound competitor: pure Python arithmetic until told to stop."""
    total = 0
    while not stop.is_set():
        for i in range(100_000):
            total += i * i


def _engine(store: ModelStore, model_id: str, spinning: bool) -> TextToSpeech:
    manifest = store.get(model_id)
    settings = Settings(onnx_thread_spinning=spinning)
    loaded = registry.of(manifest).load(manifest, store.path_of(manifest), settings, Device("cpu"))
    return as_text_to_speech(loaded)


def measure(engine: TextToSpeech, voice: str, runs: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of one sentence, after a warm-up."""
    engine.synthesize(SENTENCE, voice, 1.0)
    walls, cpus = [], []
    for _ in range(runs):
        cpu, started = _cpu_s(), time.perf_counter()
        engine.synthesize(SENTENCE, voice, 1.0)
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu_s() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    store = ModelStore(Path(tempfile.mkdtemp(prefix="bench-spin-")))
    register_demo_models(store)
    print(f"one sentence, median of {args.runs}; CPU = this process's user + system time")
    for model_id, voice in VOICES.items():
        for competing in (False, True):
            figures = {}
            for spinning in (False, True):
                engine = _engine(store, model_id, spinning)
                stop = multiprocessing.Event()
                rival = multiprocessing.Process(target=_burn, args=(stop,))
                if competing:
                    rival.start()
                try:
                    figures[spinning] = measure(engine, voice, args.runs)
                finally:
                    stop.set()
                    if competing:
                        rival.join()
                engine.close()
            (wall_off, cpu_off), (wall_on, cpu_on) = figures[False], figures[True]
            where = "with a CPU-bound rival" if competing else "alone"
            print(
                f"{model_id:26} {where:23} spinning off: {wall_off:.2f} s wall, {cpu_off:.2f} s CPU"
                f" | on: {wall_on:.2f} s wall, {cpu_on:.2f} s CPU"
                f" | CPU on/off {cpu_on / cpu_off:.2f}, wall on/off {wall_on / wall_off:.2f}"
            )


if __name__ == "__main__":
    main()
