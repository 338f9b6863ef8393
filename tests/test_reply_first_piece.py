"""A spoken reply's first piece is its first words, not its first sentence, and the join
after it is not heard (real Redis, worker and Piper; the LLM stand-in)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from neuraldrive_audio.api.http.dependencies import make_queue
from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue.client import JobQueue
from neuraldrive_audio.queue.connection import connect
from neuraldrive_audio.service.llm import LLMClient
from neuraldrive_audio.service.reply import AudioDelta, ReplyDone, ReplyVoice, speak_reply
from tests.harness import RedisServer, Service
from tests.llm_stand_in import DEFAULT_REPLY, LLMStandIn, serve_llm

pytestmark = pytest.mark.service

VOICE = ReplyVoice("piper/en_US-joe-medium", "en_US-joe-medium")
RATE = 24_000


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMStandIn]:
    with serve_llm() as state:
        yield state


@pytest.fixture
async def queue(service: Service, redis_server: RedisServer) -> AsyncIterator[JobQueue]:
    """A queue client on the shared service's Redis (its worker runs the jobs)."""
    redis = await connect(f"{redis_server.url}/0")
    yield make_queue(redis, Settings())
    await redis.aclose()


def _trailing_quiet_s(pcm: bytes) -> float:
    """Seconds after the last sample above -40 dB of the peak."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    loud = np.flatnonzero(np.abs(samples) > 0.01 * np.abs(samples).max())
    return (len(samples) - 1 - int(loud[-1])) / RATE


async def test_the_first_piece_is_the_first_words_and_runs_on(
    llm: LLMStandIn, queue: JobQueue
) -> None:
    client = LLMClient(llm.base_url, None, timeout_s=5)
    events = [
        event
        async for event in speak_reply(
            client, queue, model="llama3.2", voice=VOICE, job_timeout_s=120,
            messages=[{"role": "user", "content": "When does the next train leave?"}],
        )
    ]  # fmt: skip
    await client.aclose()
    done = events[-1]
    assert isinstance(done, ReplyDone)
    assert done.text == DEFAULT_REPLY
    # The long first sentence has no comma: its first seven words are spoken first.
    assert done.clauses[:2] == [
        "The next train to the city leaves",
        "from the main platform in a few minutes.",
    ]
    pieces = [b"".join(e.pcm for e in events if isinstance(e, AudioDelta) and e.clause_index == i)
              for i in range(len(done.clauses))]  # fmt: skip
    # The first piece ends mid-phrase: no pause after it (Piper leaves ~0.2-0.3 s after a
    # phrase; a sentence's end keeps its pause).
    # The cut keeps a breath (30 ms); Piper's pause after a sentence varies (~0.09-0.3 s).
    run_on, sentence_end = _trailing_quiet_s(pieces[0]), _trailing_quiet_s(pieces[1])
    assert run_on < 0.06, run_on
    assert sentence_end > run_on, (run_on, sentence_end)
