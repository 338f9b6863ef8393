"""A session's conversation: the items in order (user audio turns so far).

Transcription sessions only add user items; a conversation session adds assistant items
and reads the history back for the LLM, so items keep their transcripts here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_ITEMS = 1000
"""Oldest items are forgotten beyond this, so a day-long session stays bounded."""


@dataclass
class ConversationItem:
    """One message item."""

    id: str
    role: str
    content: list[dict[str, Any]] = field(default_factory=list)
    status: str = "completed"

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

    def add(self, item: ConversationItem) -> str | None:
        """Append ``item``; returns the id of the item before it (None for the first)."""
        previous = self.items[-1].id if self.items else None
        self.items.append(item)
        del self.items[:-MAX_ITEMS]
        return previous

    def add_user_audio(self, item_id: str) -> str | None:
        """A user turn whose transcript is not known yet; returns the previous item's id."""
        content = [{"type": "input_audio", "transcript": None}]
        return self.add(ConversationItem(item_id, "user", content, status="in_progress"))

    def set_transcript(self, item_id: str, transcript: str | None) -> None:
        """Record a user turn's transcript (None when transcription failed)."""
        item = self.get(item_id)
        if item is not None:
            item.content = [{"type": "input_audio", "transcript": transcript}]
            item.status = "completed" if transcript is not None else "incomplete"
