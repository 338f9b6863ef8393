"""Every Redis key and channel name the service uses, in one place."""

from __future__ import annotations

PREFIX = "nda:"


def queue(lane: str) -> str:
    """The arq queue (sorted set) of a lane: ``interactive`` or ``batch``."""
    return f"{PREFIX}queue:{lane}"


TRANSCRIBE_FUNCTION = "transcribe"
"""arq function name of transcription and translation jobs."""

SPEECH_FUNCTION = "synthesize"
"""arq function name of speech synthesis jobs."""

PING_FUNCTION = "ping"
"""arq function name of the no-op job (queue round-trip benchmark)."""

WORKERS = f"{PREFIX}workers"
"""Set of worker ids that have announced themselves; pruned when their heartbeat expires."""


STATS_FINISHED = f"{PREFIX}stats:finished"
"""Sorted set of recently finished jobs (member ``id|task|latency``, score = finish time)."""

STATS_ERRORS = f"{PREFIX}stats:errors"
"""List of the latest job errors (JSON), newest first."""


def control(worker_id: str) -> str:
    """List a worker pops control commands (load, unload) from."""
    return f"{PREFIX}control:{worker_id}"


def control_reply(command_id: str) -> str:
    """List the API pops a worker's answer to one control command from."""
    return f"{PREFIX}control-reply:{command_id}"


def events(job_id: str) -> str:
    """Stream of a job's events (started, progress, segment, audio, done, error)."""
    return f"{PREFIX}events:{job_id}"


def upload(job_id: str) -> str:
    """Bytes of a small upload handed to the worker through Redis."""
    return f"{PREFIX}upload:{job_id}"


def worker_heartbeat(worker_id: str) -> str:
    """JSON heartbeat of one worker, expiring when the worker stops refreshing it."""
    return f"{PREFIX}worker:{worker_id}"
