"""``conversation.item.create``: a client's message item, checked and read into our form.

Text parts are kept as they are; an ``input_audio`` part without a transcript carries
audio (base64, in the session's input format) that the session has transcribed on the
workers before the item counts for a response. Assistant audio parts must bring their
transcript (the LLM reads text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neuraldrive_audio.api.realtime.conversation import ConversationItem
from neuraldrive_audio.api.realtime.protocol import ClientEventError, decode_audio, new_item_id

_PARTS = {
    "user": ("input_text", "input_audio"),
    "system": ("input_text",),
    "assistant": ("output_text", "output_audio", "text", "audio"),
}


@dataclass
class NewItem:
    """A created item, and the audio of it still to be transcribed (None: none)."""

    item: ConversationItem
    audio: bytes | None


def _part(role: str, part: object, param: str) -> tuple[dict[str, Any], bytes | None]:
    if not isinstance(part, dict) or part.get("type") not in _PARTS[role]:
        allowed = ", ".join(_PARTS[role])
        raise ClientEventError(
            f"Invalid content part for a {role} item; use one of: {allowed}.",
            param=f"{param}.type",
        )
    kind = part["type"]
    if kind in ("input_text", "output_text", "text"):
        text = part.get("text")
        if not isinstance(text, str):
            raise ClientEventError(f"'{param}.text' must be a string.", param=f"{param}.text")
        kind = "output_text" if role == "assistant" else "input_text"
        return {"type": kind, "text": text}, None
    transcript = part.get("transcript")
    if transcript is not None and not isinstance(transcript, str):
        raise ClientEventError(
            f"'{param}.transcript' must be a string.", param=f"{param}.transcript"
        )
    if role == "assistant":
        if transcript is None:
            raise ClientEventError(
                "An assistant audio part needs its 'transcript'.", param=f"{param}.transcript"
            )
        return {"type": "output_audio", "transcript": transcript}, None
    if transcript is not None:
        return {"type": "input_audio", "transcript": transcript}, None
    audio = decode_audio(part.get("audio"))
    if not audio:
        raise ClientEventError("'audio' is empty.", param=f"{param}.audio")
    return {"type": "input_audio", "transcript": None}, audio


def read_item(value: object) -> NewItem:
    """The item of a ``conversation.item.create`` event."""
    if not isinstance(value, dict):
        raise ClientEventError("'item' must be an object.", param="item")
    if value.get("type", "message") != "message":
        raise ClientEventError(
            f"Item type '{value.get('type')}' is not supported; only 'message' items "
            "(this server has no function calling).",
            code="unsupported",
            param="item.type",
        )
    role = value.get("role")
    if role not in _PARTS:
        raise ClientEventError(
            "'item.role' must be 'user', 'assistant' or 'system'.", param="item.role"
        )
    content = value.get("content")
    if not isinstance(content, list) or not content:
        raise ClientEventError("'item.content' must be a non-empty list.", param="item.content")
    parts: list[dict[str, Any]] = []
    audio: bytes | None = None
    for index, raw in enumerate(content):
        part, part_audio = _part(role, raw, f"item.content[{index}]")
        if part_audio is not None:
            if audio is not None:
                raise ClientEventError(
                    "An item can carry one audio part to transcribe.",
                    param=f"item.content[{index}]",
                )
            audio = part_audio
        parts.append(part)
    item_id = value.get("id") or new_item_id()
    if not isinstance(item_id, str):
        raise ClientEventError("'item.id' must be a string.", param="item.id")
    status = "in_progress" if audio is not None else "completed"
    return NewItem(ConversationItem(item_id, role, parts, status=status), audio)
