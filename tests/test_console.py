"""The voice console (``/console/``) in a real browser: Debian's chromium driven by Playwright,
with a fake microphone playing Piper-made speech, against the real API, Redis, a worker, the
demo models and the LLM stand-in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, WebSocket, expect, sync_playwright

from tests.console_browser import chromium, open_console, talk_figures, write_fake_mic
from tests.harness import API_KEY, Service
from tests.llm_stand_in import LLMStandIn
from tests.speech_clips import SENTENCES, make_clip, word_error_rate

pytestmark = pytest.mark.service

QUESTION = "When does the next train to the city leave?"
LONG_REPLY = " ".join(SENTENCES)  # about 25 s of speech
PAGE_BUDGET_BYTES = 200 * 1024


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver (one per module: its sync API allows one at a time)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium without a microphone (for the panels that need none)."""
    with chromium(playwright) as browser:
        yield browser


def _events(page: Page) -> list[dict[str, Any]]:
    """Every Realtime event the page receives, as it arrives."""
    import json

    events: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda frame: events.append(json.loads(frame)))

    page.on("websocket", watch)
    return events


def test_console_is_public_and_small(agent: Service, browser: Browser) -> None:
    assert httpx.get(f"{agent.base_url}/console/").status_code == 200
    assert httpx.get(f"{agent.base_url}/console", follow_redirects=True).status_code == 200
    page = browser.new_context().new_page()
    sizes: list[int] = []
    page.on("response", lambda response: sizes.append(len(response.body())))
    page.goto(f"{agent.base_url}/console/")
    page.wait_for_load_state("networkidle")
    assert sizes and sum(sizes) <= PAGE_BUDGET_BYTES, sizes
    page.context.close()


def test_every_control_is_labelled_and_the_page_fits_360_px(
    agent: Service, browser: Browser
) -> None:
    page = open_console(browser, agent.base_url, API_KEY, viewport={"width": 360, "height": 740})
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label'))
            .map((el) => el.id)"""
    )
    assert unlabelled == []
    for tab in ("Talk", "Dictate", "Transcribe a file", "Speak", "Status"):
        page.get_by_role("tab", name=tab).click()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, tab
    # Keyboard: the arrow keys move between tabs, Tab reaches the panel's controls.
    page.get_by_role("tab", name="Status").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Talk")).to_have_attribute("aria-selected", "true")
    page.context.close()


def test_a_wrong_key_is_reported(agent: Service, browser: Browser) -> None:
    page = open_console(browser, agent.base_url, None)
    page.get_by_label("API key").fill("not-the-key")
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-status")).to_contain_text("API key was refused")
    # A live session checks the key over HTTP before opening the socket, and says so too.
    page.get_by_role("button", name="Talk").click()
    expect(page.locator("#talk-state")).to_contain_text("API key was refused")
    page.context.close()


def test_the_key_is_remembered_only_when_asked(agent: Service, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{agent.base_url}/console/")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-status")).to_have_class("ok")
    assert page.evaluate("localStorage.length") == 0
    page.get_by_label("Remember on this device").check()
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-status")).to_have_class("ok")
    second = context.new_page()
    second.goto(f"{agent.base_url}/console/")
    expect(second.locator("#key-status")).to_have_class("ok")
    context.close()


def test_talk_shows_both_sides_and_plays_the_reply(
    agent: Service, llm: LLMStandIn, playwright: Playwright, tmp_path: Path
) -> None:
    mic = write_fake_mic(tmp_path / "question.wav", [500, QUESTION, 20_000])
    with chromium(playwright, mic) as browser:
        page = open_console(browser, agent.base_url, API_KEY)
        page.get_by_role("button", name="Talk").click()
        user = page.locator("#talk-log li.user").first
        expect(user).to_contain_text("train", timeout=60_000)
        assistant = page.locator("#talk-log li.assistant").first
        expect(assistant).to_contain_text("main platform", timeout=60_000)
        # The reply is audible at the page's output (its analyser), not just received.
        meter = page.locator("#talk-out-level")
        expect(meter).to_have_attribute(
            "data-loud-frames", re.compile(r"^[1-9]\d+$"), timeout=60_000
        )
        figures = talk_figures(page)
        page.get_by_role("button", name="Stop").click()
    # What the server heard had energy: it transcribed the question and asked the LLM.
    assert figures["sentLoudFrames"] > 50
    assert word_error_rate(QUESTION, llm.user_texts()[0]) < 0.3
    assert figures["latenciesMs"], figures


def test_barge_in_stops_playback_and_truncates(
    agent: Service, llm: LLMStandIn, playwright: Playwright, tmp_path: Path
) -> None:
    llm.reply = LONG_REPLY
    # The question again every ~11 s (chromium's fake microphone plays in real time): the
    # repeat comes while the ~25 s reply plays if the reply starts within ~8 s of the
    # question (~2 s here); a repeat that comes sooner only starts another turn, and the
    # next repeat cuts that one.
    mic = write_fake_mic(tmp_path / "barge.wav", [500, QUESTION, 8_000])
    try:
        with chromium(playwright, mic, loop=True) as browser:
            page = open_console(browser, agent.base_url, API_KEY)
            events = _events(page)
            page.get_by_role("button", name="Talk").click()
            cut_reply = page.locator("#talk-log li.assistant.cut")
            try:
                expect(cut_reply.first).to_be_visible(timeout=120_000)
            except AssertionError as failure:
                log = page.locator("#talk-log").inner_text()
                raise AssertionError(f"{log!r} {talk_figures(page)}") from failure
            figures = talk_figures(page)
            truncated = [e for e in events if e["type"] == "conversation.item.truncated"]
            page.get_by_role("button", name="Stop").click()
    finally:
        llm.reply = LLMStandIn().reply
    cut = figures["bargeIns"][0]
    assert cut["playedMs"] > 0
    assert truncated[0]["item_id"] == cut["item"]
    assert truncated[0]["audio_end_ms"] == cut["playedMs"]


def test_transcribe_a_file_as_subtitles(service: Service, browser: Browser, tmp_path: Path) -> None:
    text = " ".join(SENTENCES[:2])
    clip = tmp_path / "meeting.wav"
    clip.write_bytes(make_clip(text))
    page = open_console(browser, service.base_url, API_KEY)
    page.get_by_role("tab", name="Transcribe a file").click()
    page.get_by_role("tabpanel").get_by_label("Audio file").set_input_files(clip)
    page.get_by_role("tabpanel").get_by_label("Format").select_option("srt")
    page.get_by_role("button", name="Transcribe").click()
    expect(page.locator("#transcribe-state")).to_contain_text("Done", timeout=60_000)
    srt = page.locator("#transcribe-result").inner_text()
    assert "00:00:00,000 --> " in srt
    spoken = " ".join(
        line for line in srt.splitlines() if line and "-->" not in line and not line.isdigit()
    )
    assert word_error_rate(text, spoken) < 0.2
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    assert download.value.suggested_filename == "meeting.srt"
    assert Path(download.value.path()).read_text() == srt
    page.context.close()


def test_a_long_file_goes_through_a_job_with_progress(
    service: Service, browser: Browser, tmp_path: Path
) -> None:
    text = " ".join(SENTENCES[:4])
    clip = tmp_path / "long.wav"
    clip.write_bytes(make_clip(text))
    page = open_console(browser, service.base_url, API_KEY)
    page.get_by_role("tab", name="Transcribe a file").click()
    page.get_by_role("tabpanel").get_by_label("Audio file").set_input_files(clip)
    # Short files run synchronously unless asked; the page picks the job above its limit.
    expect(
        page.get_by_role("tabpanel").get_by_label("Background job (long files)")
    ).not_to_be_checked()
    page.get_by_role("tabpanel").get_by_label("Background job (long files)").check()
    page.get_by_role("tabpanel").get_by_label("Format").select_option("verbose_json")
    page.get_by_role("button", name="Transcribe").click()
    expect(page.locator("#transcribe-progress")).to_be_visible()
    expect(page.locator("#transcribe-state")).to_contain_text("Done", timeout=120_000)
    import json

    result = json.loads(page.locator("#transcribe-result").inner_text())
    assert word_error_rate(text, result["text"]) < 0.2
    assert result["words"] and {"word", "start", "end"} <= set(result["words"][0])
    page.context.close()


def test_speak_plays_while_streaming_and_downloads(
    service: Service, browser: Browser, tmp_path: Path
) -> None:
    text = "The console speaks this sentence through the Piper voice."
    page = open_console(browser, service.base_url, API_KEY)
    page.get_by_role("tab", name="Speak").click()
    page.get_by_role("tabpanel").get_by_label("Text to speak").fill(text)
    page.get_by_role("tabpanel").get_by_label("Model").select_option("piper/en_US-joe-medium")
    expect(page.locator("#speak-voice option")).not_to_have_count(0)
    page.get_by_role("tabpanel").get_by_label("Format").select_option("wav")
    page.get_by_role("button", name="Speak", exact=True).click()
    expect(page.locator("#speak-state")).to_contain_text("s of audio", timeout=60_000)
    meter = page.locator("#speak-out-level")
    expect(meter).to_have_attribute("data-loud-frames", re.compile(r"^[1-9]\d+$"), timeout=30_000)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    wav = Path(download.value.path()).read_bytes()
    assert wav[:4] == b"RIFF"
    heard = service.client().audio.transcriptions.create(model="whisper-1", file=("s.wav", wav))
    assert word_error_rate(text, heard.text) < 0.3
    page.context.close()


def test_status_lists_workers_and_loads_a_model(service: Service, browser: Browser) -> None:
    page = open_console(browser, service.base_url, API_KEY)
    page.get_by_role("tab", name="Status").click()
    expect(page.locator("#status-workers tbody tr")).to_have_count(1, timeout=15_000)
    expect(page.locator("#status-summary")).to_contain_text("Queue depth")
    row = page.locator("#status-models tbody tr", has_text="piper/en_US-joe-medium")
    button = row.get_by_role("button")
    if button.inner_text() == "Unload":
        button.click()
        expect(row.get_by_role("button")).to_have_text("Load", timeout=60_000)
    row.get_by_role("button").click()
    expect(row.get_by_role("button")).to_have_text("Unload", timeout=60_000)
    expect(page.locator("#status-workers tbody tr")).to_contain_text("piper/en_US-joe-medium")
    page.context.close()
