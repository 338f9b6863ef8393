"""Two lanes: interactive requests (the OpenAI endpoints) and batch work (async job chunks).

arq keeps one sorted set per queue and has no priorities, so each lane is its own arq
queue, and every worker process serves both with one arq worker per lane. Batch work
yields to interactive work on the same process (see workers.lanes), so a request sent
while an hour of audio is being transcribed waits for at most one whisper window.
"""

from __future__ import annotations

from enum import StrEnum

from neuraldrive_audio.queue import keys


class Priority(StrEnum):
    """The two lanes of the queue."""

    INTERACTIVE = "interactive"
    BATCH = "batch"

    @property
    def queue_name(self) -> str:
        """The arq queue (Redis sorted set) of this lane."""
        return keys.queue(self.value)
