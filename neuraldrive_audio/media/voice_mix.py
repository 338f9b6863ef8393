"""Voice specifications: a name, or a weighted Kokoro mix such as ``"a(2)+b(1)"``."""

from __future__ import annotations

import re

_PART = re.compile(r"^\s*([\w-]+)\s*(?:\(\s*(\d+(?:\.\d*)?|\.\d+)\s*\))?\s*$")


class VoiceSpecError(ValueError):
    """The voice string is malformed or names a voice the model lacks."""


def parse_voice_mix(spec: str, known: list[str]) -> list[tuple[str, float]]:
    """``"a(2)+b"`` -> ``[("a", 2.0), ("b", 1.0)]``; every name must be in ``known``."""
    parts: list[tuple[str, float]] = []
    for part in spec.split("+"):
        match = _PART.match(part)
        if match is None:
            raise VoiceSpecError(f"invalid voice specification {spec!r}")
        name, weight = match.group(1), float(match.group(2) or 1.0)
        if name not in known:
            raise VoiceSpecError(f"unknown voice {name!r}; available: {', '.join(known)}")
        parts.append((name, weight))
    if sum(weight for _, weight in parts) <= 0:
        raise VoiceSpecError(f"voice weights must not all be zero: {spec!r}")
    return parts
