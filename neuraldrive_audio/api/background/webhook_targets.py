"""Which webhook URLs we may call: public http(s) addresses only, unless allowed.

A webhook is a request our server makes to an address a client chose. Without a check it
reaches loopback services (Redis, the API itself), the LAN and cloud metadata endpoints,
and the recorded outcome turns it into a port scanner. So the host is resolved and every
address it resolves to must be global (not loopback, link-local, private, unique-local,
shared, reserved, multicast), or inside one of the operator's allowed networks. Delivery
connects to the address that was checked, so a second DNS answer cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class WebhookTargetError(ValueError):
    """The webhook URL is not one we will call."""


@dataclass(frozen=True)
class WebhookTarget:
    """A checked webhook URL and the address to connect to."""

    url: str
    host: str
    address: IPAddress


def parse_networks(spec: str) -> list[IPNetwork]:
    """``"127.0.0.0/8, 10.1.0.0/16"`` -> networks (raises ValueError on a bad entry)."""
    return [
        ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()
    ]


def _allowed(address: IPAddress, allow: list[IPNetwork]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address.version == net.version and address in net for net in allow):
        return True
    return address.is_global and not address.is_multicast


async def _resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookTargetError(f"the webhook host {host!r} does not resolve") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_target(url: str, allow: list[IPNetwork]) -> WebhookTarget:
    """Resolve ``url``'s host and refuse it unless every address is allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookTargetError("webhook_url must be an http or https URL with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await _resolve(parts.hostname, port)
    if not addresses or not all(_allowed(a, allow) for a in addresses):
        # Deliberately not saying which address: that would be a resolver oracle.
        raise WebhookTargetError(
            "webhook_url points to a loopback, private, link-local or otherwise non-public "
            "address; the operator can allow networks with WEBHOOK_ALLOW_NETWORKS"
        )
    return WebhookTarget(url=url, host=parts.hostname, address=addresses[0])
