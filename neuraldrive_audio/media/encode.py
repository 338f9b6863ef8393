"""Streaming audio encoders for /v1/audio/speech: float PCM in, bytes ready to send out.

Every format leaves at 24 kHz mono, the rate OpenAI's speech endpoint uses, so engines
at other rates go through a ``Resampler`` first. Encoders built on PyAV write into a
sink that has ``write`` but no ``seek``: FFmpeg's muxers then stream (headers first,
nothing patched at the end) and every ``encode`` call hands back what is ready now.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from typing import Final, cast

import av
import numpy as np
from av.audio.stream import AudioStream

from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE, av_frame
from neuraldrive_audio.media.samples import EMPTY, FloatAudio, to_s16le

# A streamed WAV cannot know its length up front; like OpenAI we put the largest size
# in both RIFF and data chunk headers, which readers take as "until end of stream".
_UNKNOWN_SIZE: Final = 0xFFFFFFFF


class StreamingEncoder(ABC):
    """Encodes a stream of mono float32 chunks, returning bytes as soon as they exist."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate

    @abstractmethod
    def encode(self, pcm: FloatAudio) -> bytes:
        """Encode one chunk; the bytes returned can be sent to the client right away."""

    @abstractmethod
    def finish(self) -> bytes:
        """Flush the encoder and muxer; returns the end of the stream."""


class PcmEncoder(StreamingEncoder):
    """Raw 16-bit signed little-endian mono, no header (OpenAI's ``pcm``)."""

    def encode(self, pcm: FloatAudio) -> bytes:
        """Convert one chunk to s16le."""
        return to_s16le(pcm)

    def finish(self) -> bytes:
        """Raw PCM has no trailer."""
        return b""


class WavEncoder(PcmEncoder):
    """16-bit PCM WAV whose header, sent first, declares an unknown length."""

    def __init__(self, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self._header_sent = False

    def encode(self, pcm: FloatAudio) -> bytes:
        """The header (on the first call) followed by the chunk as s16le."""
        if self._header_sent:
            return to_s16le(pcm)
        self._header_sent = True
        return wav_header(self.sample_rate) + to_s16le(pcm)

    def finish(self) -> bytes:
        """The header alone if nothing was encoded, so the output is still a WAV file."""
        return self.encode(EMPTY) if not self._header_sent else b""


def wav_header(sample_rate: int, channels: int = 1) -> bytes:
    """A canonical 44-byte PCM16 WAV header with RIFF and data sizes left unknown."""
    block_align = 2 * channels
    return (
        b"RIFF"
        + struct.pack("<I", _UNKNOWN_SIZE)
        + b"WAVEfmt "
        + struct.pack(
            "<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block_align, block_align, 16
        )
        + b"data"
        + struct.pack("<I", _UNKNOWN_SIZE)
    )


class _ByteSink:
    """A write-only file for PyAV. Having no ``seek`` is what makes the muxer stream."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        return len(data)

    def take(self) -> bytes:
        """Everything written since the last call."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


class AvEncoder(StreamingEncoder):
    """A PyAV (FFmpeg) encoder and muxer writing to a non-seekable sink."""

    def __init__(
        self,
        sample_rate: int,
        container: str,
        codec: str,
        bit_rate: int | None = None,
        container_options: dict[str, str] | None = None,
    ) -> None:
        super().__init__(sample_rate)
        self._sink = _ByteSink()
        # flush_packets: hand every muxed packet to the sink instead of letting the
        # 32 KiB AVIO buffer sit on the first seconds of audio.
        options = {"flush_packets": "1", **(container_options or {})}
        self._container = av.open(self._sink, mode="w", format=container, container_options=options)
        self._stream = cast(AudioStream, self._container.add_stream(codec, rate=sample_rate))
        self._stream.layout = "mono"
        if bit_rate is not None:
            self._stream.bit_rate = bit_rate
        # Writing the header now means the first encode() always has bytes to return,
        # even when the codec is still filling its first frame.
        self._container.start_encoding()
        self._pts = 0
        self._finished = False

    def encode(self, pcm: FloatAudio) -> bytes:
        """Encode and mux one chunk; returns the header and every packet that is ready."""
        self._push(pcm)
        return self._sink.take()

    def finish(self) -> bytes:
        """Drain the codec, write the trailer and close the container."""
        if not self._finished:
            self._finished = True
            if self._pts == 0:
                # Nothing was spoken (e.g. input of punctuation only). A stream with
                # headers but no audio packets does not decode, so send 10 ms of silence.
                self._push(np.zeros(self.sample_rate // 100, dtype=np.float32))
            self._container.mux(self._stream.encode(None))
            self._container.close()
        return self._sink.take()

    def _push(self, pcm: FloatAudio) -> None:
        """Feed samples to the codec and mux whatever packets come out."""
        if pcm.size:
            frame = av_frame(pcm, self.sample_rate, self._pts)
            self._pts += pcm.size
            self._container.mux(self._stream.encode(frame))


def make_encoder(fmt: SpeechFormat, sample_rate: int = OUTPUT_SAMPLE_RATE) -> StreamingEncoder:
    """A fresh streaming encoder for one response in ``fmt``.

    ``sample_rate`` must be one the codec accepts; Opus takes 8, 12, 16, 24 or 48 kHz.
    """
    match fmt:
        case SpeechFormat.PCM:
            return PcmEncoder(sample_rate)
        case SpeechFormat.WAV:
            return WavEncoder(sample_rate)
        case SpeechFormat.MP3:
            return AvEncoder(sample_rate, "mp3", "libmp3lame", bit_rate=64_000)
        case SpeechFormat.OPUS:
            # The Ogg muxer holds packets until a page covers page_duration (default
            # 1 s); 100 ms pages keep latency low at ~7 % framing overhead.
            return AvEncoder(
                sample_rate,
                "ogg",
                "libopus",
                bit_rate=32_000,
                container_options={"page_duration": "100000"},
            )
        case SpeechFormat.AAC:
            return AvEncoder(sample_rate, "adts", "aac", bit_rate=64_000)
        case SpeechFormat.FLAC:
            return AvEncoder(sample_rate, "flac", "flac")
