"""A session's conversation: the items in order.

Transcription sessions only add user audio items; a conversation session also adds user
and system text items and assistant replies, and reads the history back for the LLM, so
items keep their text (transcripts of audio; never the audio itself) here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neuraldrive_audio.api.realtime.spoken import SpokenReply

MAX_ITEMS = 1000
"""Oldest items are forgotten beyond this, so a day-long session stays bounded."""


@dataclass
class ConversationItem:
    """One message item."""

    id: str
    role: str
    content: list[dict[str, Any]] = field(default_factory=list)
    status: str = "completed"
    spoken: SpokenReply | None = field(default=None, repr=False)
    """An assistant reply's clauses and audio sent (for truncation); not rendered."""

    @property
    def text(self) -> str | None:
        """What the item says: its text parts and transcripts (None: nothing known yet)."""
        pieces = [
            part.get("text") if part.get("text") is not None else part.get("transcript")
            for part in self.content
        ]
        known = [str(p) for p in pieces if p is not None]
        return "\n".join(known) if known else None

    def render(self) -> dict[str, Any]:
        """As the Realtime API shows an item."""
        return {
            "id": self.id,
            "object": "realtime.item",
            "type": "message",
            "status": self.status,
            "role": self.role,
            "content": self.content,
        }


class Conversation:
    """Items in order, found by id."""

    def __init__(self) -> None:
        self.items: list[ConversationItem] = []

    def get(self, item_id: str) -> ConversationItem | None:
        """The item with this id, if still held."""
        return next((item for item in self.items if item.id == item_id), None)

    def add(self, item: ConversationItem, after: str | None = None) -> str | None:
        """Append ``item`` (or insert it after item ``after``, ``"root"`` = first); returns
        the id of the item before it (None for the first). KeyError: ``after`` is unknown."""
        if after is None:
            position = len(self.items)
        elif after == "root":
            position = 0
        else:
            found = self.get(after)
            if found is None:
                raise KeyError(after)
            position = self.items.index(found) + 1
        previous = self.items[position - 1].id if position else None
        self.items.insert(position, item)
        del self.items[:-MAX_ITEMS]
        return previous

    def delete(self, item_id: str) -> bool:
        """Remove the item; False when there is no such item."""
        item = self.get(item_id)
        if item is None:
            return False
        self.items.remove(item)
        return True

    def llm_messages(self, instructions: str, skip: str | None = None) -> list[dict[str, Any]]:
        """The history as chat messages: ``instructions`` as the system prompt, then every
        item with known text in order (``skip``: the reply being written)."""
        messages: list[dict[str, Any]] = []
        if instructions:
            messages.append({"role": "system", "content": instructions})
        for item in self.items:
            text = item.text
            if item.id != skip and text:
                messages.append({"role": item.role, "content": text})
        return messages

    def add_user_audio(self, item_id: str) -> str | None:
        """A user turn whose transcript is not known yet; returns the previous item's id."""
        content = [{"type": "input_audio", "transcript": None}]
        return self.add(ConversationItem(item_id, "user", content, status="in_progress"))

    def set_transcript(self, item_id: str, transcript: str | None) -> None:
        """Record a user turn's transcript (None when transcription failed)."""
        item = self.get(item_id)
        if item is not None:
            waiting = [p for p in item.content if p.get("type") == "input_audio"]
            for part in waiting[:1] or [{}]:
                part.pop("audio", None)  # the audio itself is not kept
                part.update(type="input_audio", transcript=transcript)
                if part not in item.content:
                    item.content.append(part)
            item.status = "completed" if transcript is not None else "incomplete"
