"""Fast tests of the realtime building blocks: G.711, resampling, VAD turns, session config."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from starlette.datastructures import Headers

from neuraldrive_audio.api.realtime.auth import key_matches, offered_credentials
from neuraldrive_audio.api.realtime.input_buffer import InputAudioBuffer
from neuraldrive_audio.api.realtime.protocol import ClientEventError, decode_audio
from neuraldrive_audio.api.realtime.registry import RealtimeRegistry, SessionLimitError
from neuraldrive_audio.api.realtime.session_config import (
    AudioFormat,
    SessionConfig,
    apply_beta,
    apply_ga,
)
from neuraldrive_audio.api.realtime.session_render import render_beta
from neuraldrive_audio.api.realtime.turn_detection import TurnDetectionDriver
from neuraldrive_audio.media import g711
from neuraldrive_audio.media.pcm import StreamingResampler
from neuraldrive_audio.media.vad import TurnEventKind, TurnSettings
from tests.realtime_audio import sentence_pcm, silence, spoken_turns
from tests.speech_clips import SENTENCES

# -- G.711 ------------------------------------------------------------------------------


def test_g711_known_codes() -> None:
    # Mu-law 0xFF and A-law 0xD5 are the codes for (near) silence; 0x00 / 0x2A the extremes.
    assert g711.decode_mulaw(b"\xff\x7f\x00\x80").tolist() == [0, 0, -32124, 32124]
    assert g711.decode_alaw(b"\xd5\x55\x2a\xaa").tolist() == [8, -8, -32256, 32256]


@pytest.mark.parametrize("codec", ["mulaw", "alaw"])
def test_g711_round_trip_is_within_quantisation_error(codec: str) -> None:
    encode = getattr(g711, f"encode_{codec}")
    decode = getattr(g711, f"decode_{codec}")
    speech = sentence_pcm(SENTENCES[0], rate=8000)
    back = decode(encode(speech)).astype(np.float64)
    # As floats: Piper speaks at full scale, and abs(-32768) overflows int16.
    original = speech.astype(np.float64)
    error = back - original
    # Logarithmic quantisation: error grows with the amplitude, ~3 % of it at most.
    assert np.all(np.abs(error) <= np.abs(original) * 0.07 + 16)
    snr = 10 * np.log10(np.sum(original**2) / np.sum(error**2))
    assert snr > 30
    # Every code decodes to a value that encodes back (mu-law's "negative zero" 0x7F aside).
    codes = bytes(c for c in range(256) if not (codec == "mulaw" and c == 0x7F))
    assert encode(decode(codes)) == codes


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_g711_matches_the_standard_library_codec(codec: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # gone in Python 3.13
    samples = np.arange(-32768, 32768, dtype=np.int16)
    ours = g711.encode_mulaw(samples) if codec == "ulaw" else g711.encode_alaw(samples)
    assert ours == getattr(audioop, f"lin2{codec}")(samples.tobytes(), 2)
    codes = bytes(range(256))
    decoded = g711.decode_mulaw(codes) if codec == "ulaw" else g711.decode_alaw(codes)
    assert decoded.tobytes() == getattr(audioop, f"{codec}2lin")(codes, 2)


# -- resampling -------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), [(24000, 16000), (8000, 16000)])
def test_resampler_in_chunks_equals_whole_and_keeps_a_tone(source: int, target: int) -> None:
    t = np.arange(source) / source
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    whole = StreamingResampler(source, target).process(tone)
    chunked = StreamingResampler(source, target)
    pieces = np.concatenate([chunked.process(tone[i : i + 777]) for i in range(0, source, 777)])
    assert len(whole) == len(pieces) == target
    assert np.allclose(whole, pieces, atol=1e-6)
    n = np.arange(target) - StreamingResampler(source, target).delay_samples
    expected = 0.5 * np.sin(2 * np.pi * 440 * n / target)
    assert np.abs(whole[100:-100] - expected[100:-100]).max() < 1e-3


# -- VAD turns --------------------------------------------------------------------------


def _run_driver(audio: np.ndarray, rate: int, settings: TurnSettings) -> list[tuple[str, int]]:
    driver = TurnDetectionDriver(rate, settings, offset_ms=0)
    step = rate // 10
    decisions = []
    for start in range(0, len(audio), step):
        decisions += driver.process(audio[start : start + step])
    return [(d.kind.value, d.audio_ms) for d in decisions]


def test_vad_finds_one_turn_per_spoken_sentence() -> None:
    sentences = SENTENCES[:3]
    audio = spoken_turns(sentences, gap_ms=1200)
    decisions = _run_driver(audio, 24000, TurnSettings(0.5, 300, 500))
    kinds = [kind for kind, _ in decisions]
    assert kinds == ["speech_started", "speech_stopped"] * 3
    position = 500  # leading silence
    for index, sentence in enumerate(sentences):
        clip = sentence_pcm(sentence)
        loud = np.nonzero(np.abs(clip.astype(np.int32)) > np.abs(clip).max() * 0.05)[0]
        voice_start = position + loud[0] * 1000 // 24000
        voice_end = position + loud[-1] * 1000 // 24000
        start, stop = decisions[2 * index][1], decisions[2 * index + 1][1]
        # The turn starts about the prefix padding before the voice does, and stops one
        # silence duration after it ends (give or take the fading tail of the last word,
        # which Silero may or may not call speech, and a few frames of release).
        assert voice_start - 300 - 100 <= start <= voice_start + 100
        assert voice_end + 500 - 250 <= stop <= voice_end + 500 + 300
        position += len(clip) * 1000 // 24000 + 1200


def test_vad_short_pause_does_not_split_a_turn_but_a_long_one_does() -> None:
    first, second = sentence_pcm(SENTENCES[0]), sentence_pcm(SENTENCES[1])
    audio = np.concatenate([silence(300), first, silence(250), second, silence(1000)])
    decisions = _run_driver(audio, 24000, TurnSettings(0.5, 300, 600))
    assert [k for k, _ in decisions] == ["speech_started", "speech_stopped"]
    decisions = _run_driver(audio, 24000, TurnSettings(0.5, 300, 100))
    assert [k for k, _ in decisions].count("speech_started") >= 2


def test_vad_ignores_silence_and_steady_noise() -> None:
    rng = np.random.default_rng(1)
    noise = (rng.normal(0, 300, 24000 * 3)).astype(np.int16)  # hiss around -40 dBFS
    assert _run_driver(np.concatenate([silence(2000), noise]), 24000, TurnSettings()) == []


def test_vad_works_on_g711_audio_at_8_khz() -> None:
    speech = g711.decode_mulaw(g711.encode_mulaw(spoken_turns(SENTENCES[:2], rate=8000)))
    kinds = [k for k, _ in _run_driver(speech, 8000, TurnSettings())]
    assert kinds == [TurnEventKind.SPEECH_STARTED.value, TurnEventKind.SPEECH_STOPPED.value] * 2


# -- buffer, config, auth, limits -------------------------------------------------------


def test_input_buffer_keeps_the_timeline_across_takes() -> None:
    buffer = InputAudioBuffer(24000)
    buffer.append(np.arange(24000, dtype=np.int16))  # 1 s
    buffer.drop_before(250)
    assert buffer.start_sample == 6000 and buffer.length_ms == 750
    taken = buffer.take(500)
    assert taken[0] == 6000 and len(taken) == 6000
    assert buffer.end_ms == 1000 and buffer.length_ms == 500
    buffer.append(np.zeros(2400, dtype=np.int16))
    assert len(buffer.take()) == 12000 + 2400 and buffer.length_samples == 0


def test_ga_session_update_is_partial() -> None:
    config = apply_ga(SessionConfig(), {
        "type": "transcription",
        "audio": {"input": {"format": {"type": "audio/pcmu"},
                            "transcription": {"model": "whisper-1", "language": "english"},
                            "turn_detection": {"type": "semantic_vad", "eagerness": "high"}}},
    })  # fmt: skip
    assert config.format is AudioFormat.PCMU and config.format.sample_rate == 8000
    assert config.turn_detection is not None
    assert config.turn_detection.vad_settings().silence_duration_ms == 300
    again = apply_ga(config, {"audio": {"input": {"turn_detection": None}}})
    assert again.turn_detection is None and again.format is AudioFormat.PCMU
    assert again.transcription.model == "whisper-1"


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
         "session.audio.input.format.rate"),
        ({"audio": {"input": {"turn_detection": {"threshold": 2}}}},
         "session.audio.input.turn_detection.threshold"),
        ({"audio": {"input": {"transcription": {"language": "klingon"}}}},
         "session.audio.input.transcription.language"),
        ({"type": "translation"}, "session.type"),
    ],
)  # fmt: skip
def test_bad_session_updates_name_the_field(session: dict[str, object], param: str) -> None:
    with pytest.raises(ClientEventError) as error:
        apply_ga(SessionConfig(), session)
    assert error.value.param == param


def test_beta_session_update_round_trips() -> None:
    config = apply_beta(SessionConfig(), {
        "input_audio_format": "g711_alaw",
        "input_audio_transcription": {"model": "whisper-1", "prompt": "names: Zoë"},
        "turn_detection": None,
    })  # fmt: skip
    rendered = render_beta(config, "sess_1", "whisper-1")
    assert rendered["input_audio_format"] == "g711_alaw"
    assert rendered["turn_detection"] is None
    assert rendered["input_audio_transcription"]["prompt"] == "names: Zoë"
    with pytest.raises(ClientEventError):
        apply_beta(SessionConfig(), {"input_audio_format": "mp3"})


def test_bad_base64_is_a_client_error() -> None:
    assert decode_audio("AAEC") == b"\x00\x01\x02"
    for bad in ("@@@", "AAE", 42):
        with pytest.raises(ClientEventError):
            decode_audio(bad)


def test_credentials_from_header_or_subprotocol() -> None:
    header = offered_credentials(Headers({"authorization": "Bearer k1"}))
    assert header.key == "k1" and header.subprotocol is None
    browser = offered_credentials(
        Headers({"sec-websocket-protocol": "realtime, openai-insecure-api-key.k2"})
    )
    assert browser.key == "k2" and browser.subprotocol == "realtime"
    assert offered_credentials(Headers({})).key is None
    assert key_matches("k2", "k2") and not key_matches("k3", "k2") and not key_matches(None, "k")


def test_session_limits_per_key_and_in_total() -> None:
    registry = RealtimeRegistry(max_sessions=3, max_sessions_per_key=2)
    registry.open_session("a")
    registry.open_session("a")
    with pytest.raises(SessionLimitError, match="per key"):
        registry.open_session("a")
    registry.open_session("b")
    with pytest.raises(SessionLimitError, match="server's limit"):
        registry.open_session("c")
    registry.close_session("a")
    registry.open_session("c")
    registry.turn_completed(0.25)
    figures = registry.figures()
    assert figures["sessions_open"] == 3 and figures["turn_delay_ms"]["p50"] == 250.0
