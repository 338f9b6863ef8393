"""Debian's chromium driven by Playwright, with a fake microphone playing a WAV: the console's
tests and bench/bench_console.py use it."""

from __future__ import annotations

import shutil
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from playwright.sync_api import Browser, Page, Playwright

from tests.realtime_audio import sentence_pcm, silence

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FAKE_MIC_RATE = 48_000


def write_fake_mic(path: Path, parts: list[str | int]) -> Path:
    """A 48 kHz WAV for chromium's fake microphone: sentences (Piper) and pauses (ms)."""
    pieces: list[npt.NDArray[np.int16]] = [
        silence(part, FAKE_MIC_RATE) if isinstance(part, int) else sentence_pcm(part, FAKE_MIC_RATE)
        for part in parts
    ]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(FAKE_MIC_RATE)
        out.writeframes(np.concatenate(pieces).tobytes())
    return path


@contextmanager
def chromium(
    playwright: Playwright, fake_mic: Path | None = None, *extra_args: str, loop: bool = False
) -> Iterator[Browser]:
    """Headless chromium; with ``fake_mic`` its microphone plays that WAV once (then silence),
    or over and over with ``loop``.
    (Playwright's sync API allows one ``sync_playwright()`` at a time: pass it in.)"""
    args = ["--autoplay-policy=no-user-gesture-required", *extra_args]
    if fake_mic is not None:
        args += [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={fake_mic}{'' if loop else '%noloop'}",
        ]
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
    try:
        yield browser
    finally:
        browser.close()


def open_console(browser: Browser, base_url: str, key: str | None, **context: Any) -> Page:
    """A new page on the console; with ``key``, the key typed in and accepted."""
    page = browser.new_context(**context).new_page()
    page.goto(f"{base_url}/console/")
    if key is not None:
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Use key").click()
        page.locator("#key-status.ok").wait_for(timeout=30_000)
    return page


def talk_figures(page: Page) -> dict[str, Any]:
    """What the page measured in Talk (latencies, barge-ins, frames sent)."""
    figures: dict[str, Any] = page.evaluate("() => window.consoleFigures.talk")
    return figures
