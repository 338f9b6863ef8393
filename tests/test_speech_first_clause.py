"""Kokoro speaks the first clause of a long first sentence on its own, without a seam.

Through the real app (SDK-free SSE so every audio event is one delta) against the same
Kokoro demo model loaded in-process, speaking the text sentence by sentence, unsplit.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.base import TextToSpeech, as_text_to_speech
from neuraldrive_audio.media.samples import FloatAudio, from_s16le
from neuraldrive_audio.media.text import speakable
from neuraldrive_audio.storage.demo_models import KOKORO_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import Service

pytestmark = pytest.mark.service

RATE = 24_000
VOICE = "jf_alpha"
CLAUSE = "After a long and difficult winter,"
# One sentence: only the first sentence is ever cut, and Kokoro's time grows with the
# audio it makes (here the sentence is spoken three times: unsplit, streamed, clause).
TEXT = f"{CLAUSE} the farmers in the valley hope for an early spring."
FRAME_S = 0.01


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TextToSpeech]:
    store = ModelStore(Path(tmp_path_factory.mktemp("models")))
    register_demo_models(store)
    manifest = store.get(KOKORO_ID)
    loaded = registry.of(manifest).load(
        manifest, store.path_of(manifest), Settings(), Device("cpu")
    )
    yield as_text_to_speech(loaded)
    loaded.close()


def _deltas(service: Service, text: str) -> list[FloatAudio]:
    """The streamed speech.audio.delta events, each decoded to float samples."""
    body = {"model": KOKORO_ID, "voice": VOICE, "input": text, "stream_format": "sse",
            "response_format": "pcm"}  # fmt: skip
    with service.http() as http, http.stream("POST", "/v1/audio/speech", json=body) as response:
        assert response.status_code == 200
        events = [
            json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")
        ]
    audio = [base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta"]
    return [from_s16le(np.frombuffer(a, dtype="<i2")) for a in audio if a]


def _pause_around(audio: FloatAudio, at_s: float) -> float:
    """Seconds of the longest quiet run (below -40 dB of the peak) touching ``at_s`` ±0.15 s."""
    frame = int(RATE * FRAME_S)
    frames = len(audio) // frame
    rms = np.sqrt((audio[: frames * frame].reshape(frames, frame) ** 2).mean(axis=1))
    quiet = rms < 0.01 * np.abs(audio).max()
    lo, hi = int((at_s - 0.15) / FRAME_S), int((at_s + 0.15) / FRAME_S)
    best, start = 0, None
    for index, is_quiet in enumerate([*quiet, False]):
        if is_quiet and start is None:
            start = index
        elif not is_quiet and start is not None:
            if start <= hi and index >= lo:
                best = max(best, index - start)
            start = None
    return best * FRAME_S


def _speech_end_s(audio: FloatAudio) -> float:
    """Where the last audible sample (above -40 dB of the peak) is, in seconds."""
    return float(np.flatnonzero(np.abs(audio) > 0.01 * np.abs(audio).max())[-1]) / RATE


def test_long_first_sentence_streams_its_first_clause_first(
    service: Service, engine: TextToSpeech
) -> None:
    sentences = speakable(TEXT)
    unsplit = [engine.synthesize(s, VOICE, 1.0) for s in sentences]
    clause_alone = engine.synthesize(CLAUSE, VOICE, 1.0)

    deltas = _deltas(service, TEXT)
    # More than one piece, and the first is the clause alone: well under half the sentence.
    assert len(deltas) >= 2
    assert len(deltas[0]) == pytest.approx(len(clause_alone), rel=0.02)
    assert len(deltas[0]) < 0.5 * len(unsplit[0])
    # The whole output lasts what unsplit synthesis does (measured within 1 %).
    streamed = np.concatenate(deltas)
    assert len(streamed) == pytest.approx(sum(len(a) for a in unsplit), rel=0.03)

    # The seam: no click (the step at the join is at noise level; speech steps reach
    # ~0.4), and the pause there is a comma pause like the one the model makes unsplit.
    join = len(deltas[0])
    assert abs(float(streamed[join]) - float(streamed[join - 1])) < 0.005
    natural = _pause_around(unsplit[0], _speech_end_s(clause_alone))
    joined = _pause_around(streamed, join / RATE)
    assert natural > 0.2, natural  # the reference really pauses at the comma
    assert 0.6 * natural <= joined <= 1.4 * natural, (joined, natural)
