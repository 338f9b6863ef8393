"""POST /v1/audio/transcriptions and /v1/audio/translations (OpenAI contract)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from neuraldrive_audio.api.auth import ApiKeyRequired
from neuraldrive_audio.api.dependencies import ServiceDep
from neuraldrive_audio.api.disconnect import unless_client_leaves
from neuraldrive_audio.api.errors import APIError, http_error
from neuraldrive_audio.api.response_bodies import (
    TRANSCRIPT_TEXT_TYPES,
    Transcription,
    TranscriptionVerbose,
    Translation,
    TranslationVerbose,
    media,
)
from neuraldrive_audio.api.sse import sse, sse_response
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
    parse_languages,
    refuse_speaker_references,
)
from neuraldrive_audio.queue.payloads import Transcript, TranscriptionTask
from neuraldrive_audio.service.errors import ServiceError
from neuraldrive_audio.service.speech_service import SpeechService
from neuraldrive_audio.service.transcription import (
    SegmentHeard,
    TranscriptionOptions,
    TranscriptionRun,
)

router = APIRouter(prefix="/v1/audio", tags=["speech-to-text"], dependencies=[ApiKeyRequired])

Granularity = Literal["word", "segment"]


async def _read_upload(file: UploadFile) -> bytes:
    data = await file.read()
    if not data:
        raise APIError(400, "The uploaded file is empty.", code="invalid_file", param="file")
    return data


async def _stream_transcript(run: TranscriptionRun, logprobs: bool) -> AsyncIterator[str]:
    try:
        async with contextlib.aclosing(run.events()) as events:
            async for event in events:
                if isinstance(event, SegmentHeard):
                    delta: dict[str, object] = {
                        "type": "transcript.text.delta",
                        "delta": event.text,
                    }
                    if logprobs:
                        delta["logprobs"] = event.logprobs
                    yield sse(delta)
                else:
                    done: dict[str, object] = {
                        "type": "transcript.text.done",
                        "text": event.text,
                        "usage": token_usage(event),
                    }
                    if logprobs:
                        done["logprobs"] = all_logprobs(event)
                    yield sse(done)
    except ServiceError as exc:
        # Headers are gone by now; report the failure in-band, as OpenAI does.
        error = http_error(exc)
        yield sse({"type": "error", "error": {"message": error.message, "code": error.code}})


async def _transcript(
    request: Request, service: SpeechService, audio: bytes, options: TranscriptionOptions
) -> Transcript:
    """The transcript; the job is aborted if the client disconnects first."""
    return await unless_client_leaves(request, service.transcribe(audio, options))


FileField = Annotated[UploadFile, File(description="The audio file; any format ffmpeg decodes.")]
ModelField = Annotated[str, Form(description="Model id or an OpenAI alias such as whisper-1.")]
PromptField = Annotated[str | None, Form()]
FormatField = Annotated[TranscriptFormat, Form()]
TemperatureField = Annotated[float, Form(ge=0.0, le=1.0)]


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
    service: ServiceDep,
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
    language_given, language_hints = parse_languages(language, languages)
    vad_split = parse_chunking_strategy(await request.form())
    service.asr_model(model)  # an unknown model is a 404 before the upload is read
    options = TranscriptionOptions(
        model=model,
        task=TranscriptionTask.TRANSCRIBE,
        language=language_given,
        prompt=prompt,
        temperature=temperature,
        word_timestamps="word" in granularities,
        logprobs=logprobs,
        hotwords=hotwords(keywords),
        languages=language_hints,
        vad_split=vad_split,
    )
    audio = await _read_upload(file)
    if stream:
        run = await service.start_transcription(audio, options)
        return sse_response(_stream_transcript(run, logprobs))
    transcript = await _transcript(request, service, audio, options)
    return render(transcript, response_format, granularities, logprobs=logprobs)


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
    service: ServiceDep,
    file: FileField,
    model: ModelField,
    prompt: PromptField = None,
    response_format: FormatField = TranscriptFormat.JSON,
    temperature: TemperatureField = 0.0,
) -> Response:
    """Translate speech in any language into English text."""
    service.asr_model(model)
    options = TranscriptionOptions(
        model=model, task=TranscriptionTask.TRANSLATE, prompt=prompt, temperature=temperature
    )
    transcript = await _transcript(request, service, await _read_upload(file), options)
    return render(transcript, response_format, {"segment"})
