"""A speech job whose text runs on into the next job (a live reply's first piece) ends
without the pause an engine leaves after a phrase, so the next job's audio joins it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt
import pytest

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.base import TextToSpeech, as_text_to_speech
from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.media.seams import SEAM_KEEP_S
from neuraldrive_audio.queue.payloads import SpeechJob
from neuraldrive_audio.storage.demo_models import PIPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from neuraldrive_audio.workers.job_frame import JobRun
from neuraldrive_audio.workers.speech_job import speak

pytestmark = pytest.mark.service

PIECE = "The next train to the city leaves"
RATE = 24_000


@pytest.fixture(scope="module")
def piper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TextToSpeech]:
    store = ModelStore(Path(tmp_path_factory.mktemp("models")))
    register_demo_models(store)
    manifest = store.get(PIPER_ID)
    loaded = registry.of(manifest).load(
        manifest, store.path_of(manifest), Settings(), Device("cpu")
    )
    yield as_text_to_speech(loaded)
    loaded.close()


class _Run:
    """A job run that is never cancelled (what ``speak`` asks of its ``JobRun``)."""

    def checkpoint(self) -> None:
        return None


def _pcm(engine: TextToSpeech, runs_on: bool) -> npt.NDArray[np.float64]:
    job = SpeechJob(job_id="j", model_id=PIPER_ID, input=PIECE, voice="en_US-joe-medium",
                    response_format=SpeechFormat.PCM, runs_on=runs_on)  # fmt: skip
    out: list[bytes] = []
    speak(engine, job, out.append, cast(JobRun, _Run()), 4096)
    return np.frombuffer(b"".join(out), dtype="<i2").astype(np.float64)


def _trailing_silence_s(pcm: npt.NDArray[np.float64]) -> float:
    """Seconds after the last sample within 45 dB of the peak (the seam's silence floor)."""
    audible = np.flatnonzero(np.abs(pcm) > np.abs(pcm).max() * 10 ** (-45 / 20))
    return (len(pcm) - 1 - int(audible[-1])) / RATE


def test_a_piece_that_runs_on_loses_its_trailing_pause(piper: TextToSpeech) -> None:
    # Piper's durations vary from run to run (its noise), so the run-on piece is judged by
    # its own tail, not by its length against another synthesis.
    whole, running_on = _pcm(piper, False), _pcm(piper, True)
    tail_s = _trailing_silence_s(running_on)
    # What is kept is a breath (SEAM_KEEP_S) plus the resampler's few milliseconds.
    assert tail_s <= SEAM_KEEP_S + 0.02, tail_s
    assert _trailing_silence_s(whole) > tail_s
    assert len(running_on) / RATE > 1.0  # the words themselves are all there
