"""Render the audio screen against a running service into an SVG (for the docs).

python -m neuraldrive_audio.tui.screenshot --url http://127.0.0.1:8001 --out docs/tui.svg
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from neuraldrive_audio.tui.app import AudioTUIApp
from neuraldrive_audio.tui.screens import AudioScreen


async def render(
    base_url: str | None, api_key: str | None, size: tuple[int, int], wait_s: float
) -> str:
    """Run the app headless until its first poll completes (or ``wait_s`` passes); SVG text."""
    app = AudioTUIApp(base_url, api_key)
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        assert isinstance(screen, AudioScreen)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while screen.polls == 0 and loop.time() < deadline:
            await pilot.pause(0.1)
        # Let the tables lay out the rows the poll just delivered.
        await pilot.pause(0.3)
        return app.export_screenshot(title="neuraldrive-audio tui")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="service base URL (default: from config)")
    parser.add_argument("--key", help="API key (default: from config)")
    parser.add_argument("--out", type=Path, default=Path("docs/tui.svg"))
    parser.add_argument("--size", default="140x44", help="terminal COLUMNSxROWS")
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for data")
    args = parser.parse_args(argv)
    columns, rows = (int(n) for n in args.size.lower().split("x"))
    svg = asyncio.run(render(args.url, args.key, (columns, rows), args.wait))
    args.out.write_text(svg, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
