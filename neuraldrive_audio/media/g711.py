"""G.711 telephony codecs: mu-law (``audio/pcmu``) and A-law (``audio/pcma``), 8 kHz.

Both map one byte to one 16-bit sample. Decoding uses a 256-entry table built once from
the ITU-T G.711 definitions; encoding is vectorised with numpy.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 8000
"""G.711 is always 8 kHz mono."""

_MULAW_BIAS = 0x21
_MULAW_CLIP = 8159


def _mulaw_table() -> npt.NDArray[np.int16]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> npt.NDArray[np.int16]:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(codes & 0x80, magnitude, -magnitude).astype(np.int16)


_MULAW_DECODE = _mulaw_table()
_ALAW_DECODE = _alaw_table()


def decode_mulaw(data: bytes) -> npt.NDArray[np.int16]:
    """Mu-law bytes to 16-bit samples."""
    return _MULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def decode_alaw(data: bytes) -> npt.NDArray[np.int16]:
    """A-law bytes to 16-bit samples."""
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


_MULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def encode_mulaw(samples: npt.NDArray[np.int16]) -> bytes:
    """16-bit samples to mu-law bytes (14-bit magnitude, bias 33, as in G.711)."""
    values = samples.astype(np.int32) >> 2
    mask = np.where(values < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(values), _MULAW_CLIP) + _MULAW_BIAS
    segment = np.searchsorted(_MULAW_SEGMENT_ENDS, magnitude)
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8).tobytes()


def encode_alaw(samples: npt.NDArray[np.int16]) -> bytes:
    """16-bit samples to A-law bytes (13-bit magnitude, even bits inverted, as in G.711)."""
    values = samples.astype(np.int32) >> 3
    mask = np.where(values >= 0, 0xD5, 0x55)
    magnitude = np.where(values >= 0, values, -values - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude)
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((magnitude >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8).tobytes()
