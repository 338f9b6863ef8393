"""POST /v1/audio/chat/completions through the official SDK: a spoken question goes to the
LLM stand-in as text, and its answer comes back spoken (real API, Redis, worker, models)."""

from __future__ import annotations

import base64
import io
import wave
from typing import Any

import openai
import pytest

from tests.harness import API_KEY, Service
from tests.llm_stand_in import LLMStandIn
from tests.speech_clips import make_clip, word_error_rate

pytestmark = pytest.mark.service

QUESTION = "When does the next train to the city leave?"
SYSTEM = {"role": "system", "content": "You are a helpful station assistant. Answer briefly."}


@pytest.fixture(scope="module")
def spoken_question() -> str:
    """The question as base64 WAV, spoken by the Piper demo voice."""
    return base64.b64encode(make_clip(QUESTION)).decode()


def _client(agent: Service, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{agent.base_url}/v1/audio",
        api_key=API_KEY,
        _strict_response_validation=True,
        **kwargs,
    )


def _messages(spoken_question: str) -> list[Any]:
    audio_part = {"type": "input_audio", "input_audio": {"data": spoken_question, "format": "wav"}}
    return [SYSTEM, {"role": "user", "content": [audio_part]}]


def _wav(pcm: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(24_000)
        wav.writeframes(pcm)
    return buffer.getvalue()


def _transcribe(service: Service, audio: bytes) -> str:
    client = service.client()
    return client.audio.transcriptions.create(model="whisper-1", file=("reply.wav", audio)).text


def _heard_question(llm: LLMStandIn) -> None:
    request = llm.requests[-1]
    assert request["model"] == "llama3.2"
    assert request["messages"][0] == SYSTEM
    assert word_error_rate(QUESTION, llm.user_texts()[-1]) <= 0.15, llm.user_texts()


def test_spoken_question_gets_a_spoken_answer(
    agent: Service, service: Service, llm: LLMStandIn, spoken_question: str
) -> None:
    completion = _client(agent).chat.completions.create(
        model="gpt-4o-audio-preview",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        messages=_messages(spoken_question),
    )
    _heard_question(llm)
    message = completion.choices[0].message
    assert message.content is None
    assert message.audio is not None
    assert message.audio.transcript == llm.reply
    assert message.audio.expires_at > completion.created
    wav = base64.b64decode(message.audio.data)
    assert wav[:4] == b"RIFF"
    assert word_error_rate(llm.reply, _transcribe(service, wav)) <= 0.15
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_streamed_answer_speaks_while_the_llm_writes(
    agent: Service, service: Service, llm: LLMStandIn, spoken_question: str
) -> None:
    llm.token_delay_s = 0.1  # ~4.5 s of writing: the first clause must be spoken before
    stream = _client(agent).chat.completions.create(
        model="gpt-4o-audio-preview",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
        messages=_messages(spoken_question),
        stream=True,
        stream_options={"include_usage": True},
    )
    kinds: list[str] = []
    transcript, pcm = "", b""
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            audio = choice.delta.audio
            if audio is not None and audio.transcript:
                transcript += audio.transcript
                kinds.append("text")
            if audio is not None and audio.data:
                pcm += base64.b64decode(audio.data)
                kinds.append("audio")
    _heard_question(llm)
    assert transcript == llm.reply
    assert "audio" in kinds and kinds.index("audio") < len(kinds) - 1 - kinds[::-1].index("text")
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.audio_tokens
    assert word_error_rate(llm.reply, _transcribe(service, _wav(pcm))) <= 0.15


def test_client_leaving_stops_the_llm_and_the_speech(agent: Service, llm: LLMStandIn) -> None:
    llm.token_delay_s = 0.1
    before = llm.streams_closed_early
    stream = _client(agent).chat.completions.create(
        model="gpt-4o-audio-preview",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
        messages=[{"role": "user", "content": "Tell me about the trains."}],
        stream=True,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.audio and chunk.choices[0].delta.audio.data:
            break
    stream.close()
    assert llm.wait_closed_early(before + 1, timeout_s=5)


@pytest.mark.parametrize("stream", [False, True])
def test_text_only_is_the_llm_answer(agent: Service, llm: LLMStandIn, stream: bool) -> None:
    client = _client(agent)
    messages: list[Any] = [{"role": "user", "content": "When is the next train?"}]
    if stream:
        chunks = client.chat.completions.create(
            model="llama3.2", messages=messages, temperature=0.3, stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        reply = client.chat.completions.create(model="llama3.2", messages=messages, seed=4)
        text = reply.choices[0].message.content or ""
        assert reply.system_fingerprint == "fp_ollama"  # the LLM's own response
    assert text == llm.reply
    sent = llm.requests[-1]
    assert sent["messages"] == messages
    assert sent.get("temperature" if stream else "seed") == (0.3 if stream else 4)


@pytest.mark.parametrize("stream", [False, True])
def test_llm_down_is_503(agent: Service, llm: LLMStandIn, stream: bool) -> None:
    llm.mode = "fail"
    with pytest.raises(openai.InternalServerError) as caught:
        _client(agent, max_retries=0).chat.completions.create(
            model="gpt-4o-audio-preview",
            modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "pcm16"},
            messages=[{"role": "user", "content": "Hello?"}],
            stream=stream,
        )
    response = caught.value.response
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["error"]["code"] == "backend_unavailable"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"modalities": ["text", "audio"]}, "audio"),
        (
            {
                "modalities": ["text", "audio"],
                "audio": {"voice": "alloy", "format": "wav"},
                "stream": True,
            },
            "audio.format",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": "%%", "format": "wav"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].input_audio.data",
        ),
    ],
)
def test_bad_requests_are_400(
    agent: Service, llm: LLMStandIn, body: dict[str, Any], param: str
) -> None:
    request = {"model": "gpt-4o-audio-preview", "messages": [{"role": "user", "content": "Hi"}]}
    with agent.http() as http:
        response = http.post("/v1/audio/chat/completions", json={**request, **body})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert not llm.requests
