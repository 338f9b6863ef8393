"""Aborting the work of a request whose HTTP client went away.

The speech service aborts a job when its caller stops waiting (the awaiting task is
cancelled); here the API notices that the client closed the connection, by reading the
ASGI request, and cancels that task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

from neuraldrive_audio.api.http.errors import APIError

log = logging.getLogger(__name__)
T = TypeVar("T")


async def _client_gone(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """``await work``, unless the client disconnects first: then ``work`` is cancelled
    (which aborts the job it runs) and the request ends with 499."""
    work_task = asyncio.ensure_future(work)
    gone_task = asyncio.create_task(_client_gone(request))
    done, _ = await asyncio.wait({work_task, gone_task}, return_when=asyncio.FIRST_COMPLETED)
    if work_task in done:
        gone_task.cancel()
        return work_task.result()
    log.info("client disconnected; aborting its work", extra={"path": request.url.path})
    work_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work_task
    raise APIError(499, "client closed the request", code="client_closed_request")
