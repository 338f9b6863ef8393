"""Asynchronous jobs for long files and long texts.

- POST   /v1/audio/jobs                 multipart (task transcribe|translate) or JSON (task speech)
- GET    /v1/audio/jobs                 ?status=&limit=&after=
- GET    /v1/audio/jobs/{id}            the job object
- GET    /v1/audio/jobs/{id}/result     transcript (any response_format) or audio, once completed
- POST   /v1/audio/jobs/{id}/cancel     stop the work in progress
- DELETE /v1/audio/jobs/{id}            cancel if needed, then remove files and record
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from pydantic import AnyHttpUrl, BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from neuraldrive_audio.api.background.job_feeder import save_plan
from neuraldrive_audio.api.background.webhook_targets import (
    WebhookTargetError,
    check_target,
    parse_networks,
)
from neuraldrive_audio.api.contract.response_bodies import (
    TRANSCRIPT_TEXT_TYPES,
    Job,
    JobDeleted,
    JobList,
    Transcription,
    TranscriptionVerbose,
    Translation,
    TranslationVerbose,
    media,
)
from neuraldrive_audio.api.contract.speech_request import SpeechRequest
from neuraldrive_audio.api.contract.transcript_formats import TranscriptFormat, render
from neuraldrive_audio.api.contract.transcription_fields import parse_language
from neuraldrive_audio.api.http.auth import ApiKeyRequired
from neuraldrive_audio.api.http.dependencies import JobFilesDep, QueueDep, ServiceDep
from neuraldrive_audio.api.http.errors import APIError
from neuraldrive_audio.config import Settings
from neuraldrive_audio.media.formats import CONTENT_TYPES, SpeechFormat
from neuraldrive_audio.media.text import chunk_text
from neuraldrive_audio.queue import job_chunks, keys, wake
from neuraldrive_audio.queue.client import JobQueue, new_job_id
from neuraldrive_audio.queue.job_chunks import ChunkJob
from neuraldrive_audio.queue.job_records import (
    JobNotFoundError,
    JobRecord,
    JobRecords,
    JobStatus,
    JobTask,
    announce_end,
)
from neuraldrive_audio.queue.lanes import BATCH
from neuraldrive_audio.queue.payloads import Transcript
from neuraldrive_audio.service.speech_service import SpeechService
from neuraldrive_audio.storage.job_files import DiskFullError, JobFiles

router = APIRouter(prefix="/v1/audio/jobs", tags=["jobs"], dependencies=[ApiKeyRequired])


class TranscriptionJobForm(BaseModel):
    """Multipart fields of a transcription or translation job (OpenAI's, plus extras)."""

    model: str
    task: Literal["transcribe", "translate"] = "transcribe"
    language: str | None = None
    prompt: str | None = None
    response_format: TranscriptFormat = TranscriptFormat.JSON
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    timestamp_granularities: list[Literal["word", "segment"]] = Field(default_factory=list)
    webhook_url: AnyHttpUrl | None = None


class SpeechJobRequest(SpeechRequest):
    """JSON body of a speech job: /v1/audio/speech's fields, any length of input."""

    task: Literal["speech"] = "speech"
    input: str = Field(min_length=1)
    webhook_url: AnyHttpUrl | None = None


def _with_links(record: JobRecord) -> dict[str, Any]:
    base = f"/v1/audio/jobs/{record.id}"
    links = {"self": base, "result": f"{base}/result", "cancel": f"{base}/cancel"}
    return {**record.model_dump(mode="json"), "links": links}


def _disk_full(exc: DiskFullError) -> APIError:
    return APIError(507, f"Not enough storage for this job: {exc}", code="insufficient_storage")


ModelT = TypeVar("ModelT", bound=BaseModel)


def _validated(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """``data`` as ``model``; invalid fields are a 400 like FastAPI's own body validation."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from exc


async def _check_webhook(url: object, settings: Settings) -> None:
    """Refuse (400 naming webhook_url) a webhook we would not call, before storing anything."""
    if url is None:
        return
    try:
        await check_target(str(url), parse_networks(settings.webhook_allow_networks))
    except WebhookTargetError as exc:
        raise APIError(400, str(exc), code="invalid_value", param="webhook_url") from exc


async def _create_transcription_job(
    request: Request, service: SpeechService, files: JobFiles
) -> JobRecord:
    """Store the upload; the job feeder plans it on this host (which keeps the file)."""
    form = await request.form()
    upload = form.get("file")
    fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    fields["timestamp_granularities"] = form.getlist("timestamp_granularities[]")
    body = _validated(TranscriptionJobForm, fields)
    await _check_webhook(body.webhook_url, service.settings)
    if not isinstance(upload, UploadFile):
        raise APIError(
            400,
            "Missing required parameter: 'file'.",
            code="missing_required_parameter",
            param="file",
        )
    manifest = service.asr_model(body.model)
    if body.task == "translate" and manifest.languages == ["en"]:
        raise APIError(
            400,
            f"Model {manifest.id} is English-only and cannot translate.",
            code="invalid_value",
            param="model",
        )
    language = parse_language(body.language)
    job_id = new_job_id()
    size = await asyncio.to_thread(files.save_stream, job_id, upload.file)
    if size == 0:
        await asyncio.to_thread(files.remove, job_id)
        raise APIError(400, "The uploaded file is empty.", code="invalid_file", param="file")
    return JobRecord(
        id=job_id,
        task=JobTask(body.task),
        model=manifest.id,
        response_format=body.response_format.value,
        options={
            "language": language,
            "prompt": body.prompt,
            "temperature": body.temperature,
            "timestamp_granularities": body.timestamp_granularities,
        },
        webhook_url=str(body.webhook_url) if body.webhook_url else None,
    )


async def _create_speech_job(
    request: Request, service: SpeechService, files: JobFiles
) -> JobRecord:
    """Split the text into chunks saved as the job's plan (the job feeder queues them)."""
    settings = service.settings
    try:
        data = await request.json()
    except ValueError as exc:
        raise APIError(400, "The request body is not valid JSON.", code="invalid_value") from exc
    body = _validated(SpeechJobRequest, data if isinstance(data, dict) else {})
    await _check_webhook(body.webhook_url, settings)
    if len(body.input) > settings.max_speech_job_chars:
        raise APIError(
            400,
            f"input is longer than {settings.max_speech_job_chars} characters.",
            code="invalid_value",
            param="input",
        )
    voice = service.resolve_voice(body.model, body.voice_name)
    job_id = new_job_id()
    texts = chunk_text(body.input, settings.speech_job_chunk_chars)
    record = JobRecord(
        id=job_id,
        task=JobTask.SPEECH,
        model=voice.model_id,
        response_format=body.response_format.value,
        options={"voice": voice.voice, "speed": body.speed},
        input_characters=len(body.input),
        chunks_total=len(texts),
        webhook_url=str(body.webhook_url) if body.webhook_url else None,
    )
    chunks = [
        ChunkJob(function=keys.SPEECH_CHUNK_FUNCTION, job_id=job_id, index=i, text=text)
        for i, text in enumerate(texts)
    ]
    await asyncio.to_thread(save_plan, files, job_id, chunks)
    return record


@router.post("", status_code=202, response_model=Job)
async def create_job(
    request: Request,
    queue: QueueDep,
    service: ServiceDep,
    files: JobFilesDep,
) -> dict[str, Any]:
    """Submit a long transcription (multipart) or a long speech synthesis (JSON)."""
    records = JobRecords(queue.redis)
    try:
        files.check_free_space()
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            record = await _create_transcription_job(request, service, files)
        else:
            record = await _create_speech_job(request, service, files)
    except DiskFullError as exc:
        raise _disk_full(exc) from exc
    await records.create(record)  # the job feeder queues its chunks within the in-flight cap
    await wake.wake(queue.redis, BATCH)  # an idle feeder waits for this rather than polling
    return _with_links(record)


async def _record(queue: JobQueue, job_id: str) -> JobRecord:
    try:
        return await JobRecords(queue.redis).get(job_id)
    except JobNotFoundError as exc:
        raise APIError(
            404, f"No job with id '{job_id}'.", code="job_not_found", param="id"
        ) from exc


@router.get("", response_model=JobList)
async def list_jobs(
    queue: QueueDep,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: str | None = None,
) -> dict[str, Any]:
    """Jobs, newest first, optionally of one status; page with ``after=<last id>``."""
    try:
        page = await JobRecords(queue.redis).list(status, limit + 1, after)
    except JobNotFoundError as exc:
        raise APIError(
            404, f"No job with id '{after}'.", code="job_not_found", param="after"
        ) from exc
    return {
        "object": "list",
        "data": [_with_links(r) for r in page[:limit]],
        "has_more": len(page) > limit,
    }


@router.get("/{job_id}", response_model=Job)
async def get_job(job_id: str, queue: QueueDep) -> dict[str, Any]:
    """The job's status, progress, timestamps and error."""
    return _with_links(await _record(queue, job_id))


@router.get(
    "/{job_id}/result",
    response_model=None,
    responses=media(
        *TRANSCRIPT_TEXT_TYPES,
        *CONTENT_TYPES.values(),
        json=Transcription | TranscriptionVerbose | Translation | TranslationVerbose,
        description="The transcript in the asked format (JSON or text), or the audio file.",
    ),
)
async def get_result(
    job_id: str,
    queue: QueueDep,
    files: JobFilesDep,
    response_format: TranscriptFormat | None = None,
) -> Response:
    """The finished result: a transcript in any format, or the audio file (streamed from disk)."""
    record = await _record(queue, job_id)
    if record.status is not JobStatus.COMPLETED:
        detail = f" ({record.error['message']})" if record.error else ""
        raise APIError(
            409,
            f"Job {job_id} is {record.status.value}{detail}; no result yet.",
            code="job_not_completed",
        )
    if record.task is JobTask.SPEECH:
        path = files.result(job_id, record.response_format)
        media_type = CONTENT_TYPES[SpeechFormat(record.response_format)]
        return FileResponse(
            path, media_type=media_type, filename=f"{job_id}.{record.response_format}"
        )
    raw = await asyncio.to_thread(files.result(job_id, "json").read_text)
    transcript = Transcript.model_validate_json(raw)
    fmt = response_format or TranscriptFormat(record.response_format)
    return render(transcript, fmt, set(record.options.get("timestamp_granularities", [])))


async def _cancel(queue: JobQueue, record: JobRecord) -> JobRecord:
    records = JobRecords(queue.redis)
    updated = await records.update(record.id, status=JobStatus.CANCELLED, finished_at=time.time())
    if updated.status is not JobStatus.CANCELLED:
        return updated  # it had already ended
    await job_chunks.abort_running(queue.redis, record.id)
    await announce_end(queue.redis, updated)
    return updated


@router.post("/{job_id}/cancel", response_model=Job)
async def cancel_job(job_id: str, queue: QueueDep) -> dict[str, Any]:
    """Stop a queued or running job; a job that already ended is returned as it is."""
    return _with_links(await _cancel(queue, await _record(queue, job_id)))


@router.delete("/{job_id}", response_model=JobDeleted)
async def delete_job(job_id: str, queue: QueueDep, files: JobFilesDep) -> dict[str, Any]:
    """Cancel the job if it still runs, then delete its files and record."""
    record = await _record(queue, job_id)
    await _cancel(queue, record)
    await asyncio.to_thread(files.remove, job_id)
    await JobRecords(queue.redis).delete(job_id)
    return {"id": job_id, "object": "audio.job.deleted", "deleted": True}
