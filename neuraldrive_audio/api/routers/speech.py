"""POST /v1/audio/speech and GET /v1/audio/voices (OpenAI contract)."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from neuraldrive_audio.api.auth import ApiKeyRequired
from neuraldrive_audio.api.dependencies import CatalogDep, QueueDep, SettingsDep
from neuraldrive_audio.api.errors import APIError
from neuraldrive_audio.api.job_wait import events_until_final, submit, unless_client_leaves
from neuraldrive_audio.api.model_names import OPENAI_VOICES, resolve_model, voice_aliases
from neuraldrive_audio.api.response_bodies import VoiceList, media
from neuraldrive_audio.api.speech_request import (
    AUDIO_TOKENS_PER_SECOND,
    CHARS_PER_TOKEN,
    SpeechRequest,
    resolve_voice,
)
from neuraldrive_audio.engines import registry
from neuraldrive_audio.media import wav_sizes
from neuraldrive_audio.media.formats import CONTENT_TYPES, SpeechFormat
from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.client import new_job_id
from neuraldrive_audio.queue.events import EventType, JobEvent
from neuraldrive_audio.queue.payloads import SpeechJob, SpeechSummary

router = APIRouter(prefix="/v1/audio", tags=["text-to-speech"], dependencies=[ApiKeyRequired])


def _usage(body: SpeechRequest, summary: SpeechSummary) -> dict[str, int]:
    input_tokens = math.ceil(len(body.input) / CHARS_PER_TOKEN)
    output_tokens = math.ceil(summary.samples / summary.sample_rate * AUDIO_TOKENS_PER_SECOND)
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }


async def _first_audio(events: AsyncIterator[JobEvent]) -> JobEvent:
    """Wait for the first audio (or the end), so errors still get a proper status code."""
    async for event in events:
        if event.type in (EventType.AUDIO, EventType.DONE):
            return event
    raise APIError(500, "the speech job ended without a result")


async def _audio_bytes(first: JobEvent, events: AsyncIterator[JobEvent]) -> AsyncIterator[bytes]:
    yield first.audio
    async for event in events:
        if event.type is EventType.AUDIO:
            yield event.audio


async def _sse_frames(
    body: SpeechRequest, first: JobEvent, events: AsyncIterator[JobEvent]
) -> AsyncIterator[str]:
    event: JobEvent | None = first
    while event is not None:
        if event.type is EventType.AUDIO:
            audio = base64.b64encode(event.audio).decode()
            yield f"data: {json.dumps({'type': 'speech.audio.delta', 'audio': audio})}\n\n"
        elif event.type is EventType.DONE:
            usage = _usage(body, SpeechSummary.model_validate(event.data))
            yield f"data: {json.dumps({'type': 'speech.audio.done', 'usage': usage})}\n\n"
        event = await anext(events, None)


@router.post(
    "/speech",
    response_model=None,
    response_class=Response,  # audio or events, never JSON
    responses=media(
        *CONTENT_TYPES.values(),
        "text/event-stream",
        description="The audio in `response_format`; with `stream_format=sse`, "
        "`speech.audio.delta` events then `speech.audio.done`.",
    ),
)
async def create_speech(
    request: Request,
    body: SpeechRequest,
    queue: QueueDep,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    """Speak ``input``; audio streams as each sentence is synthesized (a WAV without
    ``stream_format`` comes in one piece, with its sizes)."""
    manifest = resolve_model(body.model, catalog, settings, speech_to_text=False)
    voice = resolve_voice(body.voice_name, manifest, settings)
    job_id = new_job_id()
    job = SpeechJob(
        job_id=job_id,
        model_id=manifest.id,
        input=body.input,
        voice=voice,
        response_format=body.response_format,
        speed=body.speed,
    )
    await submit(queue, keys.SPEECH_FUNCTION, job, job_id)
    events = events_until_final(queue, job_id, settings.sync_timeout_s)
    # Watch for the client leaving from the start: the first sentence can take seconds.
    first = await unless_client_leaves(request, job_id, _first_audio(events))
    if body.stream_format == "sse":
        return StreamingResponse(
            _sse_frames(body, first, events),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
    media_type = CONTENT_TYPES[body.response_format]
    if body.response_format is SpeechFormat.WAV and "stream_format" not in body.model_fields_set:
        # Not asked to stream: one piece whose header tells the true length. Asking for
        # stream_format=audio gets the WAV as it is made, with the open-ended header.
        audio = b"".join([chunk async for chunk in _audio_bytes(first, events)])
        return Response(wav_sizes.with_sizes(audio), media_type=media_type)
    return StreamingResponse(_audio_bytes(first, events), media_type=media_type)


@router.get("/voices", response_model=VoiceList)
async def list_voices(
    catalog: CatalogDep,
    settings: SettingsDep,
    model: Annotated[str | None, Query(description="Only this model's voices.")] = None,
) -> dict[str, Any]:
    """Voices of every text-to-speech model (or one), with their languages.

    ``aliases`` maps, per model, ``default`` and the OpenAI voice names to its voices.
    ``voices`` (``[{"id", "name"}]``) is the list Open WebUI's voice dropdown reads: the
    OpenAI names, which every model accepts, then the models' own voices.
    """
    if model is not None:
        manifests = [resolve_model(model, catalog, settings, speech_to_text=False)]
    else:
        manifests = [m for m in catalog.all() if not registry.of(m).is_speech_to_text]
    data = [
        {
            "id": voice,
            "object": "voice",
            "model": m.id,
            "languages": [m.voice_languages[voice]] if voice in m.voice_languages else m.languages,
        }
        for m in manifests
        for voice in m.voices
    ]
    aliases = {m.id: voice_aliases(m, settings) for m in manifests}
    dropdown = [{"id": name, "name": name} for name in OPENAI_VOICES]
    for m in manifests:
        dropdown += [{"id": v, "name": f"{v} ({m.id})"} for v in m.voices if v not in OPENAI_VOICES]
    return {"object": "list", "data": data, "aliases": aliases, "voices": dropdown}
