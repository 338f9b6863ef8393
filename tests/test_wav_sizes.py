"""Setting the sizes of a streamed WAV's header (pure, fast)."""

from __future__ import annotations

import io
import wave

import pytest

from neuraldrive_audio.media.wav_sizes import NotCanonicalWavError, with_sizes

OPEN_ENDED = (
    b"RIFF\xff\xff\xff\xffWAVEfmt "
    + (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
    + (24_000).to_bytes(4, "little") + (48_000).to_bytes(4, "little")
    + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    + b"data\xff\xff\xff\xff"
)  # fmt: skip


def test_open_ended_header_gets_true_sizes() -> None:
    body = bytes(range(200)) * 24  # 4800 bytes = 2400 frames = 0.1 s
    fixed = with_sizes(OPEN_ENDED + body)
    with wave.open(io.BytesIO(fixed)) as wav:
        assert wav.getnframes() == 2400 and wav.getframerate() == 24_000
        assert wav.readframes(2400) == body
    assert int.from_bytes(fixed[4:8], "little") == len(fixed) - 8


def test_torn_last_frame_is_dropped() -> None:
    fixed = with_sizes(OPEN_ENDED + b"\x01\x02\x03")
    assert len(fixed) == 46 and int.from_bytes(fixed[40:44], "little") == 2


def test_header_only_is_an_empty_wav() -> None:
    with wave.open(io.BytesIO(with_sizes(OPEN_ENDED))) as wav:
        assert wav.getnframes() == 0


@pytest.mark.parametrize("data", [b"", b"RIFF", b"OggS" + bytes(60)])
def test_other_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(NotCanonicalWavError):
        with_sizes(data)
