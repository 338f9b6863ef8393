"""The service's one error type: a :class:`ServiceError` with a neutral :class:`ErrorKind`.

Every failure the speech service reports to a front door is a ``ServiceError``: bad input,
an unknown model or voice, a full queue, a lost worker, a failed job, an LLM that is down.
Each front door maps it to its protocol in one function: the HTTP API to OpenAI's error
envelope (status from the kind, ``Retry-After`` from ``retry_after_s``), the realtime API
to an ``error`` event, the Wyoming server to its ``error`` event.

``code`` is OpenAI's machine-readable code (``model_not_found``, ``invalid_voice``, ...)
and ``param`` the request field at fault, both None when there is none.
"""

from __future__ import annotations

from enum import StrEnum

from neuraldrive_audio.queue.client import (
    JobTimeoutError,
    NoWorkerError,
    QueueFullError,
    WorkerLostError,
)
from neuraldrive_audio.queue.payloads import JobError

BACKEND_RETRY_AFTER_S = 2
"""How long a caller should wait before retrying when the speech backend is unavailable."""


class ErrorKind(StrEnum):
    """What went wrong, in terms any protocol can map."""

    INVALID_REQUEST = "invalid_request"
    """The request is wrong (a bad value, a model of the wrong kind); not retryable."""
    INVALID_AUDIO = "invalid_audio"
    """The audio cannot be decoded."""
    NOT_FOUND = "not_found"
    """An unknown model, voice or job."""
    CONFLICT = "conflict"
    """The request cannot run in the present state (e.g. a model too large to load)."""
    TOO_LARGE = "too_large"
    """The input is larger than allowed."""
    RATE_LIMITED = "rate_limited"
    """Too much work is waiting; retry after ``retry_after_s``."""
    UNAVAILABLE = "unavailable"
    """No worker, a lost worker, or the LLM is down; retry after ``retry_after_s``."""
    TIMEOUT = "timeout"
    """The work did not finish in the allowed time; retryable."""
    CLIENT_GONE = "client_gone"
    """The caller left before the answer (nobody to answer)."""
    INTERNAL = "internal"
    """A fault of ours."""

    @property
    def retryable(self) -> bool:
        """Whether trying again later may succeed."""
        return self in (ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE, ErrorKind.TIMEOUT)


class ServiceError(Exception):
    """A failure of the speech service, in protocol-neutral terms."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.param = param
        self.code = code
        self.retry_after_s = retry_after_s

    def __repr__(self) -> str:
        return f"ServiceError({self.kind.value!r}, {self.message!r}, code={self.code!r})"


_KIND_OF_STATUS = {
    404: ErrorKind.NOT_FOUND,
    409: ErrorKind.CONFLICT,
    413: ErrorKind.TOO_LARGE,
    429: ErrorKind.RATE_LIMITED,
    503: ErrorKind.UNAVAILABLE,
    504: ErrorKind.TIMEOUT,
}


def kind_of_status(status: int, code: str | None = None) -> ErrorKind:
    """The kind for an HTTP-style status reported by a worker or the LLM."""
    if status == 400 and code == "invalid_audio":
        return ErrorKind.INVALID_AUDIO
    if status in _KIND_OF_STATUS:
        return _KIND_OF_STATUS[status]
    return ErrorKind.INTERNAL if status >= 500 else ErrorKind.INVALID_REQUEST


def from_job_error(error: JobError) -> ServiceError:
    """The error a worker reported for a job."""
    kind = kind_of_status(error.status, error.code)
    retry_after = BACKEND_RETRY_AFTER_S if kind.retryable else None
    return ServiceError(
        kind, error.message, param=error.param, code=error.code, retry_after_s=retry_after
    )


def from_queue_failure(exc: Exception) -> ServiceError:
    """The error for a queue-level failure (full, no worker, worker lost, timed out);
    re-raises anything else."""
    match exc:
        case QueueFullError():
            return ServiceError(
                ErrorKind.RATE_LIMITED,
                f"The speech queue is full ({exc}); retry later.",
                code="rate_limit_exceeded",
                retry_after_s=exc.retry_after_s,
            )
        case NoWorkerError() | WorkerLostError():
            return ServiceError(
                ErrorKind.UNAVAILABLE,
                f"Speech backend unavailable: {exc}.",
                code="backend_unavailable",
                retry_after_s=BACKEND_RETRY_AFTER_S,
            )
        case JobTimeoutError():
            return ServiceError(
                ErrorKind.TIMEOUT,
                f"Speech backend timed out: {exc}.",
                code="timeout",
                retry_after_s=BACKEND_RETRY_AFTER_S,
            )
    raise exc


def model_not_found(model: str, param: str = "model") -> ServiceError:
    """The error OpenAI answers for an unknown model."""
    return ServiceError(
        ErrorKind.NOT_FOUND,
        f"The model '{model}' does not exist.",
        code="model_not_found",
        param=param,
    )
