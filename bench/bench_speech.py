"""Speech through the service vs. the raw engines, for Kokoro and Piper.

Prints, from one run, per engine: time to first audio byte (streamed raw PCM) vs. the raw
time of the first sentence and vs. the raw time of the first clause (the service speaks
the first sentence's first clause on its own; target for Kokoro <= 1.3x the clause), and
total time vs. the raw engine on the whole text, sentence by sentence (target <= 1.05x).
Raw = the engine's own synthesize() called in-process, the way a worker calls it (no
queue, HTTP or encoding). The first sentence is long and has a comma, like a typical
reply or article opening.

Run: python bench/bench_speech.py   (needs redis-server and the demo extra)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.demo_service import running_service
from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.base import as_text_to_speech
from neuraldrive_audio.media.clauses import split_first_clause
from neuraldrive_audio.media.text import normalize, split_sentences
from neuraldrive_audio.storage.demo_models import KOKORO_ID, PIPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import Service

RUNS = 3
TEXT = (
    "Welcome to the evening news, where tonight we look at the storm moving in from the "
    "west and what it means for your weekend plans. "
    "Heavy rain is expected across the north tonight. "
    "Drivers should allow extra time for their journeys tomorrow morning. "
    "In sport, the home team won their third match in a row. "
    "That is all for now, thank you for listening."
)
VOICES = {KOKORO_ID: "jf_alpha", PIPER_ID: "en_US-joe-medium"}


def raw_times(store: ModelStore, model_id: str) -> tuple[float, float, float]:
    """Median (first clause, first sentence, whole text) seconds of the engine itself."""
    manifest = store.get(model_id)
    plugin = registry.of(manifest)
    loaded = plugin.load(manifest, store.path_of(manifest), Settings(), Device("cpu"))
    engine = as_text_to_speech(loaded)
    sentences = [normalize(s) for s in split_sentences(TEXT)]
    clause = split_first_clause(sentences[0])[0]
    engine.synthesize(sentences[0], VOICES[model_id], 1.0)  # warm-up
    clauses, firsts, totals = [], [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        engine.synthesize(clause, VOICES[model_id], 1.0)
        clauses.append(time.perf_counter() - started)
        started = time.perf_counter()
        for index, sentence in enumerate(sentences):
            engine.synthesize(sentence, VOICES[model_id], 1.0)
            if index == 0:
                firsts.append(time.perf_counter() - started)
        totals.append(time.perf_counter() - started)
    engine.close()
    return statistics.median(clauses), statistics.median(firsts), statistics.median(totals)


def service_times(service: Service, model_id: str) -> tuple[float, float]:
    """Median (first audio byte, last byte) seconds through the SDK, HTTP, Redis, worker."""
    client = service.client()
    client.audio.speech.create(model=model_id, voice=VOICES[model_id], input="Warm up.").read()
    firsts, totals = [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        first = None
        # pcm: a WAV without stream_format comes in one piece (with its true sizes).
        with client.audio.speech.with_streaming_response.create(
            model=model_id, voice=VOICES[model_id], input=TEXT, response_format="pcm"
        ) as response:
            for chunk in response.iter_bytes():
                if chunk and first is None:
                    first = time.perf_counter() - started
        totals.append(time.perf_counter() - started)
        firsts.append(first or 0.0)
    return statistics.median(firsts), statistics.median(totals)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = ModelStore(root / "models")
        register_demo_models(store)
        with running_service(root) as service:
            for model_id in (PIPER_ID, KOKORO_ID):
                raw_clause, raw_first, raw_total = raw_times(store, model_id)
                svc_first, svc_total = service_times(service, model_id)
                print(f"{model_id}: {len(split_sentences(TEXT))} sentences, {RUNS} runs (median)")
                print(
                    f"  first audio: service {svc_first:.3f} s, raw first clause "
                    f"{raw_clause:.3f} s, ratio {svc_first / raw_clause:.2f} (target <= 1.3)"
                )
                print(
                    f"               raw first sentence {raw_first:.3f} s, "
                    f"ratio {svc_first / raw_first:.2f}"
                )
                print(f"  total:       service {svc_total:.3f} s, raw {raw_total:.3f} s, "
                      f"ratio {svc_total / raw_total:.3f} (target <= 1.05)")  # fmt: skip


if __name__ == "__main__":
    main()
