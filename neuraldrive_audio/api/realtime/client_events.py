"""Client events of the Realtime API, parsed into typed models.

One model per event type, chosen by ``type``; fields a client may send but this server does
not act on are accepted and ignored (clients send more than the minimum). Nested objects
whose reading depends on the session (``session``, ``item``, ``response``) stay plain
objects here and are read by :mod:`session_config`, :mod:`items` and the response handlers.

Problems become :class:`ClientEventError` with OpenAI's codes and wording: an unknown type is
``invalid_value`` on ``type`` listing the supported values, a missing field
``missing_required_parameter``, a field of the wrong JSON type ``invalid_type``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from neuraldrive_audio.api.realtime.protocol import ClientEventError, validation_error


class _ClientEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: StrictStr | None = None


class SessionUpdate(_ClientEvent):
    """``session.update`` (GA)."""

    type: Literal["session.update"]
    session: dict[str, Any]


class TranscriptionSessionUpdate(_ClientEvent):
    """``transcription_session.update`` (legacy beta)."""

    type: Literal["transcription_session.update"]
    session: dict[str, Any]


class InputAudioBufferAppend(_ClientEvent):
    """``input_audio_buffer.append``: base64 audio in the session's input format."""

    type: Literal["input_audio_buffer.append"]
    audio: StrictStr


class InputAudioBufferCommit(_ClientEvent):
    """``input_audio_buffer.commit``."""

    type: Literal["input_audio_buffer.commit"]


class InputAudioBufferClear(_ClientEvent):
    """``input_audio_buffer.clear``."""

    type: Literal["input_audio_buffer.clear"]


class ConversationItemCreate(_ClientEvent):
    """``conversation.item.create``; ``previous_item_id`` ``"root"`` means the start."""

    type: Literal["conversation.item.create"]
    item: dict[str, Any]
    previous_item_id: StrictStr | None = None


class ConversationItemRetrieve(_ClientEvent):
    """``conversation.item.retrieve``."""

    type: Literal["conversation.item.retrieve"]
    item_id: StrictStr


class ConversationItemDelete(_ClientEvent):
    """``conversation.item.delete``."""

    type: Literal["conversation.item.delete"]
    item_id: StrictStr


class ConversationItemTruncate(_ClientEvent):
    """``conversation.item.truncate``."""

    type: Literal["conversation.item.truncate"]
    item_id: StrictStr
    content_index: StrictInt
    audio_end_ms: StrictInt


class ResponseCreate(_ClientEvent):
    """``response.create``; ``response`` overrides the session's settings for this one."""

    type: Literal["response.create"]
    response: dict[str, Any] | None = None


class ResponseCancel(_ClientEvent):
    """``response.cancel`` (of the active response, or the one named)."""

    type: Literal["response.cancel"]
    response_id: StrictStr | None = None


class OutputAudioBufferClear(_ClientEvent):
    """``output_audio_buffer.clear``: cut off the audio of the current response."""

    type: Literal["output_audio_buffer.clear"]


ClientEvent = (
    SessionUpdate
    | TranscriptionSessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemRetrieve
    | ConversationItemDelete
    | ConversationItemTruncate
    | ResponseCreate
    | ResponseCancel
    | OutputAudioBufferClear
)

EVENT_MODELS: dict[str, type[ClientEvent]] = {
    "session.update": SessionUpdate,
    "transcription_session.update": TranscriptionSessionUpdate,
    "input_audio_buffer.append": InputAudioBufferAppend,
    "input_audio_buffer.commit": InputAudioBufferCommit,
    "input_audio_buffer.clear": InputAudioBufferClear,
    "conversation.item.create": ConversationItemCreate,
    "conversation.item.retrieve": ConversationItemRetrieve,
    "conversation.item.delete": ConversationItemDelete,
    "conversation.item.truncate": ConversationItemTruncate,
    "response.create": ResponseCreate,
    "response.cancel": ResponseCancel,
    "output_audio_buffer.clear": OutputAudioBufferClear,
}
"""Every client event type this server knows, in OpenAI's order."""


def unknown_type(kind: str, supported: list[str] | None = None) -> ClientEventError:
    """OpenAI's answer to an event ``type`` it does not know (``supported``: the types the
    session has, when not all)."""
    names = [f"'{name}'" for name in (supported or list(EVENT_MODELS))]
    listed = ", ".join(names[:-1]) + f", and {names[-1]}"
    return ClientEventError(
        f"Invalid value: '{kind}'. Supported values are: {listed}.",
        code="invalid_value",
        param="type",
    )


def read_json(raw: str | bytes) -> dict[str, Any]:
    """The message as a JSON object with a string ``type``; ClientEventError otherwise."""
    try:
        event = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ClientEventError(
            f"We could not parse the JSON body of your request. ({exc})", code="invalid_json"
        ) from exc
    if not isinstance(event, dict):
        raise ClientEventError(
            "We could not parse the JSON body of your request: expected an object.",
            code="invalid_json",
        )
    if "type" not in event:
        raise ClientEventError(
            "Missing required parameter: 'type'.", code="missing_required_parameter", param="type"
        )
    if not isinstance(event["type"], str):
        raise ClientEventError(
            "Invalid type for 'type': expected a string.", code="invalid_type", param="type"
        )
    return event


def parse_client_event(event: dict[str, Any]) -> ClientEvent:
    """The typed event for a JSON object read by :func:`read_json`."""
    model = EVENT_MODELS.get(event["type"])
    if model is None:
        raise unknown_type(event["type"])
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise validation_error(exc) from exc
