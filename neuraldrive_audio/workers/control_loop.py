"""A worker's side of the control channel: load, pin and unload on request."""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from neuraldrive_audio.queue import control
from neuraldrive_audio.queue.control import ControlAction, ControlCommand, ControlReply
from neuraldrive_audio.workers.job_frame import job_error
from neuraldrive_audio.workers.state import WorkerState

log = logging.getLogger(__name__)


async def execute(state: WorkerState, command: ControlCommand) -> ControlReply:
    """Carry out one command; failures become a reply with the HTTP status to use."""
    worker_id = state.worker_id
    try:
        if command.action is ControlAction.LOAD:
            cached = await state.cache.load(state.store.get(command.model), pin=command.pin)
            return ControlReply(
                worker_id=worker_id, ok=True, loaded=True, pinned=cached.pinned, bytes=cached.bytes
            )
        was_loaded = await state.cache.unload(command.model)
        return ControlReply(
            worker_id=worker_id,
            ok=was_loaded,
            loaded=False,
            status=200 if was_loaded else 404,
            code=None if was_loaded else "model_not_loaded",
            message="" if was_loaded else f"model {command.model} is not loaded on {worker_id}",
        )
    except Exception as exc:
        error = job_error(exc)
        return ControlReply(
            worker_id=worker_id,
            ok=False,
            loaded=state.cache.is_loaded(command.model),
            status=error.status,
            code=error.code,
            message=error.message,
        )


async def control_loop(state: WorkerState) -> None:
    """Serve control commands until cancelled; publishes a fresh heartbeat after each."""
    while True:
        try:
            # Blocks until a command arrives; the timeout only bounds one BLPOP.
            wait_s = max(1, int(state.settings.worker_idle_poll_s))
            command = await control.next_command(state.redis, state.worker_id, wait_s)
            if command is None:
                continue
            log.info(
                "control command",
                extra={
                    "worker_id": state.worker_id,
                    "action": command.action,
                    "model": command.model,
                },
            )
            reply = await execute(state, command)
            # Heartbeat first, so status reflects the change as soon as the caller returns.
            await state.publish_heartbeat()
            await control.answer(state.redis, command, reply)
        except asyncio.CancelledError:
            raise
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("control loop: Redis unavailable (%s)", type(exc).__name__,
                        extra={"worker_id": state.worker_id})  # fmt: skip
            await asyncio.sleep(1)
        except Exception:
            log.exception("control loop error", extra={"worker_id": state.worker_id})
            await asyncio.sleep(1)
