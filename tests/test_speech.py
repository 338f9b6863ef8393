"""/v1/audio/speech and /v1/audio/voices through the OpenAI SDK, real engines and Redis."""

from __future__ import annotations

import base64
import io
import json
import time
import wave

import av
import openai
import pytest
import soundfile

from tests.harness import Service
from tests.speech_clips import word_error_rate

pytestmark = pytest.mark.service

TEXT = "The library opens at nine in the morning. Please return your books on time."
FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]
FORMAT_TEXT = "The library opens at nine in the morning."
"""One sentence (~2.5 s of speech) for the container checks: the format is the point there,
not the length, and Kokoro's time grows with the audio it makes."""
KOKORO = "kokoro-82m"
PIPER = "piper/en_US-joe-medium"


def _decode(data: bytes) -> tuple[int, float]:
    """(sample rate of the stream header, duration in seconds) via PyAV."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        rate = stream.codec_context.sample_rate
    # Opus always decodes at 48 kHz whatever the header says.
    return rate, samples / rate


def test_wav_without_stream_format_has_true_sizes(service: Service) -> None:
    """Python's wave believes the header: it must give the real length, not 24 hours."""
    response = service.client().audio.speech.create(
        model=PIPER, voice="alloy", input=TEXT, response_format="wav"
    )
    data = response.read()
    assert int(response.response.headers["content-length"]) == len(data)
    with wave.open(io.BytesIO(data)) as wav:
        frames, rate, width = wav.getnframes(), wav.getframerate(), wav.getsampwidth()
    assert 44 + frames * width == len(data)
    assert 2.5 < frames / rate < 12


def test_wav_streamed_on_request_keeps_open_ended_header(service: Service) -> None:
    with service.http() as http:
        response = http.post(
            "/v1/audio/speech",
            json={"model": PIPER, "voice": "alloy", "input": TEXT,
                  "response_format": "wav", "stream_format": "audio"},
        )  # fmt: skip
    assert response.status_code == 200 and "content-length" not in response.headers
    assert response.content[4:8] == b"\xff\xff\xff\xff"
    assert response.content[40:44] == b"\xff\xff\xff\xff"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_valid_audio(service: Service, fmt: str) -> None:
    with service.client().audio.speech.with_streaming_response.create(
        model="tts-1",
        voice="alloy",
        input=FORMAT_TEXT,
        response_format=fmt,  # type: ignore[arg-type]
    ) as response:
        assert response.status_code == 200
        data = response.read()
    content_type = response.headers["content-type"]
    if fmt == "pcm":
        assert len(data) % 2 == 0
        seconds = len(data) / 2 / 24_000
    else:
        assert content_type.startswith("audio/")
        rate, seconds = _decode(data)
        assert rate in (24_000, 48_000) if fmt == "opus" else rate == 24_000
    if fmt == "wav":
        samples, rate = soundfile.read(io.BytesIO(data))
        assert rate == 24_000 and abs(len(samples) / rate - seconds) < 0.05
    # 8 words: a plausible length of speech
    assert 1.2 < seconds < 6, seconds


def _transcribe(service: Service, wav: bytes) -> str:
    return (
        service.client()
        .audio.transcriptions.create(model="whisper-1", file=("speech.wav", wav))
        .text
    )


@pytest.mark.parametrize(("model", "voice"), [(KOKORO, "jf_alpha"), (PIPER, "en_US-joe-medium")])
def test_round_trip_through_asr(service: Service, model: str, voice: str) -> None:
    # Written as people (and whisper) write it: the service must read "10" and "Dr." out
    # as "ten" and "Doctor" for whisper to hear the same words back.
    text = (
        "Our meeting starts at 10 o'clock. Bring the new budget figures. "
        "Dr. Jones will present the results of the survey."
    )
    wav = (
        service.client()
        .audio.speech.create(model=model, voice=voice, input=text, response_format="wav")
        .read()
    )
    assert word_error_rate(text, _transcribe(service, wav)) <= 0.10


def test_voice_mix_and_object_voice(service: Service) -> None:
    client = service.client()
    mixed = client.audio.speech.create(
        model=KOKORO, voice="jf_alpha(2)+jm_kumo(1)", input="Good evening.", response_format="wav"
    ).read()
    assert _decode(mixed)[1] > 0.5
    with service.http() as http:
        response = http.post(
            "/v1/audio/speech",
            json={"model": PIPER, "input": "Hi there.", "voice": {"id": "en_US-joe-medium"}},
        )
    assert response.status_code == 200 and response.headers["content-type"] == "audio/mpeg"


def test_sse_stream(service: Service) -> None:
    with service.http() as http, http.stream(
        "POST",
        "/v1/audio/speech",
        json={"model": PIPER, "voice": "alloy", "input": TEXT, "stream_format": "sse",
              "response_format": "pcm"},
    ) as response:  # fmt: skip
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [
            json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")
        ]
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert len(deltas) >= 2 and events[-1]["type"] == "speech.audio.done"
    pcm = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert 2.5 < len(pcm) / 2 / 24_000 < 12
    usage = events[-1]["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0


def test_first_bytes_arrive_before_synthesis_ends(service: Service) -> None:
    text = " ".join(
        ["The first sentence is short.", "Then a second one follows it closely.",
         "A third sentence adds some more words to speak.", "And the fourth one ends it all."]
    )  # fmt: skip
    started = time.perf_counter()
    arrivals = []
    with service.client().audio.speech.with_streaming_response.create(
        model=KOKORO, voice="alloy", input=text, response_format="mp3"
    ) as response:
        for chunk in response.iter_bytes():
            if chunk:
                arrivals.append(time.perf_counter() - started)
    first, total = arrivals[0], arrivals[-1]
    # Kokoro speaks ~1 s per sentence here: the first must not wait for all four.
    assert first < total * 0.6, (first, total)


def test_voices_list(service: Service) -> None:
    with service.http() as http:
        everything = http.get("/v1/audio/voices").json()
        kokoro = http.get("/v1/audio/voices", params={"model": "tts-1"}).json()
        unknown = http.get("/v1/audio/voices", params={"model": "nope"})
    models = {v["model"] for v in everything["data"]}
    assert models == {KOKORO, PIPER}
    assert {v["id"] for v in kokoro["data"]} >= {"jf_alpha", "jm_kumo"}
    # The demo's Kokoro voices are Japanese speakers (they read English text); Joe is en-us.
    assert {tuple(v["languages"]) for v in kokoro["data"]} == {("ja",)}
    assert [v["languages"] for v in everything["data"] if v["model"] == PIPER] == [["en-us"]]
    assert everything["aliases"][KOKORO]["alloy"] == "jf_alpha"
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"input": ""}, 400, "input"),
        ({"input": "   "}, 400, "input"),
        ({"input": "x" * 4097}, 400, "input"),
        ({"voice": "nobody"}, 400, "voice"),
        ({"voice": "jf_alpha(2)+nobody"}, 400, "voice"),
        ({"model": "tts-9"}, 404, "model"),
        ({"model": "whisper-1"}, 400, "model"),
        ({"speed": 0.1}, 400, "speed"),
        ({"speed": 4.5}, 400, "speed"),
        ({"response_format": "ogg"}, 400, "response_format"),
        ({"stream_format": "websocket"}, 400, "stream_format"),
    ],
)
def test_bad_input(service: Service, body: dict[str, object], status: int, param: str) -> None:
    request = {"model": "tts-1", "voice": "alloy", "input": "Hello.", **body}
    with service.http() as http:
        response = http.post("/v1/audio/speech", json=request)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


def test_non_json_body_is_400(service: Service) -> None:
    with service.http() as http:
        response = http.post(
            "/v1/audio/speech", content=b"not json", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_sdk_raises_for_unknown_voice(service: Service) -> None:
    with pytest.raises(openai.BadRequestError):
        service.client().audio.speech.create(model="tts-1", voice="nobody", input="Hi.")  # type: ignore[arg-type]


def test_disconnect_mid_stream_stops_synthesis(service: Service) -> None:
    text = " ".join(f"This is sentence number {n} of a long reading." for n in range(1, 30))
    with (
        service.http() as http,
        http.stream(
            "POST", "/v1/audio/speech", json={"model": KOKORO, "voice": "alloy", "input": text}
        ) as response,
    ):
        next(response.iter_bytes())
    # 29 Kokoro sentences take ~30 s; a stopped job frees the worker within a sentence or two.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        if not any(w["jobs_in_progress"] for w in service.status()["workers"]):
            return
        time.sleep(0.2)
    pytest.fail("synthesis kept running after the client disconnected")
