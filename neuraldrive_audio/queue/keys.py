"""Every Redis key and channel name the service uses, in one place."""

from __future__ import annotations

PREFIX = "nda:"


def queue(lane: str) -> str:
    """The arq queue (sorted set) of a lane (see queue.lanes)."""
    return f"{PREFIX}queue:{lane}"


def wake(lane: str) -> str:
    """Pub/sub channel that wakes a lane's idle workers (see queue.wake)."""
    return f"{PREFIX}wake:{lane}"


TRANSCRIBE_FUNCTION = "transcribe"
"""arq function name of transcription and translation jobs."""

SPEECH_FUNCTION = "synthesize"
"""arq function name of speech synthesis jobs."""

TRANSCRIBE_CHUNK_FUNCTION = "transcribe_chunk"
"""arq function that transcribes one chunk of an asynchronous job."""

SPEECH_CHUNK_FUNCTION = "speak_chunk"
"""arq function that synthesizes one chunk of an asynchronous speech job."""

PING_FUNCTION = "ping"
"""arq function name of the no-op job (queue round-trip benchmark)."""

WORKERS = f"{PREFIX}workers"
"""Set of worker ids that have announced themselves; pruned when their heartbeat expires."""


STATS_FINISHED = f"{PREFIX}stats:finished"
"""Sorted set of recently finished jobs (member ``id|task|latency``, score = finish time)."""

STATS_ERRORS = f"{PREFIX}stats:errors"
"""List of the latest job errors (JSON), newest first."""

STATS_LATENCY_HISTOGRAM = f"{PREFIX}stats:latency_histogram"
"""Hash of cumulative latency bucket counts since the queue was created (``task|le`` -> n,
``task|sum``, ``task|count``): a histogram every API process exposes the same."""

STATS_RTF_HISTOGRAM = f"{PREFIX}stats:rtf_histogram"
"""Hash of cumulative real-time-factor bucket counts per engine (same fields as latency)."""


JOBS = f"{PREFIX}jobs"
"""Sorted set of asynchronous job ids by creation time."""

JOBS_ACTIVE = f"{PREFIX}jobs:active"
"""Set of asynchronous jobs that have not ended yet (the janitor watches their chunks)."""

JANITOR_LOCK = f"{PREFIX}janitor:lock"
"""Held by the API process doing a janitor pass, so two APIs don't double the work."""

WEBHOOKS_PENDING = f"{PREFIX}webhooks:pending"
"""List of job ids whose end still has to be announced to their webhook."""


def job(job_id: str) -> str:
    """JSON record of an asynchronous job."""
    return f"{PREFIX}job:{job_id}"


def job_chunk_owners(job_id: str) -> str:
    """Hash: chunk index -> the ChunkOwner (worker id, chunk) while a worker runs it."""
    return f"{PREFIX}job:{job_id}:owners"


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


STATS_FRONT_DOOR_REQUESTS = f"{PREFIX}stats:front_door_requests"
"""Hash ``<front door>|<request kind>|<outcome>`` -> count, for front doors that run in
their own process (the Wyoming server), so status and metrics can show them."""


# Payloads of asynchronous jobs (no shared disk between hosts: see queue.chunk_payloads).

CHUNKS_INFLIGHT = f"{PREFIX}chunks:inflight"
"""Hash ``<job-id>:<index>`` -> bytes reserved by a chunk fed to workers and not yet
collected by the API (its input audio, then its result): the in-flight cap's ledger."""

FEEDER_LOCK = f"{PREFIX}feeder:lock"
"""Held by the API process feeding and collecting job chunks, so two APIs don't both do it."""


def chunk_input(job_id: str, index: int) -> str:
    """Input audio (16 kHz s16le) of one chunk of an asynchronous transcription job."""
    return f"{PREFIX}job:{job_id}:input:{index}"


def job_chunk_results(job_id: str) -> str:
    """Hash: chunk index -> its result (transcript JSON or 24 kHz s16le speech) until the
    API collects it."""
    return f"{PREFIX}job:{job_id}:results"


def job_chunk_workers(job_id: str) -> str:
    """Hash: chunk index -> id of the worker whose result counted."""
    return f"{PREFIX}job:{job_id}:workers"


def job_chunks_fed(job_id: str) -> str:
    """Counter: how many of a job's chunks the API has put on the queue so far."""
    return f"{PREFIX}job:{job_id}:fed"
