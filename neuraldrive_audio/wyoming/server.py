"""The Wyoming TCP server: accepts only allowed peers, caps connections, and hands each
accepted client to a :class:`Connection`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from wyoming.error import Error
from wyoming.event import async_write_event

from neuraldrive_audio.wyoming.access import Network, is_allowed
from neuraldrive_audio.wyoming.connection import Connection, ConnectionContext
from neuraldrive_audio.wyoming.framing import MAX_HEADER_BYTES

log = logging.getLogger(__name__)


class WyomingServer:
    """Listens on ``host:port`` until :meth:`close`."""

    def __init__(
        self, context: ConnectionContext, host: str, port: int, networks: tuple[Network, ...]
    ) -> None:
        self._ctx = context
        self._host = host
        self._port = port
        self._networks = networks
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and start accepting."""
        self._server = await asyncio.start_server(
            self._accept, self._host, self._port, limit=MAX_HEADER_BYTES
        )
        log.info("Wyoming server listening", extra={"address": self.address})

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def address(self) -> str:
        """``host:port`` as bound."""
        return f"{self._host}:{self.port}"

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop accepting and end every connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            await self._serve_client(reader, writer)
        finally:
            self._clients.discard(task)

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peername = writer.get_extra_info("peername")
        address = str(peername[0]) if peername else ""
        peer = f"{address}:{peername[1]}" if peername else "?"
        if not is_allowed(address, self._networks):
            # Wyoming has no authentication: the address is the only credential.
            log.warning("Wyoming client refused: not in the allowed networks", extra={"peer": peer})
            await self._ctx.record("connection", "refused")
            writer.close()
            return
        if not self._ctx.limits.open_connection():
            log.warning("Wyoming client refused: too many connections", extra={"peer": peer})
            await self._ctx.record("connection", "too-many-connections")
            with contextlib.suppress(ConnectionError, RuntimeError):
                busy = Error(text="Too many connections; retry later.", code="too-many-connections")
                await asyncio.wait_for(async_write_event(busy.event(), writer), 5.0)
            writer.close()
            return
        try:
            await Connection(reader, writer, self._ctx, peer).run()
        finally:
            self._ctx.limits.close_connection()
