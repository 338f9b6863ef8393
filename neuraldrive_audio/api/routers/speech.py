"""POST /v1/audio/speech and GET /v1/audio/voices (OpenAI contract)."""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from neuraldrive_audio.api.auth import ApiKeyRequired
from neuraldrive_audio.api.dependencies import ServiceDep
from neuraldrive_audio.api.disconnect import unless_client_leaves
from neuraldrive_audio.api.errors import APIError
from neuraldrive_audio.api.response_bodies import VoiceList, media
from neuraldrive_audio.api.speech_request import SpeechRequest
from neuraldrive_audio.api.sse import sse, sse_response
from neuraldrive_audio.media import wav_sizes
from neuraldrive_audio.media.formats import CONTENT_TYPES, SpeechFormat
from neuraldrive_audio.queue.payloads import SpeechSummary
from neuraldrive_audio.service.names import OPENAI_VOICES, voice_aliases
from neuraldrive_audio.service.speech_service import SpeechPiece
from neuraldrive_audio.service.usage import SpeechUsage

router = APIRouter(prefix="/v1/audio", tags=["text-to-speech"], dependencies=[ApiKeyRequired])

Pieces = AsyncGenerator[SpeechPiece, None]


async def _first_piece(pieces: Pieces) -> SpeechPiece:
    """Wait for the first audio (or the end), so errors still get a proper status code."""
    first = await anext(pieces, None)
    if first is None:
        raise APIError(500, "the speech job ended without a result")
    return first


async def _audio_bytes(first: SpeechPiece, pieces: Pieces) -> AsyncIterator[bytes]:
    piece: SpeechPiece | None = first
    while piece is not None:
        if isinstance(piece, bytes):
            yield piece
        piece = await anext(pieces, None)


async def _sse_frames(text: str, first: SpeechPiece, pieces: Pieces) -> AsyncIterator[str]:
    piece: SpeechPiece | None = first
    while piece is not None:
        if isinstance(piece, SpeechSummary):
            usage = SpeechUsage.of(text, piece.samples, piece.sample_rate)
            yield sse({"type": "speech.audio.done", "usage": usage.as_dict()})
        else:
            yield sse({"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode()})
        piece = await anext(pieces, None)


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
async def create_speech(request: Request, body: SpeechRequest, service: ServiceDep) -> Response:
    """Speak ``input``; audio streams as each sentence is synthesized (a WAV without
    ``stream_format`` comes in one piece, with its sizes)."""
    voice = service.resolve_voice(body.model, body.voice_name)
    pieces = service.speak(body.input, voice, body.response_format, body.speed)
    # Watch for the client leaving from the start: the first sentence can take seconds.
    first = await unless_client_leaves(request, _first_piece(pieces))
    if body.stream_format == "sse":
        return sse_response(_sse_frames(body.input, first, pieces))
    media_type = CONTENT_TYPES[body.response_format]
    if body.response_format is SpeechFormat.WAV and "stream_format" not in body.model_fields_set:
        # Not asked to stream: one piece whose header tells the true length. Asking for
        # stream_format=audio gets the WAV as it is made, with the open-ended header.
        audio = b"".join([chunk async for chunk in _audio_bytes(first, pieces)])
        return Response(wav_sizes.with_sizes(audio), media_type=media_type)
    return StreamingResponse(_audio_bytes(first, pieces), media_type=media_type)


@router.get("/voices", response_model=VoiceList)
async def list_voices(
    service: ServiceDep,
    model: Annotated[str | None, Query(description="Only this model's voices.")] = None,
) -> dict[str, Any]:
    """Voices of every text-to-speech model (or one), with their languages.

    ``aliases`` maps, per model, ``default`` and the OpenAI voice names to its voices.
    ``voices`` (``[{"id", "name"}]``) is the list Open WebUI's voice dropdown reads: the
    OpenAI names, which every model accepts, then the models' own voices.
    """
    manifests = [service.tts_model(model)] if model is not None else service.list_tts_models()
    data = [
        {"id": v.voice, "object": "voice", "model": v.model_id, "languages": v.languages}
        for v in service.list_voices(model)
    ]
    aliases = {m.id: voice_aliases(m, service.settings) for m in manifests}
    dropdown = [{"id": name, "name": name} for name in OPENAI_VOICES]
    for m in manifests:
        dropdown += [{"id": v, "name": f"{v} ({m.id})"} for v in m.voices if v not in OPENAI_VOICES]
    return {"object": "list", "data": data, "aliases": aliases, "voices": dropdown}
