"""Who may talk to the Wyoming server: Wyoming has no authentication, so the peer's
address is the only check. Empty allow list = loopback only."""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (or single addresses); empty = loopback. Raises ValueError."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        return LOOPBACK
    return tuple(ipaddress.ip_network(p, strict=False) for p in parts)


def is_allowed(address: str, networks: tuple[Network, ...]) -> bool:
    """Whether a peer address (IPv4, IPv6 or IPv4-mapped IPv6) is in one of the networks."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == n.version and ip in n for n in networks)
