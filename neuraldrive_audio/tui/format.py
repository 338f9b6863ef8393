"""Turning raw numbers from the API into short strings for table cells."""

from __future__ import annotations

DASH = "—"
"""What a cell shows when the service did not report the value."""

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(count: int | float | None) -> str:
    """``1536`` -> ``1.5 KiB``; None -> ``—``."""
    if count is None:
        return DASH
    value = float(count)
    for unit in _UNITS[:-1]:
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_UNITS[-1]}"


def duration(seconds: float | None) -> str:
    """A short duration: ``45 s``, ``12 min``, ``3 h 20 min``, ``2 d 4 h``; None -> ``—``."""
    if seconds is None:
        return DASH
    seconds = abs(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def relative_time(when: float | None, now: float) -> str:
    """A timestamp relative to ``now``: ``5 s ago``, ``in 29 min``, ``now``; None -> ``—``."""
    if when is None:
        return DASH
    delta = when - now
    if abs(delta) < 1:
        return "now"
    return f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago"


def bar(fraction: float | None, width: int = 16) -> str:
    """A text progress bar with its percentage, e.g. ``████████········  50%``."""
    if fraction is None:
        return DASH
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    return f"{'█' * filled}{'·' * (width - filled)} {fraction * 100:3.0f}%"


def number(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A float with a fixed number of decimals and an optional unit; None -> ``—``."""
    if value is None:
        return DASH
    return f"{value:.{digits}f}{unit}"


def clip(text: str, width: int = 80) -> str:
    """``text`` cut to ``width`` characters, ending in ``…`` when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"
