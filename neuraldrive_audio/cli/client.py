"""The one HTTP client of our own API (CLI and TUI), and tolerant parsing of its JSON.

The TUI may talk to an older or newer service than itself, so every field is optional
here: a missing or mistyped value becomes ``None`` (rendered as ``—``), never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from functools import cache
from typing import TYPE_CHECKING, Any, get_type_hints
from urllib.parse import quote

import httpx

from neuraldrive_audio.cli.failures import ClientTarget, api_failure, error_fields
from neuraldrive_audio.config import get_settings

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Json = Mapping[str, Any]


def _map(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Json]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _float(data: Json, key: str) -> float | None:
    value = data.get(key)
    # bool is an int subclass; a flag is never a measurement.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _int(data: Json, key: str) -> int | None:
    value = _float(data, key)
    return None if value is None else int(value)


def _str(data: Json, key: str, default: str = "") -> str:
    value = data.get(key)
    return value if isinstance(value, str) else default


def _flag(data: Json, key: str) -> bool:
    return data.get(key) is True


_READERS: dict[object, Callable[[Json, str], object]] = {
    str: _str,
    float | None: _float,
    int | None: _int,
    bool: _flag,
}


@cache
def _scalar_fields(
    record: type[DataclassInstance],
) -> tuple[tuple[str, Callable[[Json, str], object]], ...]:
    """The fields of a record read straight from the key of their name, with their reader."""
    hints = get_type_hints(record)
    return tuple(
        (field.name, _READERS[hints[field.name]])
        for field in fields(record)
        if hints[field.name] in _READERS
    )


def _read(record: type[DataclassInstance], data: Json, **given: object) -> dict[str, Any]:
    """Keyword arguments that build ``record`` from one JSON object.

    Each scalar field is read by its declared type from the key of the same name; ``given``
    supplies the others (nested records, values from elsewhere) as they are.
    """
    values: dict[str, Any] = {
        name: read(data, name) for name, read in _scalar_fields(record) if name not in given
    }
    return values | given


@dataclass(frozen=True)
class LoadedModel:
    """A model resident in one worker's cache."""

    id: str
    engine: str
    bytes: int | None
    pinned: bool
    in_use: int | None
    last_used: float | None
    idle_until: float | None

    @classmethod
    def parse(cls, data: Json) -> LoadedModel:
        """Build from one entry of a heartbeat's ``loaded_models``."""
        return cls(**_read(cls, data))


@dataclass(frozen=True)
class Worker:
    """One live worker, from its heartbeat."""

    worker_id: str
    hostname: str
    device: str
    last_seen: float | None
    budget_bytes: int | None
    used_bytes: int | None
    loaded_models: tuple[LoadedModel, ...]
    jobs_in_progress: int | None
    jobs_done: int | None
    jobs_failed: int | None
    loads: int | None
    evictions: int | None

    @classmethod
    def parse(cls, data: Json) -> Worker:
        """Build from a WorkerHeartbeat object."""
        models = tuple(LoadedModel.parse(m) for m in _list(data.get("loaded_models")))
        return cls(**_read(cls, data, loaded_models=models))

    @property
    def budget_fraction(self) -> float | None:
        """Share of the memory budget in use."""
        if not self.budget_bytes or self.used_bytes is None:
            return None
        return self.used_bytes / self.budget_bytes


@dataclass(frozen=True)
class RunningJob:
    """A job a worker is processing right now."""

    id: str
    task: str
    model: str
    progress: float | None
    worker_id: str
    started_at: float | None

    @classmethod
    def parse(cls, data: Json) -> RunningJob:
        """Build from one entry of ``jobs.in_progress``."""
        return cls(**_read(cls, data))


@dataclass(frozen=True)
class EngineStats:
    """Throughput of one engine across all workers."""

    engine: str
    real_time_factor: float | None
    audio_seconds: float | None

    @classmethod
    def parse(cls, engine: str, data: Json) -> EngineStats:
        """Build from one value of the ``engines`` map."""
        return cls(**_read(cls, data, engine=engine))


@dataclass(frozen=True)
class RecentError:
    """One of the last failed jobs."""

    time: float | None
    job_id: str
    code: str
    message: str

    @classmethod
    def parse(cls, data: Json) -> RecentError:
        """Build from one entry of ``recent_errors``."""
        return cls(**_read(cls, data))


@dataclass(frozen=True)
class Status:
    """``GET /system/audio/status``."""

    time: float | None
    uptime_s: float | None
    queue_depth: int | None
    queue_interactive: int | None
    queue_batch: int | None
    workers: tuple[Worker, ...]
    in_progress: tuple[RunningJob, ...]
    jobs_per_minute: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    engines: tuple[EngineStats, ...]
    recent_errors: tuple[RecentError, ...]
    wyoming_requests: int | None = None
    """Requests the Wyoming server answered (None: it never ran against this queue)."""
    wyoming_failed: int | None = None
    """Of those, the ones answered with an error."""

    @classmethod
    def parse(cls, data: Json) -> Status:
        """Build from the endpoint's JSON body, whatever subset of the contract it has."""
        queue, jobs = _map(data.get("queue")), _map(data.get("jobs"))
        latency = _map(jobs.get("latency_ms"))
        engines = _map(data.get("engines"))
        return cls(
            time=_float(data, "time"),
            uptime_s=_float(data, "uptime_s"),
            queue_depth=_int(queue, "depth"),
            queue_interactive=_int(queue, "interactive"),
            queue_batch=_int(queue, "batch"),
            workers=tuple(Worker.parse(w) for w in _list(data.get("workers"))),
            in_progress=tuple(RunningJob.parse(j) for j in _list(jobs.get("in_progress"))),
            jobs_per_minute=_float(jobs, "per_minute"),
            latency_p50_ms=_float(latency, "p50"),
            latency_p95_ms=_float(latency, "p95"),
            engines=tuple(EngineStats.parse(str(k), _map(v)) for k, v in sorted(engines.items())),
            recent_errors=tuple(RecentError.parse(e) for e in _list(data.get("recent_errors"))),
            **_wyoming_counts(_map(_map(data.get("front_doors")).get("wyoming"))),
        )


def _wyoming_counts(kinds: Json) -> dict[str, int | None]:
    """Requests and failed requests of the Wyoming server (refused connections aside)."""
    if not kinds:
        return {"wyoming_requests": None, "wyoming_failed": None}
    total = failed = 0
    for kind, outcomes in kinds.items():
        if kind == "connection":
            continue
        for outcome, count in _map(outcomes).items():
            number = int(count) if isinstance(count, int) else 0
            total += number
            failed += 0 if outcome == "ok" else number
    return {"wyoming_requests": total, "wyoming_failed": failed}


@dataclass(frozen=True)
class InstalledModel:
    """One entry of ``GET /v1/audio/models`` (where it is loaded comes from the heartbeats)."""

    id: str
    engine: str
    bytes_on_disk: int | None

    @classmethod
    def parse(cls, data: Json) -> InstalledModel:
        """Build from one entry of the list."""
        return cls(**_read(cls, data))


@dataclass(frozen=True)
class Job:
    """One entry of ``GET /v1/audio/jobs``."""

    id: str
    task: str
    status: str
    progress: float | None
    model: str
    created_at: float | None

    @classmethod
    def parse(cls, data: Json) -> Job:
        """Build from one entry of the list."""
        return cls(**_read(cls, data))


class ServiceError(Exception):
    """A request to the service did not succeed; ``str()`` is a one-line reason."""


class Unreachable(ServiceError):
    """No HTTP answer at all: connection refused, DNS failure, timeout."""


class ApiError(ServiceError):
    """The service answered with an error status (message from the OpenAI error envelope)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status_code})")
        self.status_code = status_code
        self.message = message


def _api_error(response: httpx.Response) -> ApiError:
    try:
        error = _map(_map(response.json()).get("error"))
    except ValueError:
        error = {}
    message = _str(error, "message") or response.text.strip() or response.reason_phrase
    return ApiError(response.status_code, message)


class ServiceClient:
    """Our API at ``base_url`` with the Bearer key; both default to the local config.

    The TUI uses the async calls below; the CLI streams uploads and audio through the
    blocking ``http`` client, which shares the base URL, the key and the error parsing.
    """

    READ_TIMEOUT_S = 5.0
    # Loading a large model onto a GPU can take a minute; the UI keeps running meanwhile.
    ACTION_TIMEOUT_S = 180.0

    def __init__(self, base_url: str | None = None, api_key: str | None = None) -> None:
        # One resolution for every command and the TUI: --url, NEURALDRIVE_AUDIO_URL, the
        # URL a running serve announced, host/port; the key as the service reads it.
        target = ClientTarget.resolve(get_settings(), base_url)
        if api_key is not None:
            target = replace(target, key=api_key)
        self.target = target
        self.base_url = target.url
        key = target.key
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers, timeout=self.READ_TIMEOUT_S
        )
        self._sync: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        """A blocking client without a timeout (long uploads, streamed answers)."""
        if self._sync is None:
            self._sync = httpx.Client(base_url=self.base_url, headers=self._headers, timeout=None)
        return self._sync

    def fail_on_error(self, response: httpx.Response) -> None:
        """Raise the service's error as a one-line CommandFailed on a non-2xx answer."""
        if response.is_success:
            return
        response.read()
        message, code = error_fields(response)
        names = self._model_names() if code == "model_not_found" else []
        raise api_failure(self.target, response.status_code, message, code, names)

    def _model_names(self) -> list[str]:
        """The names the service accepts as ``model`` (best effort, for a 404's message)."""
        try:
            response = self.http.get("/v1/models", timeout=10)
            return sorted(str(m["id"]) for m in response.json()["data"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return []

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Json | None = None,
        params: Mapping[str, str | int] | None = None,
        slow: bool = False,
    ) -> Json:
        timeout = self.ACTION_TIMEOUT_S if slow else self.READ_TIMEOUT_S
        try:
            response = await self._http.request(
                method, path, json=body, params=params, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise Unreachable(str(exc) or type(exc).__name__) from exc
        if not response.is_success:
            raise _api_error(response)
        try:
            return _map(response.json())
        except ValueError as exc:
            raise ServiceError(f"{path} did not answer JSON") from exc

    async def status(self) -> Status:
        """Workers, queue, jobs and engine figures."""
        return Status.parse(await self._call("GET", "/system/audio/status"))

    async def models(self) -> list[InstalledModel]:
        """Installed models and where each one is loaded."""
        body = await self._call("GET", "/v1/audio/models")
        return [InstalledModel.parse(m) for m in _list(body.get("data"))]

    async def load(self, model_id: str, worker_id: str | None, pin: bool | None = None) -> Json:
        """Load a model (on a given worker, or where the service chooses); also pins/unpins."""
        body: dict[str, object] = {"worker_id": worker_id}
        if pin is not None:
            body["pin"] = pin
        return await self._call(
            "POST", f"/v1/audio/models/{_segment(model_id)}/load", body=body,
            slow=True,
        )  # fmt: skip

    async def unload(self, model_id: str, worker_id: str | None) -> Json:
        """Unload a model from one worker (or from every worker when None)."""
        return await self._call(
            "POST", f"/v1/audio/models/{_segment(model_id)}/unload",
            body={"worker_id": worker_id}, slow=True,
        )  # fmt: skip

    async def jobs(self, status: str = "processing", limit: int = 50) -> list[Job]:
        """Asynchronous jobs in the given state."""
        body = await self._call("GET", "/v1/audio/jobs", params={"status": status, "limit": limit})
        return [Job.parse(j) for j in _list(body.get("data"))]

    async def cancel(self, job_id: str) -> Json:
        """Cancel a job."""
        return await self._call("POST", f"/v1/audio/jobs/{_segment(job_id)}/cancel", slow=True)

    async def aclose(self) -> None:
        """Close the connection pools."""
        await self._http.aclose()
        if self._sync is not None:
            self._sync.close()


def _segment(value: str) -> str:
    # Model ids contain '/', which must not split the path.
    return quote(value, safe="")
