"""Streaming encoders: every format decodes back to 24 kHz audio of the right length."""

from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest
import soundfile as sf

from neuraldrive_audio.media.encode import make_encoder, wav_header
from neuraldrive_audio.media.formats import CONTENT_TYPES, SpeechFormat
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE, Resampler, time_stretch
from neuraldrive_audio.media.samples import FloatAudio

SOURCE_RATE = 22050  # Piper's rate: the common case that needs resampling
CHUNK_SECONDS = (0.9, 1.3, 0.7)  # sentence-sized chunks
EXPECTED_SECONDS = sum(CHUNK_SECONDS)

# mp3 and ADTS aac cannot carry gapless metadata in a stream (the LAME tag needs a
# seek back), so decoders also play the encoder's priming and the last frame's padding:
# measured 48-70 ms (mp3) and 44-81 ms (aac) extra. The others are exact.
LOSSY_FRAMING_S = {SpeechFormat.MP3: 0.075, SpeechFormat.AAC: 0.090}
TOLERANCE_S = 0.05


def tone_chunks(rate: int = SOURCE_RATE) -> list[FloatAudio]:
    """A continuous 440 Hz tone cut into sentence-sized chunks."""
    chunks, start = [], 0
    for seconds in CHUNK_SECONDS:
        n = int(seconds * rate)
        t = np.arange(start, start + n) / rate
        chunks.append((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
        start += n
    return chunks


def encode_stream(fmt: SpeechFormat) -> tuple[list[bytes], bytes]:
    """Resample and encode the tone; returns what each encode() gave and the full stream."""
    resampler = Resampler(SOURCE_RATE)
    encoder = make_encoder(fmt)
    pieces = [encoder.encode(resampler.process(chunk)) for chunk in tone_chunks()]
    tail = encoder.encode(resampler.flush()) + encoder.finish()
    return pieces, b"".join([*pieces, tail])


def decode_with_av(data: bytes) -> tuple[int, FloatAudio]:
    """Decode with FFmpeg: (sample rate, mono samples)."""
    with av.open(io.BytesIO(data), mode="r") as container:
        frames = list(container.decode(audio=0))
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    return frames[0].sample_rate, samples


@pytest.mark.parametrize("fmt", [f for f in SpeechFormat if f is not SpeechFormat.PCM])
def test_container_formats_decode_to_expected_duration(fmt: SpeechFormat) -> None:
    pieces, data = encode_stream(fmt)
    assert all(pieces), f"every sentence-sized chunk must yield bytes: {list(map(len, pieces))}"

    rate, samples = decode_with_av(data)
    duration = len(samples) / rate
    extra = duration - EXPECTED_SECONDS
    assert -TOLERANCE_S <= extra <= TOLERANCE_S + LOSSY_FRAMING_S.get(fmt, 0.0)
    if fmt is SpeechFormat.OPUS:
        # Opus decoders always output 48 kHz; the stream's OpusHead records our 24 kHz.
        head = data.index(b"OpusHead")
        assert struct.unpack_from("<I", data, head + 12)[0] == OUTPUT_SAMPLE_RATE
        assert rate == 48000
    else:
        assert rate == OUTPUT_SAMPLE_RATE


def test_pcm_is_raw_s16le_at_24k() -> None:
    pieces, data = encode_stream(SpeechFormat.PCM)
    assert all(pieces)
    samples = np.frombuffer(data, dtype="<i2")
    assert abs(len(samples) / OUTPUT_SAMPLE_RATE - EXPECTED_SECONDS) < 0.001
    assert 0.29 < np.abs(samples).max() / 32767 < 0.31


def test_streamed_wav_reads_with_soundfile_despite_unknown_sizes() -> None:
    _, data = encode_stream(SpeechFormat.WAV)
    assert data[:44] == wav_header(OUTPUT_SAMPLE_RATE)
    assert data[4:8] == data[40:44] == b"\xff\xff\xff\xff"
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert rate == OUTPUT_SAMPLE_RATE
    assert abs(len(samples) / rate - EXPECTED_SECONDS) < 0.001


def test_streamed_flac_has_unknown_length_but_valid_header() -> None:
    _, data = encode_stream(SpeechFormat.FLAC)
    info = sf.SoundFile(io.BytesIO(data))
    assert (info.samplerate, info.channels) == (OUTPUT_SAMPLE_RATE, 1)
    # STREAMINFO is written before the length is known, so total samples is 0
    # ("unknown"). FFmpeg reads such files fully; libsndfile reports an endless file
    # and fails its final seek, so only a bounded read works there.
    assert len(info.read(OUTPUT_SAMPLE_RATE, dtype="float32")) == OUTPUT_SAMPLE_RATE


def test_resampler_has_no_clicks_at_chunk_joins() -> None:
    resampler = Resampler(SOURCE_RATE)
    pieces = [resampler.process(chunk) for chunk in tone_chunks()]
    joined = np.concatenate([*pieces, resampler.flush()])
    whole_tone = np.sin(2 * np.pi * 440 * np.arange(len(joined)) / OUTPUT_SAMPLE_RATE)
    # Away from the stream's two ends, the output is the tone itself: a discontinuity at
    # a join would show up as a sample far off the sine.
    edge = 200
    error = np.abs(joined[edge:-edge] - 0.3 * whole_tone[edge:-edge])
    assert error.max() < 0.01
    assert abs(len(joined) / OUTPUT_SAMPLE_RATE - EXPECTED_SECONDS) < 0.002


def test_resampler_passes_audio_through_at_the_output_rate() -> None:
    chunk = tone_chunks(OUTPUT_SAMPLE_RATE)[0]
    resampler = Resampler(OUTPUT_SAMPLE_RATE)
    assert np.array_equal(resampler.process(chunk), chunk)
    assert resampler.flush().size == 0


@pytest.mark.parametrize("factor", [0.5, 2.0, 2.5])
def test_time_stretch_changes_duration_not_pitch(factor: float) -> None:
    tone = np.concatenate(tone_chunks(OUTPUT_SAMPLE_RATE))
    stretched = time_stretch(tone, OUTPUT_SAMPLE_RATE, factor)
    assert abs(len(stretched) / len(tone) - 1 / factor) < 0.02
    spectrum = np.abs(np.fft.rfft(stretched))
    peak_hz = np.argmax(spectrum) * OUTPUT_SAMPLE_RATE / len(stretched)
    assert abs(peak_hz - 440) < 5


def test_empty_stream_is_still_a_valid_file() -> None:
    for fmt in (f for f in SpeechFormat if f is not SpeechFormat.PCM):
        encoder = make_encoder(fmt)
        data = encoder.encode(np.zeros(0, dtype=np.float32)) + encoder.finish()
        assert data, fmt
        with av.open(io.BytesIO(data)) as container:
            assert container.streams.audio[0].codec_context.sample_rate in (24000, 48000)


def test_content_types_cover_every_format() -> None:
    assert set(CONTENT_TYPES) == set(SpeechFormat)
    assert CONTENT_TYPES[SpeechFormat.MP3] == "audio/mpeg"
    assert CONTENT_TYPES[SpeechFormat.PCM] == "audio/pcm"
