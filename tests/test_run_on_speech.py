"""A speech job whose text runs on into the next job (a live reply's first piece) ends
without the pause an engine leaves after a phrase, so the next job's audio joins it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.base import TextToSpeech, as_text_to_speech
from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.queue.payloads import SpeechJob
from neuraldrive_audio.storage.demo_models import PIPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from neuraldrive_audio.workers.job_frame import JobRun
from neuraldrive_audio.workers.speech_job import speak

pytestmark = pytest.mark.slow

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


def _samples(engine: TextToSpeech, runs_on: bool) -> int:
    job = SpeechJob(job_id="j", model_id=PIPER_ID, input=PIECE, voice="en_US-joe-medium",
                    response_format=SpeechFormat.PCM, runs_on=runs_on)  # fmt: skip
    out: list[bytes] = []
    speak(engine, job, out.append, cast(JobRun, _Run()), 4096)
    return len(b"".join(out)) // 2


def test_a_piece_that_runs_on_loses_its_trailing_pause(piper: TextToSpeech) -> None:
    whole, running_on = _samples(piper, False), _samples(piper, True)
    trimmed_s = (whole - running_on) / RATE
    # Piper leaves ~0.2-0.3 s after a phrase; what is kept is a breath.
    assert 0.1 < trimmed_s < 0.5, trimmed_s
    assert running_on / RATE > 1.0  # the words themselves are all there
