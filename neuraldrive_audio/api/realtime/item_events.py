"""Handlers of ``conversation.item.create`` / ``.retrieve`` / ``.delete`` / ``.truncate``,
for every item type (message, function_call, function_call_output)."""

from __future__ import annotations

import time

from openai.types.realtime import (
    ConversationItemDeletedEvent,
    ConversationItemTruncatedEvent,
)
from openai.types.realtime.realtime_server_event import ConversationItemRetrieved

from neuraldrive_audio.api.realtime.client_events import (
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
)
from neuraldrive_audio.api.realtime.context import SessionContext
from neuraldrive_audio.api.realtime.input_buffer import decode_input
from neuraldrive_audio.api.realtime.items import (
    ContentPart,
    ConversationItem,
    MessageItem,
    item_size,
    read_item,
    render,
)
from neuraldrive_audio.api.realtime.protocol import ClientEventError, new_event_id
from neuraldrive_audio.api.realtime.transcriber import CommittedTurn


def _not_found(item_id: str) -> ClientEventError:
    return ClientEventError(
        f"Item with item_id '{item_id}' not found.", code="item_not_found", param="item_id"
    )


def _held(ctx: SessionContext, item_id: str) -> ConversationItem:
    item = ctx.conversation.get(item_id)
    if item is None:
        raise _not_found(item_id)
    return item


async def create(ctx: SessionContext, event: ConversationItemCreate) -> None:
    """Add the client's item (keeping its id) after ``previous_item_id`` (``root`` = first,
    none = last), and announce it at once."""
    new = read_item(event.item)
    if ctx.conversation.get(new.item.id) is not None:
        raise ClientEventError(
            f"Item with id '{new.item.id}' already exists.",
            code="item_already_exists",
            param="item.id",
        )
    size, limit = item_size(new.item), ctx.limits.conversation.max_bytes
    if size > limit:
        raise ClientEventError(
            f"Invalid 'item': the item holds {size} bytes of text, more than the "
            f"conversation's limit of {limit}.",
            code="item_too_large",
            param="item",
        )
    try:
        previous, forgotten = ctx.conversation.add(new.item, event.previous_item_id)
    except KeyError as exc:
        raise ClientEventError(
            f"Previous item with item_id '{event.previous_item_id}' not found.",
            code="item_not_found",
            param="previous_item_id",
        ) from exc
    await ctx.item_added(new.item.id, previous)
    await ctx.forget(forgotten)
    if new.audio is not None:
        fmt = ctx.config.format
        samples = decode_input(new.audio, fmt)
        ctx.transcribe(CommittedTurn(new.item.id, samples, fmt.sample_rate, time.monotonic()))


async def retrieve(ctx: SessionContext, event: ConversationItemRetrieve) -> None:
    """Send the item as held now."""
    item = _held(ctx, event.item_id)
    await ctx.emitter.emit(
        ConversationItemRetrieved(
            type="conversation.item.retrieved", event_id=new_event_id(), item=render(item)
        )
    )


async def delete(ctx: SessionContext, event: ConversationItemDelete) -> None:
    """Remove the item."""
    if not ctx.conversation.delete(event.item_id):
        raise _not_found(event.item_id)
    await ctx.emitter.emit(
        ConversationItemDeletedEvent(
            type="conversation.item.deleted", event_id=new_event_id(), item_id=event.item_id
        )
    )


async def truncate(ctx: SessionContext, event: ConversationItemTruncate) -> None:
    """Cut an assistant audio reply to what the listener heard (``audio_end_ms``)."""
    item = _held(ctx, event.item_id)
    if not isinstance(item, MessageItem) or item.role != "assistant" or item.spoken is None:
        raise ClientEventError(
            "Only an assistant message item with audio can be truncated.", param="item_id"
        )
    if event.content_index != 0:
        raise ClientEventError(
            f"Invalid 'content_index': the item has no content part {event.content_index}.",
            param="content_index",
        )
    end_ms = event.audio_end_ms
    if end_ms < 0:
        raise ClientEventError(
            f"Invalid 'audio_end_ms': integer below minimum value. Expected a value >= 0, "
            f"but got {end_ms} instead.",
            code="integer_below_min_value",
            param="audio_end_ms",
        )
    if end_ms > item.spoken.duration_ms:
        raise ClientEventError(
            f"Audio content of {item.spoken.duration_ms}ms is already shorter than {end_ms}ms.",
            param="audio_end_ms",
        )
    if ctx.responder is not None and ctx.responder.active_item_id == item.id:
        await ctx.responder.cancel("client_cancelled")  # it is no longer being heard
    before = item_size(item)
    item.content = [ContentPart("output_audio", transcript=item.spoken.heard_text(end_ms))]
    item.status = "incomplete"
    ctx.conversation.resized(item, before)
    await ctx.emitter.emit(
        ConversationItemTruncatedEvent(
            type="conversation.item.truncated",
            event_id=new_event_id(),
            item_id=item.id,
            content_index=0,
            audio_end_ms=end_ms,
        )
    )
