"""Open sessions of this API process: admission limits and live figures."""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from typing import Any

from neuraldrive_audio.api.observability.status_report import percentile

DELAY_WINDOW = 500
"""Turns whose delay feeds the percentiles."""


class SessionLimitError(Exception):
    """Too many sessions are open (for this key, or in total)."""


def key_id(api_key: str) -> str:
    """A short, non-secret name for a key (limits are per key; the key itself isn't kept)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


class RealtimeRegistry:
    """Counts sessions per key and in total, turns, and speech_stopped -> completed delays."""

    def __init__(self, max_sessions: int, max_sessions_per_key: int) -> None:
        self.max_sessions = max_sessions
        self.max_sessions_per_key = max_sessions_per_key
        self._open: Counter[str] = Counter()
        self.sessions_total = 0
        self.turns_committed = 0
        self.turns_completed = 0
        self.turns_failed = 0
        self._delays_s: deque[float] = deque(maxlen=DELAY_WINDOW)

    @property
    def sessions_open(self) -> int:
        """Sessions open right now."""
        return sum(self._open.values())

    def open_session(self, key: str) -> None:
        """Admit a session or raise SessionLimitError saying which limit was hit."""
        if self.sessions_open >= self.max_sessions:
            raise SessionLimitError(
                f"{self.sessions_open} realtime sessions are open, the "
                f"server's limit is {self.max_sessions}"
            )
        if self._open[key] >= self.max_sessions_per_key:
            raise SessionLimitError(
                f"this API key has {self._open[key]} realtime sessions open, "
                f"the limit per key is {self.max_sessions_per_key}"
            )
        self._open[key] += 1
        self.sessions_total += 1

    def close_session(self, key: str) -> None:
        """Forget a session that ended."""
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def turn_committed(self) -> None:
        """A turn went to the queue."""
        self.turns_committed += 1

    def turn_completed(self, delay_s: float) -> None:
        """A turn's transcript went out ``delay_s`` after speech_stopped (or the commit)."""
        self.turns_completed += 1
        self._delays_s.append(delay_s)

    def turn_failed(self) -> None:
        """A turn ended with ``.failed``."""
        self.turns_failed += 1

    def figures(self) -> dict[str, Any]:
        """The ``realtime`` part of /system/audio/status."""
        delays = list(self._delays_s)

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 1)

        return {
            "sessions_open": self.sessions_open,
            "sessions_total": self.sessions_total,
            "max_sessions": self.max_sessions,
            "max_sessions_per_key": self.max_sessions_per_key,
            "turns": {
                "committed": self.turns_committed,
                "completed": self.turns_completed,
                "failed": self.turns_failed,
            },
            "turn_delay_ms": {
                "p50": ms(percentile(delays, 0.5)),
                "p95": ms(percentile(delays, 0.95)),
            },
        }
