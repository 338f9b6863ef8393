"""Limits shared by every Wyoming connection of one server: how many connections are
served, and how many bytes of audio they hold together."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SharedLimits:
    """Counters the connections take from and give back (one event loop: no lock)."""

    max_connections: int
    max_buffered_bytes: int
    connections: int = 0
    buffered_bytes: int = 0

    def open_connection(self) -> bool:
        """Take a connection slot; False when all are in use."""
        if self.connections >= self.max_connections:
            return False
        self.connections += 1
        return True

    def close_connection(self) -> None:
        """Give a connection slot back."""
        self.connections -= 1

    def reserve(self, size: int) -> bool:
        """Take ``size`` bytes of the audio budget; False when it would overflow."""
        if self.buffered_bytes + size > self.max_buffered_bytes:
            return False
        self.buffered_bytes += size
        return True

    def release(self, size: int) -> None:
        """Give back bytes taken with :meth:`reserve`."""
        self.buffered_bytes -= size
