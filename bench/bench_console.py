"""The voice console in a browser: speech_stopped -> first reply sample played, and page load.

Debian's chromium (Playwright, headless) opens ``/console/`` on the real service (API, one
worker, Redis, demo models) with the instant LLM stand-in, and its fake microphone speaks a
question every few seconds. For each turn the page itself measures, on its own clock, from
the ``input_audio_buffer.speech_stopped`` event to the moment its playback worklet starts
playing the reply (``window.consoleFigures.talk.latenciesMs``): that includes the WebSocket,
the page's decoding and the audio output, which a protocol-level bench does not see.
Page load: navigation to the load event, and the bytes of every response of the first load.

Target (2-core CPU, tiny.en + Piper, instant LLM): median <= 1.2 s; first load <= 200 KB.

Run: python bench/bench_console.py [--turns N] [--voice-model piper/en_US-joe-medium|kokoro-82m]
                                   [--screenshot docs/console.png]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright

from neuraldrive_audio.storage.demo_models import PIPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.console_browser import chromium, open_console, talk_figures, write_fake_mic
from tests.harness import API_KEY, RedisServer, Service
from tests.llm_stand_in import serve_llm

QUESTION = "When does the next train to the city leave?"
REPLY = "The next train leaves in a few minutes from the main platform."
GAP_MS = 15_000  # long enough for the reply to finish before the next question


def page_load(browser: object, base_url: str) -> tuple[float, int]:
    """Seconds to the load event and bytes of the first load (nothing cached)."""
    page = browser.new_context().new_page()  # type: ignore[attr-defined]
    sizes: list[int] = []
    page.on("response", lambda response: sizes.append(len(response.body())))
    start = time.perf_counter()
    page.goto(f"{base_url}/console/", wait_until="load")
    seconds = time.perf_counter() - start
    page.wait_for_load_state("networkidle")
    page.context.close()
    return seconds, sum(sizes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=7)
    parser.add_argument("--voice-model", default=PIPER_ID)
    parser.add_argument("--screenshot", type=Path, help="save the Talk panel after the turns")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve_llm() as llm, sync_playwright() as driver:
        llm.reply = REPLY
        root = Path(tmp)
        register_demo_models(ModelStore(root / "models"))
        redis = RedisServer.start(root)
        service = Service.start(
            f"{redis.url}/0", root / "data", root / "models",
            llm_base_url=llm.base_url, llm_model="llama3.2", voice_tts_model=args.voice_model,
        )  # fmt: skip
        mic = write_fake_mic(root / "mic.wav", [1000, *[QUESTION, GAP_MS] * (args.turns + 1)])
        try:
            with chromium(driver, mic) as browser:
                loads = [page_load(browser, service.base_url) for _ in range(5)]
                page = open_console(browser, service.base_url, API_KEY)
                page.get_by_role("button", name="Talk").click()
                deadline = time.monotonic() + (args.turns + 2) * (GAP_MS / 1000 + 4) + 30
                while time.monotonic() < deadline:
                    if len(talk_figures(page)["latenciesMs"]) >= args.turns + 1:
                        break
                    time.sleep(0.5)
                latencies = talk_figures(page)["latenciesMs"][1:]  # the first warms the models
                if args.screenshot:
                    page.set_viewport_size({"width": 900, "height": 860})
                    page.screenshot(path=str(args.screenshot))
        finally:
            service.stop()
            redis.stop()
    load_s = statistics.median(s for s, _ in loads)
    print(f"Console in chromium, {args.voice_model} replies, instant LLM stand-in:")
    if latencies:
        print(
            "  speech_stopped -> first reply sample played: "
            f"median {statistics.median(latencies):.0f} ms"
            f" (min {min(latencies):.0f}, max {max(latencies):.0f}, {len(latencies)} turns;"
            " target <= 1200 ms)"
        )
    else:
        print("  no turn completed")
    print(f"  page load (to the load event): median {load_s * 1000:.0f} ms over {len(loads)} loads")
    print(f"  first load transfer: {loads[0][1] / 1024:.1f} KB (target <= 200 KB)")


if __name__ == "__main__":
    main()
