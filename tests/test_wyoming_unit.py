"""The Wyoming front door's pure parts (fast): language tags as Home Assistant matches them,
describe from a catalog, markdown stripping, PCM conversion, framing limits, allow lists."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from wyoming.info import AsrModel, AsrProgram, Attribution, Info, TtsProgram, TtsVoice

from neuraldrive_audio.config import Settings
from neuraldrive_audio.media.markdown import strip_markdown
from neuraldrive_audio.media.pcm_input import PcmConverter, PcmFormat, PcmFormatError
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.demo_models import register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from neuraldrive_audio.wyoming import programs
from neuraldrive_audio.wyoming.access import is_allowed, parse_networks
from neuraldrive_audio.wyoming.framing import ProtocolError, read_event
from tests import ha_language

# (Home Assistant language, country) of stock English installs.
ENGLISH_HOMES = [("en", "US"), ("en", None), ("en", "GB"), ("en-GB", "GB"), ("en-US", "US")]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> ModelCatalog:
    store = ModelStore(tmp_path_factory.mktemp("models"))
    register_demo_models(store)
    return ModelCatalog(store)


@pytest.fixture(scope="module")
def info(catalog: ModelCatalog) -> Info:
    return programs.describe(catalog, Settings())


def _stock_pipeline(info: Info, language: str, country: str | None) -> tuple[str, list[str]]:
    """What a new Home Assistant pipeline picks: its STT language (checked as HA's
    ``check_metadata`` does) and the voices ``tts/engine/voices`` lists for its TTS
    language. Every order of the TTS languages is tried: HA builds that list from a set."""
    stt_languages = ha_language.stt_supported_languages(info)
    stt_matches = ha_language.matches(language, stt_languages, country)
    assert stt_matches, f"no STT language for {language}/{country}"
    assert stt_matches[0] in stt_languages  # check_metadata: plain membership
    by_language = ha_language.tts_voices_by_language(info)
    seen: list[str] | None = None
    for order in itertools.permutations(by_language):
        tts_language = ha_language.matches(language, list(order), country)[0]
        voices = sorted(by_language[tts_language])
        assert seen is None or voices == seen, "the voices depend on set order"
        seen = voices
    assert seen is not None
    return stt_matches[0], seen


@pytest.mark.parametrize(("language", "country"), ENGLISH_HOMES)
def test_a_stock_english_pipeline_finds_our_stt_and_every_english_voice(
    info: Info, catalog: ModelCatalog, language: str, country: str | None
) -> None:
    stt_language, voices = _stock_pipeline(info, language, country)
    assert stt_language == "en"
    every_voice = sorted(v for m in programs.tts_models(catalog, Settings()) for v in m.voices)
    assert voices == every_voice
    assert "en_US-joe-medium" in voices and "jf_alpha" in voices


def test_the_matcher_catches_regional_tags_hiding_voices() -> None:
    """Control: voices declared as ``en_US`` and ``en-us`` (what the manifests say) split
    into two lists, and a pipeline sees only one of them."""
    attribution = Attribution("x", "x")

    def voice(name: str, tag: str) -> TtsVoice:
        return TtsVoice(name, attribution, True, None, None, languages=[tag])

    tts = TtsProgram(
        "t", attribution, True, None, None, voices=[voice("a", "en_US"), voice("b", "en-us")]
    )
    model = AsrModel("m", attribution, True, None, None, languages=["en"])
    asr = AsrProgram("s", attribution, True, None, None, models=[model])
    split = Info(asr=[asr], tts=[tts])
    by_language = ha_language.tts_voices_by_language(split)
    tts_language = ha_language.matches("en", list(by_language), "US")[0]
    assert len(by_language[tts_language]) == 1


def test_home_assistant_matcher_reproduces_its_own_tests() -> None:
    """Cases from Home Assistant's tests/util/test_language.py."""
    assert ha_language.matches("en-GB", ["fr-Fr", "en-US", "en-GB"]) == ["en-GB", "en-US"]
    assert ha_language.matches("en-US", ["de-DE", "fr-FR", "zh"]) == []
    assert ha_language.matches("en", ["en-US", "en-GB"], country="GB")[0] == "en-GB"
    assert ha_language.matches("en", ["en-GB", "en-US"])[0] == "en-US"


def test_describe_puts_the_default_asr_model_first(catalog: ModelCatalog) -> None:
    info = programs.describe(catalog, Settings())
    assert info.asr[0].models[0].name == Settings().default_asr_model
    assert info.asr[0].supports_transcript_streaming
    assert info.tts[0].supports_synthesize_streaming
    assert json.loads(json.dumps(info.event().data))  # serialisable as sent


def test_voice_and_model_lookup(catalog: ModelCatalog) -> None:
    settings = Settings()
    assert programs.pick_voice(catalog, settings, "jf_alpha", None, None).model_id == "kokoro-82m"
    assert programs.pick_voice(catalog, settings, None, None, "en_US").languages == ["en"]
    by_model = programs.pick_voice(catalog, settings, "kokoro-82m", "jm_kumo", None)
    assert by_model.voice == "jm_kumo"
    with pytest.raises(programs.NotFound) as caught:
        programs.pick_voice(catalog, settings, "nope", None, None)
    assert caught.value.code == "voice-not-found"
    with pytest.raises(programs.NotFound):
        programs.pick_voice(catalog, settings, None, None, "de")
    model = programs.pick_asr_model(catalog, settings, None, "en-US")
    assert model.id == settings.default_asr_model
    with pytest.raises(programs.NotFound) as caught:
        programs.pick_asr_model(catalog, settings, None, "de")
    assert caught.value.code == "language-not-supported"


@pytest.mark.parametrize(
    ("markdown", "spoken"),
    [
        ("**Bold** and *italic* and __under__.", "Bold and italic and under."),
        ("# Weather today\n", "Weather today"),
        ("- first item\n* second item\n1. third", "first item\nsecond item\nthird"),
        ("Use `ls -la` here.", "Use ls -la here."),
        ("See [the docs](http://x.y) now.", "See the docs now."),
        ("> quoted\n---\n```python\nprint(1)\n```", "quoted\nprint(1)"),
        ("It is 5 - 3 = 2, a*b is fine.", "It is 5 - 3 = 2, ab is fine."),
    ],
)
def test_strip_markdown(markdown: str, spoken: str) -> None:
    assert strip_markdown(markdown) == spoken


def _tone(rate: int, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize(("rate", "width", "channels"), [(16_000, 2, 1), (48_000, 2, 2),
                                                         (44_100, 4, 1), (22_050, 3, 2),
                                                         (8_000, 1, 1)])  # fmt: skip
def test_pcm_converter_any_layout_to_16k_mono(rate: int, width: int, channels: int) -> None:
    tone = _tone(rate)
    scale = {1: 127, 2: 32767, 3: 8388607, 4: 2147483647}[width]
    ints = np.round(tone * scale).astype(np.int64)
    frames = np.repeat(ints, channels)
    if width == 1:
        raw = (frames + 128).astype(np.uint8).tobytes()
    elif width == 3:
        raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in frames)
    else:
        raw = frames.astype(f"<i{width}").tobytes()
    converter = PcmConverter(PcmFormat(rate, width, channels))
    # Chunks that end mid-frame, as a network delivers them.
    out = b"".join(converter.convert(raw[i : i + 999]) for i in range(0, len(raw), 999))
    out += converter.finish()
    samples = np.frombuffer(out, "<i2").astype(np.float32) / 32768
    assert abs(len(samples) - 8000) <= 20
    spectrum = np.abs(np.fft.rfft(samples[1000:7000]))
    assert abs(np.argmax(spectrum) * 16_000 / 6000 - 440) < 5
    assert 0.3 < np.abs(samples[1000:7000]).max() < 0.6


def test_pcm_format_refuses_nonsense() -> None:
    for args in [(0, 2, 1), (16_000, 5, 1), (16_000, 2, 0), (10**9, 2, 1)]:
        with pytest.raises(PcmFormatError):
            PcmFormat(*args)


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=64 * 1024)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_framing_reads_data_and_payload() -> None:
    data = json.dumps({"rate": 16000}).encode()
    header = json.dumps({"type": "audio-chunk", "data_length": len(data), "payload_length": 4})
    event = await read_event(_reader(header.encode() + b"\n" + data + b"abcd"), 1024)
    assert event is not None and event.data == {"rate": 16000} and event.payload == b"abcd"
    assert await read_event(_reader(b""), 1024) is None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\x00\xff garbage\n", "malformed-event"),
        (b'{"type": "audio-chunk", "payload_length": 1000000000}\n', "event-too-large"),
        (b'{"type": "x", "data_length": 1000000000}\n', "event-too-large"),
        (b'{"type": "x", "data_length": -1}\n', "malformed-event"),
        (b'{"type": "x", "payload_length": "9"}\n', "malformed-event"),
        (b'{"no": "type"}\n', "malformed-event"),
        (b'{"type": "x", "data_length": 5}\n[1,2]', "malformed-event"),
        (b'{"type": "x", "payload_length": 10}\nabc', "malformed-event"),
        (b"x" * 70_000, "malformed-event"),
    ],
)
async def test_framing_refuses_bad_headers_before_reading_bodies(raw: bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        await read_event(_reader(raw), 1024 * 1024)
    assert caught.value.code == code


def test_allow_networks() -> None:
    loopback = parse_networks("")
    assert is_allowed("127.0.0.1", loopback) and is_allowed("::1", loopback)
    assert is_allowed("::ffff:127.0.0.1", loopback)
    assert not is_allowed("192.168.1.5", loopback)
    lan = parse_networks("192.168.1.0/24, 10.0.0.7")
    assert is_allowed("192.168.1.5", lan) and is_allowed("10.0.0.7", lan)
    assert not is_allowed("127.0.0.1", lan) and not is_allowed("10.0.0.8", lan)
    assert not is_allowed("not an address", lan)
    with pytest.raises(ValueError):
        parse_networks("300.1.1.1/8")


def test_models_dir_is_not_touched(tmp_path: Path) -> None:
    """Describing an empty store answers with no programs rather than failing."""
    info = programs.describe(ModelCatalog(ModelStore(tmp_path)), Settings())
    assert info.asr == [] and info.tts == []


FRONT_DOORS = {
    "wyoming": {
        "describe": {"ok": 3},
        "transcribe": {"ok": 5, "queue-full": 1},
        "connection": {"refused": 7},
    }
}


def test_status_and_tui_count_wyoming_requests() -> None:
    from neuraldrive_audio.cli.client import Status

    status = Status.parse({"front_doors": FRONT_DOORS})
    assert (status.wyoming_requests, status.wyoming_failed) == (9, 1)
    assert Status.parse({}).wyoming_requests is None


def test_metrics_expose_wyoming_requests() -> None:
    from neuraldrive_audio.api.metrics import _front_doors

    (family,) = list(_front_doors(FRONT_DOORS))
    samples = {(s.labels["kind"], s.labels["outcome"]): s.value for s in family.samples}
    assert samples[("transcribe", "queue-full")] == 1 and samples[("connection", "refused")] == 7
