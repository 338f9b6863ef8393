"""Interactive work runs before batch work.

arq keeps one sorted set per queue, scored by the time a job may start, and a worker
takes the lowest scores first. Instead of two queues (an arq worker reads only one), an
interactive job is scored as if it had been enqueued ``INTERACTIVE_HEAD_START`` earlier:
it jumps every batch job queued less than that long ago, and batch jobs older than that
still get their turn, so batch work cannot starve.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

INTERACTIVE_HEAD_START = timedelta(hours=1)


class Priority(StrEnum):
    """The two lanes of the queue."""

    INTERACTIVE = "interactive"
    BATCH = "batch"


def start_time(priority: Priority, now: datetime | None = None) -> datetime:
    """The score time to enqueue a job with (arq's ``_defer_until``)."""
    now = now or datetime.now(UTC)
    return now - INTERACTIVE_HEAD_START if priority is Priority.INTERACTIVE else now
