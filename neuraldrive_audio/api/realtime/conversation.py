"""A session's conversation: the items in order, bounded, and read back for the LLM.

Transcription sessions only add user audio items; a conversation session also adds text,
function calls and their results, and assistant replies. The conversation is bounded in
items and in bytes of text: past either bound the oldest items are forgotten (the caller
tells the client with ``conversation.item.deleted``). What goes to the LLM is trimmed
further to a context budget, oldest turns first, keeping the system prompt, and a tool call
and its result together or not at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from neuraldrive_audio.api.realtime.items import (
    ContentPart,
    ConversationItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
    item_size,
)

CHARS_PER_TOKEN = 4
"""How the context budget estimates tokens from text (English averages about 4)."""


@dataclass(frozen=True)
class ConversationLimits:
    """Bounds of one conversation."""

    max_items: int = 1000
    max_bytes: int = 1_000_000
    context_tokens: int = 8000
    """The LLM sees at most about this many tokens of history (the system prompt apart)."""


def estimated_tokens(message: dict[str, Any]) -> int:
    """A chat message's size in tokens, estimated from its characters."""
    return max(1, len(json.dumps(message)) // CHARS_PER_TOKEN)


class Conversation:
    """Items in order, found by id."""

    def __init__(self, limits: ConversationLimits | None = None) -> None:
        self.limits = limits or ConversationLimits()
        self.items: list[ConversationItem] = []
        self._bytes = 0

    def get(self, item_id: str) -> ConversationItem | None:
        """The item with this id, if still held."""
        return next((item for item in self.items if item.id == item_id), None)

    def add(self, item: ConversationItem, after: str | None = None) -> tuple[str | None, list[str]]:
        """Append ``item`` (or insert it after item ``after``, ``"root"`` = first).

        Returns the id of the item before it (None for the first) and the ids of the oldest
        items forgotten to stay in bounds. KeyError: ``after`` is unknown.
        """
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
        self._bytes += item_size(item)
        return previous, self._evict(keep=item)

    def _evict(self, keep: ConversationItem) -> list[str]:
        forgotten: list[str] = []
        while len(self.items) > 1 and (
            len(self.items) > self.limits.max_items or self._bytes > self.limits.max_bytes
        ):
            oldest = self.items[0] if self.items[0] is not keep else self.items[1]
            self.items.remove(oldest)
            self._bytes -= item_size(oldest)
            forgotten.append(oldest.id)
        return forgotten

    def resized(self, item: ConversationItem, before: int) -> list[str]:
        """``item`` changed size from ``before`` bytes (a transcript or reply arrived);
        returns the ids of items forgotten to stay in bounds."""
        self._bytes += item_size(item) - before
        return self._evict(keep=item)

    def delete(self, item_id: str) -> bool:
        """Remove the item; False when there is no such item."""
        item = self.get(item_id)
        if item is None:
            return False
        self.items.remove(item)
        self._bytes -= item_size(item)
        return True

    def add_user_audio(self, item_id: str) -> tuple[str | None, list[str]]:
        """A user turn whose transcript is not known yet (see :meth:`add`)."""
        item = MessageItem(item_id, "user", [ContentPart("input_audio")], status="in_progress")
        return self.add(item)

    def set_transcript(self, item_id: str, transcript: str | None) -> list[str]:
        """Record a user turn's transcript (None when transcription failed); returns the
        ids of items forgotten to stay in bounds."""
        item = self.get(item_id)
        if not isinstance(item, MessageItem):
            return []
        before = item_size(item)
        audio = next((p for p in item.content if p.type == "input_audio"), None)
        if audio is None:
            audio = ContentPart("input_audio")
            item.content.append(audio)
        audio.transcript = transcript
        item.status = "completed" if transcript is not None else "incomplete"
        return self.resized(item, before)

    # -- for the LLM ------------------------------------------------------------------------

    def llm_messages(self, instructions: str) -> list[dict[str, Any]]:
        """The history as Chat Completions messages within the context budget:
        ``instructions`` as the system prompt, then the newest turns that fit."""
        turns = self._turns()
        kept: list[list[dict[str, Any]]] = []
        budget = self.limits.context_tokens
        for turn in reversed(turns):
            size = sum(estimated_tokens(message) for message in turn)
            if kept and size > budget:
                break
            kept.append(turn)
            budget -= size
        system = [{"role": "system", "content": instructions}] if instructions else []
        return system + [message for turn in reversed(kept) for message in turn]

    def _turns(self) -> list[list[dict[str, Any]]]:
        """The items as groups of chat messages that are kept or dropped together: one
        message, or an assistant's tool calls with their results (calls without a result,
        and results whose call is gone, are left out: a chat API refuses them)."""
        outputs = {i.call_id: i for i in self.items if isinstance(i, FunctionCallOutputItem)}
        turns: list[list[dict[str, Any]]] = []
        pending: list[FunctionCallItem] = []

        def close_calls() -> None:
            if not pending:
                return
            answered = [call for call in pending if call.call_id in outputs]
            pending.clear()
            if not answered:
                return
            turn = turns[-1] if turns and _open_assistant(turns[-1]) else None
            message: dict[str, Any] = (
                turn.pop() if turn is not None else {"role": "assistant", "content": ""}
            )
            message["tool_calls"] = [_tool_call(call) for call in answered]
            results = [_tool_result(outputs[call.call_id]) for call in answered]
            if turn is not None:
                turn.extend([message, *results])
            else:
                turns.append([message, *results])

        for item in self.items:
            if isinstance(item, FunctionCallItem):
                pending.append(item)
                continue
            if isinstance(item, FunctionCallOutputItem):
                continue  # sent right after its call
            close_calls()
            text = item.text
            if text:
                turns.append([{"role": item.role, "content": text}])
        close_calls()
        return turns


def _open_assistant(turn: list[dict[str, Any]]) -> bool:
    """A lone assistant text message, which the tool calls that follow it join."""
    return len(turn) == 1 and turn[0]["role"] == "assistant" and "tool_calls" not in turn[0]


def _tool_call(call: FunctionCallItem) -> dict[str, Any]:
    return {
        "id": call.call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments or "{}"},
    }


def _tool_result(output: FunctionCallOutputItem) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": output.call_id, "content": output.output}
