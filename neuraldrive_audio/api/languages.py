"""The ``language`` field of transcription requests (shared by /transcriptions and /jobs)."""

from __future__ import annotations

from neuraldrive_audio.api.errors import APIError
from neuraldrive_audio.media.languages import language_code


def parse_language(value: str | None) -> str | None:
    """The language code for a ``language`` field (code or English name); 400 if unknown."""
    if not value:
        return None
    code = language_code(value)
    if code is None:
        raise APIError(
            400, f"Unsupported language: '{value}'.", code="invalid_language", param="language"
        )
    return code
