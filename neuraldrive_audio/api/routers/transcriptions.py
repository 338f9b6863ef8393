"""POST /v1/audio/transcriptions and /v1/audio/translations (OpenAI contract)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response, StreamingResponse

from neuraldrive_audio.api.auth import ApiKeyRequired
from neuraldrive_audio.api.dependencies import CatalogDep, QueueDep, SettingsDep
from neuraldrive_audio.api.errors import APIError
from neuraldrive_audio.api.job_wait import events_until_final, submit, wait_for_result
from neuraldrive_audio.api.languages import parse_language
from neuraldrive_audio.api.model_names import resolve_model
from neuraldrive_audio.api.response_bodies import (
    TRANSCRIPT_TEXT_TYPES,
    Transcription,
    TranscriptionVerbose,
    Translation,
    TranslationVerbose,
    media,
)
from neuraldrive_audio.api.transcript_formats import (
    TranscriptFormat,
    all_logprobs,
    render,
    token_usage,
)
from neuraldrive_audio.api.transcription_fields import (
    hotwords,
    parse_chunking_strategy,
    parse_include,
    refuse_speaker_references,
)
from neuraldrive_audio.config import Settings
from neuraldrive_audio.media.languages import language_code
from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.client import JobQueue, new_job_id
from neuraldrive_audio.queue.events import EventType
from neuraldrive_audio.queue.payloads import Transcript, TranscriptionJob, TranscriptionTask
from neuraldrive_audio.storage.catalog import ModelCatalog

router = APIRouter(prefix="/v1/audio", tags=["speech-to-text"], dependencies=[ApiKeyRequired])

Granularity = Literal["word", "segment"]


async def _read_upload(file: UploadFile) -> bytes:
    data = await file.read()
    if not data:
        raise APIError(400, "The uploaded file is empty.", code="invalid_file", param="file")
    return data


async def _submit_transcription(
    queue: JobQueue,
    catalog: ModelCatalog,
    settings: Settings,
    *,
    task: TranscriptionTask,
    file: UploadFile,
    model: str,
    language: str | None,
    prompt: str | None,
    temperature: float,
    word_timestamps: bool,
    **extra: Any,
) -> str:
    manifest = resolve_model(model, catalog, settings, speech_to_text=True)
    data = await _read_upload(file)
    job_id = new_job_id()
    job = TranscriptionJob(
        job_id=job_id,
        task=task,
        model_id=manifest.id,
        upload_key=keys.upload(job_id),
        language=language,
        prompt=prompt,
        temperature=temperature,
        word_timestamps=word_timestamps,
        **extra,
    )
    await submit(queue, keys.TRANSCRIBE_FUNCTION, job, job_id, upload=data)
    return job_id


def _sse(payload: dict[str, object]) -> str:
    # No "id:" field: the OpenAI SDK mishandles keep-alive comments after one.
    return f"data: {json.dumps(payload)}\n\n"


async def _stream_transcript(
    queue: JobQueue, job_id: str, timeout_s: float, logprobs: bool
) -> AsyncIterator[str]:
    try:
        async for event in events_until_final(queue, job_id, timeout_s):
            if event.type is EventType.SEGMENT:
                delta: dict[str, object] = {
                    "type": "transcript.text.delta",
                    "delta": event.data["text"],
                }
                if logprobs:
                    delta["logprobs"] = event.data.get("logprobs") or []
                yield _sse(delta)
            elif event.type is EventType.DONE:
                transcript = Transcript.model_validate(event.data["transcript"])
                done: dict[str, object] = {
                    "type": "transcript.text.done",
                    "text": transcript.text,
                    "usage": token_usage(transcript),
                }
                if logprobs:
                    done["logprobs"] = all_logprobs(transcript)
                yield _sse(done)
    except APIError as exc:
        # Headers are gone by now; report the failure in-band, as OpenAI does.
        yield _sse({"type": "error", "error": {"message": exc.message, "code": exc.code}})


async def _respond(
    request: Request,
    queue: JobQueue,
    settings: Settings,
    job_id: str,
    response_format: TranscriptFormat,
    granularities: set[str],
    logprobs: bool = False,
) -> Response:
    result = await wait_for_result(request, queue, job_id, settings.sync_timeout_s)
    transcript = Transcript.model_validate(result["transcript"])
    return render(transcript, response_format, granularities, logprobs=logprobs)


FileField = Annotated[UploadFile, File(description="The audio file; any format ffmpeg decodes.")]
ModelField = Annotated[str, Form(description="Model id or an OpenAI alias such as whisper-1.")]
PromptField = Annotated[str | None, Form()]
FormatField = Annotated[TranscriptFormat, Form()]
TemperatureField = Annotated[float, Form(ge=0.0, le=1.0)]


def _languages(language: str | None, languages: list[str] | None) -> tuple[str | None, list[str]]:
    """``language`` wins; one ``languages[]`` entry is the language; several are a hint."""
    codes = []
    for value in languages or []:
        code = language_code(value)
        if code is None:
            raise APIError(
                400, f"Unsupported language: '{value}'.", code="invalid_language",
                param="languages",
            )  # fmt: skip
        if code not in codes:
            codes.append(code)
    given = parse_language(language)
    if given is not None:
        return given, []
    if len(codes) == 1:
        return codes[0], []
    return None, codes


@router.post(
    "/transcriptions",
    response_model=None,
    responses=media(
        *TRANSCRIPT_TEXT_TYPES,
        "text/event-stream",
        json=Transcription | TranscriptionVerbose,
        description="`json`/`verbose_json` as JSON, `text`/`srt`/`vtt` as text; with "
        "`stream=true`, `transcript.text.delta` events then `transcript.text.done`.",
    ),
)
async def create_transcription(
    request: Request,
    queue: QueueDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    file: FileField,
    model: ModelField,
    language: Annotated[str | None, Form()] = None,
    prompt: PromptField = None,
    response_format: FormatField = TranscriptFormat.JSON,
    temperature: TemperatureField = 0.0,
    timestamp_granularities: Annotated[
        list[Granularity] | None, Form(alias="timestamp_granularities[]")
    ] = None,
    stream: Annotated[bool, Form()] = False,
    include: Annotated[list[str] | None, Form(alias="include[]")] = None,
    keywords: Annotated[list[str] | None, Form(alias="keywords[]")] = None,
    languages: Annotated[list[str] | None, Form(alias="languages[]")] = None,
    known_speaker_names: Annotated[list[str] | None, Form(alias="known_speaker_names[]")] = None,
    known_speaker_references: Annotated[
        list[str] | None, Form(alias="known_speaker_references[]")
    ] = None,
) -> Response:
    """Transcribe audio into the language it is spoken in.

    Also takes what newer clients send: ``include[]=logprobs`` (json or stream),
    ``chunking_strategy`` (``auto`` or a ``server_vad`` object: split at silences),
    ``keywords[]`` (recognition bias) and ``languages[]`` (a hint). Diarization fields
    are refused with 400: this server cannot diarize.
    """
    granularities: set[str] = set(timestamp_granularities or [])
    if granularities and response_format is not TranscriptFormat.VERBOSE_JSON:
        raise APIError(
            400,
            "timestamp_granularities requires response_format=verbose_json.",
            code="invalid_value",
            param="timestamp_granularities",
        )
    refuse_speaker_references(known_speaker_names, known_speaker_references)
    logprobs = parse_include(include)
    if logprobs and not stream and response_format is not TranscriptFormat.JSON:
        raise APIError(
            400,
            "include[]=logprobs works with response_format=json (or stream=true).",
            code="invalid_value",
            param="include",
        )
    language_given, language_hints = _languages(language, languages)
    vad_split = parse_chunking_strategy(await request.form())
    job_id = await _submit_transcription(
        queue,
        catalog,
        settings,
        task=TranscriptionTask.TRANSCRIBE,
        file=file,
        model=model,
        language=language_given,
        prompt=prompt,
        temperature=temperature,
        word_timestamps="word" in granularities,
        logprobs=logprobs,
        hotwords=hotwords(keywords),
        languages=language_hints,
        vad_split=vad_split,
    )
    if stream:
        return StreamingResponse(
            _stream_transcript(queue, job_id, settings.sync_timeout_s, logprobs),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
    return await _respond(
        request, queue, settings, job_id, response_format, granularities, logprobs
    )


@router.post(
    "/translations",
    response_model=None,
    responses=media(
        *TRANSCRIPT_TEXT_TYPES,
        json=Translation | TranslationVerbose,
        description="`json`/`verbose_json` as JSON, `text`/`srt`/`vtt` as text.",
    ),
)
async def create_translation(
    request: Request,
    queue: QueueDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    file: FileField,
    model: ModelField,
    prompt: PromptField = None,
    response_format: FormatField = TranscriptFormat.JSON,
    temperature: TemperatureField = 0.0,
) -> Response:
    """Translate speech in any language into English text."""
    job_id = await _submit_transcription(
        queue,
        catalog,
        settings,
        task=TranscriptionTask.TRANSLATE,
        file=file,
        model=model,
        language=None,
        prompt=prompt,
        temperature=temperature,
        word_timestamps=False,
    )
    return await _respond(request, queue, settings, job_id, response_format, {"segment"})
