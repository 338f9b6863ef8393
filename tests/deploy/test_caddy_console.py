"""The console through NeuralDrive's HTTPS gateway: real Caddy (self-signed certificate) with
our snippet in front of the real service and the LLM stand-in, driven by chromium."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Playwright, expect, sync_playwright

from tests.console_browser import chromium, open_console, write_fake_mic
from tests.deploy.test_caddy_gateway import caddy_gateway, stand_ins
from tests.harness import API_KEY, Service
from tests.llm_stand_in import LLMStandIn

pytestmark = [
    pytest.mark.deploy,
    pytest.mark.skipif(
        shutil.which("caddy") is None or shutil.which("openssl") is None,
        reason="caddy or openssl is not installed (CI installs both)",
    ),
]

__all__ = ["stand_ins"]  # the fixture, imported for this module's gateway
QUESTION = "When does the next train to the city leave?"


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, stand_ins: dict[str, int], agent: Service
) -> Iterator[str]:
    """Caddy in front of the agent's API; yields the gateway's https base URL."""
    directory = tmp_path_factory.mktemp("caddy-console")
    upstream = agent.base_url.removeprefix("http://")
    with caddy_gateway(directory, stand_ins, API_KEY, upstream) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


def test_the_console_is_public_and_everything_else_keeps_the_key(gateway: str) -> None:
    with httpx.Client(base_url=gateway, verify=False) as client:
        page = client.get("/console/")
        assert page.status_code == 200
        assert "API key" in page.text
        assert client.get("/console/js/main.js").status_code == 200
        assert client.get("/console", follow_redirects=True).status_code == 200
        # The model lists the console reads need the key through the gateway.
        for path in ("/v1/audio/models", "/v1/audio/voices", "/system/audio/status"):
            assert client.get(path).status_code == 401, path


def test_talk_and_speak_through_the_https_gateway(
    gateway: str, llm: LLMStandIn, playwright: Playwright, tmp_path: Path
) -> None:
    mic = write_fake_mic(tmp_path / "question.wav", [500, QUESTION, 20_000])
    with chromium(playwright, mic) as browser:
        page = open_console(browser, gateway, API_KEY, ignore_https_errors=True)
        assert page.evaluate("window.isSecureContext")
        expect(page.locator("#secure-warning")).to_be_hidden()
        page.get_by_role("button", name="Talk").click()
        expect(page.locator("#talk-log li.user").first).to_contain_text("train", timeout=60_000)
        expect(page.locator("#talk-log li.assistant").first).to_contain_text(
            "main platform", timeout=60_000
        )
        loud = re.compile(r"^[1-9]\d+$")
        expect(page.locator("#talk-out-level")).to_have_attribute(
            "data-loud-frames", loud, timeout=60_000
        )
        page.get_by_role("button", name="Stop").click()
        page.get_by_role("tab", name="Speak").click()
        page.get_by_role("button", name="Speak", exact=True).click()
        expect(page.locator("#speak-state")).to_contain_text("s of audio", timeout=90_000)
        expect(page.locator("#speak-out-level")).to_have_attribute(
            "data-loud-frames", loud, timeout=30_000
        )


def test_plain_http_to_a_lan_name_says_the_microphone_needs_https(
    agent: Service, playwright: Playwright
) -> None:
    port = agent.base_url.rsplit(":", 1)[1]
    rules = "--host-resolver-rules=MAP appliance.lan 127.0.0.1"
    with chromium(playwright, None, rules) as browser:
        page = open_console(browser, f"http://appliance.lan:{port}", API_KEY)
        warning = page.locator("#secure-warning")
        expect(warning).to_be_visible()
        expect(warning).to_contain_text("secure context")
        expect(page.get_by_role("button", name="Talk")).to_be_disabled()
