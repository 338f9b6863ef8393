"""The idle wait of every woken loop: a cancellation is never lost to a wake."""

from __future__ import annotations

import asyncio

import pytest

from neuraldrive_audio.queue.wake import wait_until_set


async def test_returns_when_set_and_after_the_timeout() -> None:
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, event.set)
    await asyncio.wait_for(wait_until_set(event, 60), 5)  # woken, long before 60 s
    event.clear()
    started = asyncio.get_running_loop().time()
    await wait_until_set(event, 0.05)  # nobody wakes it: the timeout ends the wait quietly
    assert asyncio.get_running_loop().time() - started >= 0.05


async def test_a_cancel_in_the_same_turn_as_the_wake_is_kept() -> None:
    # A task cancelled to stop as its event is set (SIGTERM as a job ends): asyncio.wait_for
    # on Python 3.11 returns the wait's result and the task runs on.
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_until_set(event, 60))
    await asyncio.sleep(0.01)
    event.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
