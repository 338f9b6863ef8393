"""The audio formats of /v1/audio/speech and their HTTP content types.

Kept apart from the encoders so the API can name formats without importing PyAV.
"""

from __future__ import annotations

from enum import StrEnum


class SpeechFormat(StrEnum):
    """Audio formats of /v1/audio/speech."""

    MP3 = "mp3"
    OPUS = "opus"
    AAC = "aac"
    FLAC = "flac"
    WAV = "wav"
    PCM = "pcm"


CONTENT_TYPES: dict[SpeechFormat, str] = {
    SpeechFormat.MP3: "audio/mpeg",
    SpeechFormat.OPUS: "audio/ogg",
    SpeechFormat.AAC: "audio/aac",
    SpeechFormat.FLAC: "audio/flac",
    SpeechFormat.WAV: "audio/wav",
    SpeechFormat.PCM: "audio/pcm",
}
"""HTTP content type of each speech format."""
