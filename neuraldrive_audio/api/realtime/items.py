"""Conversation items: a typed union of message, function_call and function_call_output.

Items are held in our own mutable form (a user turn's transcript arrives later, a reply's
text grows, truncation cuts it) and rendered as the ``openai`` SDK's item models when sent.
Items keep text, never audio: a user ``input_audio`` part keeps its transcript, an assistant
reply its spoken text (and, for truncation, what of it was heard).

:func:`read_item` reads the item of a ``conversation.item.create``: text parts as they are;
an ``input_audio`` part without a transcript brings audio (base64, in the session's input
format) that the session transcribes before the item counts for a response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from openai.types.realtime import (
    ConversationItem as WireItem,
)
from openai.types.realtime import (
    ConversationItemAdded,
    ConversationItemDone,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemSystemMessage,
    RealtimeConversationItemUserMessage,
)
from openai.types.realtime.realtime_conversation_item_assistant_message import (
    Content as AssistantContent,
)
from openai.types.realtime.realtime_conversation_item_system_message import (
    Content as SystemContent,
)
from openai.types.realtime.realtime_conversation_item_user_message import (
    Content as UserContent,
)
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from neuraldrive_audio.api.realtime.protocol import (
    ClientEventError,
    decode_audio,
    new_event_id,
    new_item_id,
    validation_error,
)
from neuraldrive_audio.api.realtime.spoken import SpokenReply

Status = Literal["completed", "incomplete", "in_progress"]
Role = Literal["user", "assistant", "system"]
PartType = Literal["input_text", "input_audio", "output_text", "output_audio"]


@dataclass
class ContentPart:
    """One part of a message: text, or audio known by its transcript (None: not yet)."""

    type: PartType
    text: str | None = None
    transcript: str | None = None

    @property
    def words(self) -> str | None:
        """What the part says."""
        return self.text if self.type.endswith("_text") else self.transcript


@dataclass
class MessageItem:
    """A user, assistant or system message."""

    id: str
    role: Role
    content: list[ContentPart] = field(default_factory=list)
    status: Status = "completed"
    spoken: SpokenReply | None = field(default=None, repr=False)
    """An assistant reply's clauses and audio sent (for truncation); not rendered."""

    @property
    def text(self) -> str | None:
        """What the item says: its text parts and transcripts (None: nothing known yet)."""
        known = [part.words for part in self.content if part.words is not None]
        return "\n".join(known) if known else None


@dataclass
class FunctionCallItem:
    """The model calling one of the client's functions."""

    id: str
    call_id: str
    name: str
    arguments: str = ""
    status: Status = "completed"


@dataclass
class FunctionCallOutputItem:
    """The client's result of a function call."""

    id: str
    call_id: str
    output: str
    status: Status = "completed"


ConversationItem = MessageItem | FunctionCallItem | FunctionCallOutputItem


def item_size(item: ConversationItem) -> int:
    """The item's text in bytes (what the conversation's byte bound counts)."""
    if isinstance(item, MessageItem):
        return sum(len((part.words or "").encode()) for part in item.content)
    if isinstance(item, FunctionCallItem):
        return len(item.name.encode()) + len(item.arguments.encode())
    return len(item.output.encode())


def render(item: ConversationItem) -> WireItem:
    """The item as the Realtime API shows it."""
    common: dict[str, Any] = {"id": item.id, "object": "realtime.item", "status": item.status}
    if isinstance(item, FunctionCallItem):
        return RealtimeConversationItemFunctionCall(
            type="function_call",
            call_id=item.call_id,
            name=item.name,
            arguments=item.arguments,
            **common,
        )
    if isinstance(item, FunctionCallOutputItem):
        return RealtimeConversationItemFunctionCallOutput(
            type="function_call_output", call_id=item.call_id, output=item.output, **common
        )
    if item.role == "assistant":
        return RealtimeConversationItemAssistantMessage(
            type="message",
            role="assistant",
            content=[AssistantContent(**_part_fields(part)) for part in item.content],
            **common,
        )
    if item.role == "system":
        return RealtimeConversationItemSystemMessage(
            type="message",
            role="system",
            content=[SystemContent(type="input_text", text=part.text) for part in item.content],
            **common,
        )
    return RealtimeConversationItemUserMessage(
        type="message",
        role="user",
        content=[UserContent(**_part_fields(part)) for part in item.content],
        **common,
    )


def added_event(item: ConversationItem, previous: str | None) -> ConversationItemAdded:
    """``conversation.item.added``: ``item`` joined the conversation after ``previous``."""
    return ConversationItemAdded(
        type="conversation.item.added",
        event_id=new_event_id(),
        previous_item_id=previous,
        item=render(item),
    )


def done_event(item: ConversationItem, previous: str | None) -> ConversationItemDone:
    """``conversation.item.done``: ``item`` is complete."""
    return ConversationItemDone(
        type="conversation.item.done",
        event_id=new_event_id(),
        previous_item_id=previous,
        item=render(item),
    )


def _part_fields(part: ContentPart) -> dict[str, Any]:
    if part.type.endswith("_text"):
        return {"type": part.type, "text": part.text}
    return {"type": part.type, "transcript": part.transcript}


# -- what a client may create ------------------------------------------------------------


class _ClientModel(BaseModel):
    # Clients echo fields we don't act on (object, status, ...): accept them.
    model_config = ConfigDict(extra="ignore")


class _Part(_ClientModel):
    type: Literal["input_text", "input_audio", "output_text", "output_audio", "text", "audio"]
    text: StrictStr | None = None
    transcript: StrictStr | None = None
    audio: StrictStr | None = None


class _Message(_ClientModel):
    type: Literal["message"] = "message"
    id: StrictStr | None = None
    role: Role
    content: list[_Part]


class _FunctionCall(_ClientModel):
    type: Literal["function_call"]
    id: StrictStr | None = None
    call_id: StrictStr | None = None
    name: StrictStr
    arguments: StrictStr = ""


class _FunctionCallOutput(_ClientModel):
    type: Literal["function_call_output"]
    id: StrictStr | None = None
    call_id: StrictStr
    output: StrictStr


_CLIENT_ITEMS: dict[object, type[_Message | _FunctionCall | _FunctionCallOutput]] = {
    "message": _Message,
    "function_call": _FunctionCall,
    "function_call_output": _FunctionCallOutput,
}

_PARTS: dict[str, tuple[str, ...]] = {
    "user": ("input_text", "input_audio"),
    "system": ("input_text",),
    "assistant": ("output_text", "output_audio", "text", "audio"),
}


@dataclass
class NewItem:
    """A created item, and the audio of it still to be transcribed (None: none)."""

    item: ConversationItem
    audio: bytes | None


def read_item(value: dict[str, Any]) -> NewItem:
    """The item of a ``conversation.item.create`` event."""
    value = {"type": "message", **value} if "type" not in value else value
    model = _CLIENT_ITEMS.get(value["type"])
    if model is None:
        supported = ", ".join(f"'{name}'" for name in _CLIENT_ITEMS)
        raise ClientEventError(
            f"Invalid value: '{value['type']}'. Supported values are: {supported}.",
            code="invalid_value",
            param="item.type",
        )
    try:
        parsed = model.model_validate(value)
    except ValidationError as exc:
        raise validation_error(exc, "item") from exc
    if isinstance(parsed, _FunctionCall):
        call_id = parsed.call_id or "call_" + new_item_id()[5:]
        return NewItem(
            FunctionCallItem(parsed.id or new_item_id(), call_id, parsed.name, parsed.arguments),
            None,
        )
    if isinstance(parsed, _FunctionCallOutput):
        item = FunctionCallOutputItem(parsed.id or new_item_id(), parsed.call_id, parsed.output)
        return NewItem(item, None)
    return _read_message(parsed)


def _read_message(message: _Message) -> NewItem:
    if not message.content:
        raise ClientEventError(
            "Invalid 'item.content': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            code="empty_array",
            param="item.content",
        )
    parts: list[ContentPart] = []
    audio: bytes | None = None
    for index, raw in enumerate(message.content):
        param = f"item.content[{index}]"
        part, part_audio = _read_part(message.role, raw, param)
        if part_audio is not None:
            if audio is not None:
                raise ClientEventError(
                    "An item can carry one audio part to transcribe.", param=param
                )
            audio = part_audio
        parts.append(part)
    status: Status = "in_progress" if audio is not None else "completed"
    return NewItem(MessageItem(message.id or new_item_id(), message.role, parts, status), audio)


def _read_part(role: Role, part: _Part, param: str) -> tuple[ContentPart, bytes | None]:
    if part.type not in _PARTS[role]:
        allowed = ", ".join(f"'{name}'" for name in _PARTS[role])
        raise ClientEventError(
            f"Invalid value: '{part.type}'. Supported values are: {allowed}.",
            param=f"{param}.type",
        )
    if part.type in ("input_text", "output_text", "text"):
        if part.text is None:
            raise ClientEventError(
                f"Missing required parameter: '{param}.text'.",
                code="missing_required_parameter",
                param=f"{param}.text",
            )
        kind: PartType = "output_text" if role == "assistant" else "input_text"
        return ContentPart(kind, text=part.text), None
    if role == "assistant":
        if part.transcript is None:
            raise ClientEventError(
                "An assistant audio part needs its 'transcript'.", param=f"{param}.transcript"
            )
        return ContentPart("output_audio", transcript=part.transcript), None
    if part.transcript is not None:
        return ContentPart("input_audio", transcript=part.transcript), None
    audio = decode_audio(part.audio, f"{param}.audio")
    if not audio:
        raise ClientEventError("'audio' is empty.", param=f"{param}.audio")
    return ContentPart("input_audio"), audio
