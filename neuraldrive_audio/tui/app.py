"""The standalone ``neuraldrive-audio tui`` application: the audio screen on its own."""

from __future__ import annotations

import logging

from textual.app import App
from textual.logging import TextualHandler
from textual.screen import Screen

from neuraldrive_audio.tui.screens import AudioScreen


class AudioTUIApp(App[None]):
    """Shows :class:`AudioScreen` as the base screen; ``q`` quits."""

    TITLE = "NeuralDrive Audio"
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self, base_url: str | None = None, api_key: str | None = None, *, refresh_s: float = 2.0
    ) -> None:
        super().__init__()
        self._screen_args = (base_url, api_key, refresh_s)

    def get_default_screen(self) -> Screen[None]:
        """The audio screen, as the bottom of the stack (so ``q`` exits instead of popping)."""
        base_url, api_key, refresh_s = self._screen_args
        return AudioScreen(base_url, api_key, refresh_s=refresh_s)


def run(base_url: str | None = None, api_key: str | None = None) -> None:
    """Run the TUI in the terminal until the operator quits."""
    # A handler writing to the terminal (the CLI's JSON logs, httpx's request lines) would draw
    # over the screen; Textual's handler sends records to its devtools console instead.
    logging.getLogger().handlers[:] = [TextualHandler()]
    AudioTUIApp(base_url, api_key).run()
