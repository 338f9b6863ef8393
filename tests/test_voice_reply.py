"""The reply pipeline as a live session uses it: an async generator of text and audio
events, cancelled by a barge-in (real Redis, worker, Piper; the LLM stand-in)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from arq.constants import abort_jobs_ss, result_key_prefix
from pydantic import BaseModel

from neuraldrive_audio.api.http.dependencies import make_queue
from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue.client import JobQueue
from neuraldrive_audio.queue.connection import connect
from neuraldrive_audio.queue.lanes import INTERACTIVE, Lane
from neuraldrive_audio.service.llm import LLMClient
from neuraldrive_audio.service.reply import (
    AudioDelta,
    ReplyDone,
    ReplyEvent,
    ReplyVoice,
    TextDelta,
    speak_reply,
)
from tests.harness import RedisServer, Service
from tests.llm_stand_in import LLMStandIn, serve_llm

pytestmark = pytest.mark.service

VOICE = ReplyVoice("piper/en_US-joe-medium", "en_US-joe-medium")
MESSAGES = [{"role": "user", "content": "How do I get to the city?"}]


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


def _reply(llm: LLMStandIn, queue: JobQueue, client: LLMClient) -> AsyncIterator[ReplyEvent]:
    return speak_reply(
        client, queue, model="llama3.2", messages=MESSAGES, voice=VOICE, job_timeout_s=60
    )


async def test_text_first_then_audio_in_clause_order(llm: LLMStandIn, queue: JobQueue) -> None:
    llm.token_delay_s = 0.0
    client = LLMClient(llm.base_url, None, timeout_s=5)
    events = [event async for event in _reply(llm, queue, client)]
    await client.aclose()
    done = events[-1]
    assert isinstance(done, ReplyDone)
    assert done.text == llm.reply == "".join(e.text for e in events if isinstance(e, TextDelta))
    assert " ".join(done.clauses) == llm.reply
    audio = [e for e in events if isinstance(e, AudioDelta)]
    assert [e.clause_index for e in audio] == sorted(e.clause_index for e in audio)
    assert {e.clause_index for e in audio} == set(range(len(done.clauses)))
    assert done.audio_samples == sum(len(e.pcm) for e in audio) // 2
    seconds = done.audio_samples / 24_000
    assert 4 < seconds < 15, seconds  # ~27 words of speech
    assert done.usage.completion_tokens > 0
    timings = done.timings
    assert timings.llm_first_token_s is not None and timings.first_audio_s is not None
    assert timings.llm_first_token_s <= timings.first_audio_s <= timings.total_s


class _WatchedQueue(JobQueue):
    """The real queue client, noting each job it submits (so a test can cancel mid-job)."""

    def __init__(self, queue: JobQueue) -> None:
        super().__init__(queue.redis, max_depth=1000, event_ttl_s=600, job_ttl_s=600)
        self.submitted: list[str] = []
        self.first_submitted = asyncio.Event()

    async def submit(
        self,
        function: str,
        payload: BaseModel,
        job_id: str,
        lane: Lane = INTERACTIVE,
        upload: bytes | None = None,
    ) -> None:
        await super().submit(function, payload, job_id, lane, upload)
        self.submitted.append(job_id)
        self.first_submitted.set()


async def _aborted(queue: JobQueue, job_id: str, timeout_s: float = 10.0) -> bool:
    """Whether the job was aborted: still in arq's abort set, or (once the worker acted on
    it, which takes it out of the set) finished with arq's result for an aborted job."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await queue.redis.zscore(abort_jobs_ss, job_id) is not None:
            return True
        raw = await queue.redis.get(result_key_prefix + job_id)
        if raw is not None:
            # Aborted while running: "job aborted". Aborted while still queued, arq fails it
            # "before start" with a bare CancelledError, which our JSON serializer stores as "".
            result = json.loads(raw)
            return result["s"] is False and (result["r"] == "" or "aborted" in str(result["r"]))
        await asyncio.sleep(0.1)
    return False


async def test_barge_in_stops_the_llm_and_aborts_the_speech(
    llm: LLMStandIn, queue: JobQueue
) -> None:
    # Slow enough that the LLM is still writing when its first clause is being spoken,
    # whatever the machine's load.
    llm.token_delay_s = 0.3
    client = LLMClient(llm.base_url, None, timeout_s=5)
    before = llm.streams_closed_early
    watched = _WatchedQueue(queue)

    async def session() -> None:
        async for _ in _reply(llm, watched, client):
            pass

    task = asyncio.create_task(session())
    # Barge in while the first clause's speech job is queued or running: it must be aborted.
    await asyncio.wait_for(watched.first_submitted.wait(), timeout=30)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped_s = time.monotonic() - cancelled_at
    assert await asyncio.to_thread(llm.wait_closed_early, before + 1, 2.0)
    first_job = watched.submitted[0]
    assert await _aborted(queue, first_job), f"{first_job} was not aborted"
    await client.aclose()
    print(f"barge-in: pipeline stopped {stopped_s * 1000:.0f} ms after cancel")
