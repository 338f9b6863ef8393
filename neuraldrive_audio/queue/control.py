"""The control channel: the API asks one worker to load or unload a model and waits for it."""

from __future__ import annotations

import secrets
import time
from enum import StrEnum

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from neuraldrive_audio.queue import keys

REPLY_TTL_S = 60
BLOCK_S = 2
"""Longest single BLPOP, so a waiting worker notices a lost Redis within seconds."""


class ControlAction(StrEnum):
    """What a worker is asked to do."""

    LOAD = "load"
    UNLOAD = "unload"


class ControlCommand(BaseModel):
    """A command pushed onto one worker's control list."""

    id: str = Field(default_factory=lambda: secrets.token_hex(8))
    action: ControlAction
    model: str
    pin: bool | None = None


class ControlReply(BaseModel):
    """A worker's answer; ``status`` is the HTTP status the API should use on failure."""

    worker_id: str
    ok: bool
    loaded: bool
    pinned: bool = False
    bytes: int = 0
    status: int = 200
    code: str | None = None
    message: str = ""


class ControlTimeoutError(Exception):
    """The worker did not answer in time."""


async def send(
    redis: Redis, worker_id: str, command: ControlCommand, timeout_s: float
) -> ControlReply:
    """Push a command to a worker and wait for its reply."""
    await redis.rpush(keys.control(worker_id), command.model_dump_json())  # type: ignore[misc]
    deadline = time.monotonic() + max(timeout_s, 1)
    # Short blocking reads, each well below the connection's socket timeout.
    while (left := deadline - time.monotonic()) > 0:
        wait = max(1, min(BLOCK_S, int(left)))
        reply = await redis.blpop([keys.control_reply(command.id)], timeout=wait)  # type: ignore[misc]
        if reply is not None:
            return ControlReply.model_validate_json(reply[1])
    raise ControlTimeoutError(f"worker {worker_id} did not answer within {timeout_s:.0f} s")


async def next_command(redis: Redis, worker_id: str, wait_s: int) -> ControlCommand | None:
    """Worker side: the next command, or None after ``wait_s`` without one."""
    item = await redis.blpop([keys.control(worker_id)], timeout=wait_s)  # type: ignore[misc]
    return None if item is None else ControlCommand.model_validate_json(item[1])


async def answer(redis: Redis, command: ControlCommand, reply: ControlReply) -> None:
    """Worker side: deliver the reply to whoever waits for it."""
    key = keys.control_reply(command.id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.rpush(key, reply.model_dump_json())
        pipe.expire(key, REPLY_TTL_S)
        await pipe.execute()
