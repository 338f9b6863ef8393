"""Zeroconf (mDNS) announcement of the Wyoming server as ``_wyoming._tcp.local.``, which
Home Assistant's Wyoming integration discovers. python-zeroconf answers in this process,
so the announcement lives and dies with the server (no Avahi file to forget)."""

from __future__ import annotations

import ipaddress
import socket

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

SERVICE_TYPE = "_wyoming._tcp.local."


def announced_address(host: str) -> str:
    """The address to announce: the bound one, or for a wildcard bind the address the
    host would use towards the mDNS group."""
    if host not in ("", "0.0.0.0", "::"):
        return host
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("224.0.0.251", 5353))
        return str(probe.getsockname()[0])
    finally:
        probe.close()


class Announcement:
    """One registered service; :meth:`withdraw` says goodbye on the LAN."""

    def __init__(self, name: str, host: str, port: int) -> None:
        address = ipaddress.ip_address(announced_address(host))
        self.info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{name}.{SERVICE_TYPE}",
            addresses=[address.packed],
            port=port,
            properties={"version": "1"},
        )
        self._zeroconf: AsyncZeroconf | None = None

    async def publish(self) -> None:
        """Start answering mDNS queries for the service."""
        self._zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only)
        await self._zeroconf.async_register_service(self.info)

    async def withdraw(self) -> None:
        """Unregister and stop the responder."""
        if self._zeroconf is not None:
            await self._zeroconf.async_unregister_service(self.info)
            await self._zeroconf.async_close()
            self._zeroconf = None
