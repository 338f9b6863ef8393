"""Speak a WAV file to the voice agent and save its spoken answer.

    python examples/voice_agent_wav.py question.wav answer.wav \
        --base-url http://127.0.0.1:8001/v1 --api-key "$NEURALDRIVE_API_KEY"

The question is streamed into a Realtime conversation session at the pace a microphone
would send it, followed by a second of silence; the server's VAD ends the turn, the
LLM answers, and the answer's audio (pcm16, 24 kHz) is written to ``answer.wav``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import wave

import numpy as np
from openai import AsyncOpenAI

RATE = 24_000
CHUNK = RATE // 10  # 100 ms


def read_wav(path: str) -> np.ndarray:
    """A 16-bit WAV as mono samples at 24 kHz."""
    with wave.open(path) as wav:
        if wav.getsampwidth() != 2:
            raise SystemExit(f"{path}: 16-bit PCM WAV expected")
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
        samples = frames.reshape(-1, wav.getnchannels()).mean(axis=1)
        rate = wav.getframerate()
    times = np.arange(round(len(samples) * RATE / rate)) * rate / RATE
    return np.interp(times, np.arange(len(samples)), samples).astype("<i2")


async def ask(question: str, answer: str, base_url: str, api_key: str, voice: str) -> None:
    audio = np.concatenate([read_wav(question), np.zeros(RATE, "<i2")]).tobytes()
    client = AsyncOpenAI(base_url=base_url, api_key=api_key)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": "You are a helpful assistant. Answer briefly.",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad"}},
                    "output": {"voice": voice},
                },
            }
        )

        async def speak() -> None:
            for i in range(0, len(audio), 2 * CHUNK):
                await conn.input_audio_buffer.append(
                    audio=base64.b64encode(audio[i : i + 2 * CHUNK]).decode()
                )
                await asyncio.sleep(0.1)  # real time

        sender = asyncio.create_task(speak())
        reply = bytearray()
        async for event in conn:
            if event.type == "conversation.item.input_audio_transcription.completed":
                print("you:", event.transcript)
            elif event.type == "response.output_audio.delta":
                reply += base64.b64decode(event.delta)
            elif event.type == "response.output_audio_transcript.done":
                print("agent:", event.transcript)
            elif event.type == "error":
                print("error:", event.error.message)
            elif event.type == "response.done":
                break
        await sender
    with wave.open(answer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(bytes(reply))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", help="a 16-bit WAV file with the spoken question")
    parser.add_argument("answer", help="where to write the spoken answer (WAV)")
    parser.add_argument("--base-url", default="http://127.0.0.1:8001/v1")
    parser.add_argument("--api-key", default=os.environ.get("NEURALDRIVE_API_KEY", ""))
    parser.add_argument("--voice", default="alloy")
    args = parser.parse_args()
    asyncio.run(ask(args.question, args.answer, args.base_url, args.api_key, args.voice))


if __name__ == "__main__":
    main()
