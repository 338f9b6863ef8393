"""A spoken reply: LLM tokens -> clauses -> speech jobs on the workers -> audio, pipelined.

:func:`speak_reply` is an async generator of :data:`ReplyEvent`. Text deltas are yielded
the moment the LLM sends them; each clause, once complete, becomes an interactive-lane
speech job (s16le pcm at the output rate), submitted while the previous clause's audio
still streams (up to ``lookahead`` jobs at once), and its audio is yielded as it
arrives, always in clause order. Three tasks run under the generator:

    LLM stream --text--> splitter --clauses--> submitter --job ids--> player --audio-->

so a slow TTS never holds back the text, and the LLM never waits for the TTS.
Cancelling the consumer (``task.cancel()`` on a barge-in, or an HTTP client leaving,
which closes the generator) stops all three at once: the LLM stream is closed and every
speech job not yet finished is aborted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from neuraldrive_audio.media.clauses import FIRST_PIECE_WORDS, ClauseSplitter, ends_mid_phrase
from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.client import JobQueue, new_job_id
from neuraldrive_audio.queue.events import EventType
from neuraldrive_audio.queue.payloads import SpeechJob
from neuraldrive_audio.service import jobs
from neuraldrive_audio.service.llm import (
    LLMClient,
    LLMFinish,
    LLMText,
    LLMToolCall,
    LLMUsage,
    ToolCall,
    whole_tool_calls,
)

log = logging.getLogger(__name__)

DEFAULT_LOOKAHEAD = 2
"""Speech jobs of one reply in flight at once: the one playing and the next one."""


@dataclass(frozen=True)
class ReplyVoice:
    """How a reply is spoken: an installed TTS model, one of its voices, a speed."""

    model_id: str
    voice: str
    speed: float = 1.0


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply's text, as the LLM sent it."""

    text: str


@dataclass(frozen=True)
class AudioDelta:
    """Reply audio (pcm16 mono at ``OUTPUT_SAMPLE_RATE``) of clause ``clause_index``
    (``clause`` is its text)."""

    pcm: bytes
    clause_index: int
    clause: str


@dataclass
class ReplyTimings:
    """When things happened, in seconds after the reply started (None: did not happen)."""

    llm_first_token_s: float | None = None
    first_clause_s: float | None = None
    first_audio_s: float | None = None
    total_s: float = 0.0


@dataclass(frozen=True)
class ReplyDone:
    """The end of a reply: its whole text, the clauses spoken, usage and timings, the
    functions the LLM called and why it stopped (``stop``, ``tool_calls``, ``length``)."""

    text: str
    clauses: list[str]
    usage: LLMUsage
    audio_samples: int
    timings: ReplyTimings
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"


ReplyEvent = TextDelta | AudioDelta | ToolCall | ReplyDone


@dataclass
class _Reply:
    """What the tasks of one reply share."""

    started: float = field(default_factory=time.perf_counter)
    text: list[str] = field(default_factory=list)
    clauses: list[str] = field(default_factory=list)
    usage: LLMUsage = field(default_factory=LLMUsage)
    audio_samples: int = 0
    timings: ReplyTimings = field(default_factory=ReplyTimings)
    unfinished_jobs: set[str] = field(default_factory=set)
    tool_call_pieces: list[LLMToolCall] = field(default_factory=list)
    finish_reason: str = "stop"

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


async def speak_reply(
    llm: LLMClient,
    queue: JobQueue,
    *,
    model: str,
    messages: list[dict[str, Any]],
    voice: ReplyVoice,
    job_timeout_s: float,
    options: dict[str, Any] | None = None,
    lookahead: int = DEFAULT_LOOKAHEAD,
    splitter: ClauseSplitter | None = None,
) -> AsyncGenerator[ReplyEvent, None]:
    """Stream the LLM's reply to ``messages`` as text deltas and spoken audio, then the
    tool calls it made (each whole), then :class:`ReplyDone`. ``options`` are passed to the
    LLM (``tools``, ``tool_choice``, temperature, max_tokens, ...).

    Raises :class:`ServiceError` (``LLMUnavailableError`` / ``LLMRequestError`` for LLM
    failures; a queue or worker error for speech jobs that could not run) at the point
    it happens: before the first event if the LLM is down, in mid-stream otherwise.
    """
    reply = _Reply()
    out: asyncio.Queue[ReplyEvent | BaseException | None] = asyncio.Queue()
    clauses: asyncio.Queue[str | None] = asyncio.Queue()
    speaking: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
    slots = asyncio.Semaphore(lookahead)

    async def write() -> None:
        cutter = splitter or ClauseSplitter(first_piece_words=FIRST_PIECE_WORDS)
        async for item in llm.stream(model, messages, options):
            if isinstance(item, LLMUsage):
                reply.usage = item
            elif isinstance(item, LLMFinish):
                reply.finish_reason = item.reason
            elif isinstance(item, LLMToolCall):
                reply.tool_call_pieces.append(item)
            elif isinstance(item, LLMText):
                if reply.timings.llm_first_token_s is None:
                    reply.timings.llm_first_token_s = reply.elapsed()
                reply.text.append(item.text)
                out.put_nowait(TextDelta(item.text))
                for clause in cutter.feed(item.text):
                    clauses.put_nowait(clause)
        for clause in cutter.flush():
            clauses.put_nowait(clause)
        clauses.put_nowait(None)

    async def submit_clauses() -> None:
        while (clause := await clauses.get()) is not None:
            if reply.timings.first_clause_s is None:
                reply.timings.first_clause_s = reply.elapsed()
            await slots.acquire()
            job_id = new_job_id()
            job = SpeechJob(
                job_id=job_id,
                model_id=voice.model_id,
                input=clause,
                voice=voice.voice,
                response_format=SpeechFormat.PCM,
                speed=voice.speed,
                runs_on=ends_mid_phrase(clause),
            )
            reply.unfinished_jobs.add(job_id)
            await jobs.submit(queue, keys.SPEECH_FUNCTION, job, job_id)
            speaking.put_nowait((job_id, clause))
        speaking.put_nowait(None)

    async def play() -> None:
        while (item := await speaking.get()) is not None:
            job_id, clause = item
            index = len(reply.clauses)
            reply.clauses.append(clause)
            async for event in jobs.follow(queue, job_id, job_timeout_s):
                if event.type is EventType.AUDIO and event.audio:
                    if reply.timings.first_audio_s is None:
                        reply.timings.first_audio_s = reply.elapsed()
                    reply.audio_samples += len(event.audio) // 2
                    out.put_nowait(AudioDelta(event.audio, index, clause))
            reply.unfinished_jobs.discard(job_id)
            slots.release()
        out.put_nowait(None)

    tasks = [asyncio.create_task(_reporting(step, out)) for step in (write, submit_clauses, play)]
    try:
        while (event := await out.get()) is not None:
            if isinstance(event, BaseException):
                raise event
            yield event
        # The calls come after what was said before them, whole, as the reply's last word.
        calls = tuple(whole_tool_calls(reply.tool_call_pieces))
        for call in calls:
            yield call
        reply.timings.total_s = reply.elapsed()
        log.info("reply spoken", extra={"timings": reply.timings, "clauses": len(reply.clauses)})
        yield ReplyDone(
            "".join(reply.text), reply.clauses, reply.usage, reply.audio_samples, reply.timings,
            calls, reply.finish_reason,
        )  # fmt: skip
    finally:
        await _stop(tasks, queue, reply.unfinished_jobs)


async def _reporting(
    step: Callable[[], Awaitable[None]], out: asyncio.Queue[ReplyEvent | BaseException | None]
) -> None:
    """Run one stage; its failure goes to the consumer, which raises it."""
    try:
        await step()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        out.put_nowait(exc)


async def _stop(tasks: list[asyncio.Task[None]], queue: JobQueue, unfinished: set[str]) -> None:
    """Cancel the stages (closing the LLM stream) and abort the speech jobs still running."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for job_id in unfinished:
        # Shielded: this also runs while the consumer itself is being cancelled.
        await jobs.abort(queue, job_id)
    if unfinished:
        log.info("reply stopped; speech jobs aborted", extra={"job_ids": sorted(unfinished)})
