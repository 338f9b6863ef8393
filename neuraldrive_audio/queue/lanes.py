"""The lanes of the queue, in one table: adding a lane is adding a row to ``LANES``.

arq keeps one sorted set per queue and has no priorities, so each lane is its own arq
queue, and every worker process serves each lane it takes with its own arq worker. Jobs
of a lane that ``yields`` pause between their steps while jobs of a higher lane run on
the same process (``workers.job_frame.JobRun.checkpoint``), so a request sent while an
hour of audio is being transcribed waits for at most one whisper window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue import keys


@dataclass(frozen=True)
class Lane:
    """One lane: its arq queue, its rank, the job kinds it carries and its settings."""

    name: str
    rank: int
    """Lower ranks go first: a yielding lane pauses while a lower-ranked lane has work."""
    functions: tuple[str, ...]
    """The arq functions (job kinds) of this lane."""
    timeout_s: Callable[[Settings], float]
    poll_delay_s: Callable[[Settings], float]
    served: Callable[[Settings], bool]
    """Whether a worker with these settings takes this lane's work."""
    yields: bool = False
    """Its jobs pause at their checkpoints while higher-ranked work runs here."""

    @property
    def queue_name(self) -> str:
        """The arq queue (Redis sorted set) of this lane."""
        return keys.queue(self.name)


INTERACTIVE = Lane(
    name="interactive",
    rank=0,
    functions=(keys.TRANSCRIBE_FUNCTION, keys.SPEECH_FUNCTION, keys.PING_FUNCTION),
    timeout_s=lambda s: s.job_timeout_s,
    poll_delay_s=lambda s: s.worker_poll_delay_s,
    served=lambda s: True,
)
"""The OpenAI endpoints: someone is waiting for the answer."""

BATCH = Lane(
    name="batch",
    rank=1,
    functions=(
        keys.TRANSCRIBE_CHUNK_FUNCTION,
        keys.SPEECH_CHUNK_FUNCTION,
        keys.PING_FUNCTION,
    ),
    timeout_s=lambda s: s.job_chunk_timeout_s,
    poll_delay_s=lambda s: s.worker_batch_poll_delay_s,
    served=lambda s: s.worker_serves_batch,
    yields=True,
)
"""Chunks of asynchronous jobs."""

LANES: tuple[Lane, ...] = tuple(sorted((INTERACTIVE, BATCH), key=lambda lane: lane.rank))
"""Every lane, highest priority first."""


def by_name(name: str) -> Lane:
    """The lane called ``name``; KeyError if there is none."""
    for lane in LANES:
        if lane.name == name:
            return lane
    raise KeyError(name)
