"""Filling in the sizes of a streamed WAV once its whole body is known.

A streamed WAV starts before its length is known, so its RIFF and data sizes say
0xFFFFFFFF (players read until the stream ends; Python's ``wave`` believes the header).
A response sent in one piece can carry the true sizes.
"""

from __future__ import annotations

import struct

CANONICAL_HEADER_BYTES = 44


class NotCanonicalWavError(ValueError):
    """The bytes are not a 44-byte-header PCM WAV."""


def with_sizes(wav: bytes) -> bytes:
    """``wav`` (canonical 44-byte header, any sizes) with its RIFF and data sizes set."""
    if (
        len(wav) < CANONICAL_HEADER_BYTES
        or wav[:4] != b"RIFF"
        or wav[8:16] != b"WAVEfmt "
        or wav[36:40] != b"data"
    ):
        raise NotCanonicalWavError("not a canonical PCM WAV")
    data_bytes = len(wav) - CANONICAL_HEADER_BYTES
    block_align = struct.unpack_from("<H", wav, 32)[0]
    # A torn last frame would make readers misalign; sizes must cover whole frames.
    data_bytes -= data_bytes % max(block_align, 1)
    header = bytearray(wav[:CANONICAL_HEADER_BYTES])
    struct.pack_into("<I", header, 4, 36 + data_bytes)
    struct.pack_into("<I", header, 40, data_bytes)
    return bytes(header) + wav[CANONICAL_HEADER_BYTES : CANONICAL_HEADER_BYTES + data_bytes]
