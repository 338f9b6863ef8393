"""What the audio screens share: NeuralDrive's palette, an error banner, and polling."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker


class PollingScreen(Screen[None]):
    """A screen that polls the service every ``refresh_s`` seconds while it is shown.

    Subclasses implement :meth:`poll_once` and compose a ``Static`` with id ``banner``.
    """

    DEFAULT_CSS = """
    PollingScreen { background: #0A0A0A; color: #F59E0B; }
    #title { padding: 0 1; text-style: bold; }
    #banner { display: none; padding: 0 1; background: #7F1D1D; color: #FDE68A; text-style: bold; }
    #banner.-shown { display: block; }
    Summary { padding: 0 1; height: auto; }
    RowsTable {
        height: auto; max-height: 16; background: #0A0A0A; border: round #92400E;
        border-title-color: #F59E0B; border-subtitle-color: #B45309;
    }
    RowsTable:focus { border: round #F59E0B; }
    RowsTable > .datatable--header { background: #1C1917; color: #FBBF24; text-style: bold; }
    RowsTable > .datatable--cursor { background: #78350F; color: #FDE68A; }
    RowsTable:focus > .datatable--cursor { background: #F59E0B; color: #0A0A0A; }
    Footer { background: #1C1917; }
    """

    def __init__(self, refresh_s: float, *, name: str | None = None, id: str | None = None):
        super().__init__(name=name, id=id)
        self.refresh_s = refresh_s
        self.polls = 0
        """Completed polls, successful or not."""
        self._timer: Timer | None = None
        self._poll_task: Worker[None] | None = None
        self._poll_again = False

    async def poll_once(self) -> None:
        """Fetch from the service and update the widgets; must not raise on service errors.

        The hook every polling screen implements (AudioScreen, JobsScreen). It is not an
        ``abc`` abstract method because Textual screens have their own metaclass.
        """
        raise NotImplementedError

    def on_mount(self) -> None:
        """Start polling."""
        self._timer = self.set_interval(self.refresh_s, self.action_refresh)
        self.action_refresh()

    def on_screen_suspend(self) -> None:
        """Stop polling while another screen is shown (NeuralDrive switches F-key screens)."""
        if self._timer is not None:
            self._timer.pause()

    def on_screen_resume(self) -> None:
        """Poll at once when the screen comes back, then on the timer again."""
        if self._timer is not None:
            self._timer.resume()
        self.action_refresh()

    def action_refresh(self) -> None:
        """Poll now; if a poll is running, poll again right after it (never two at once)."""
        if self._poll_task is not None and not self._poll_task.is_finished:
            # That poll may have read the state from before an action: don't lose this request.
            self._poll_again = True
            return
        self._poll_task = self._poll()

    @work(group="poll")
    async def _poll(self) -> None:
        self._poll_again = True
        while self._poll_again:
            self._poll_again = False
            try:
                await self.poll_once()
            except NoMatches:
                # The screen was torn down (the app is closing) while the request was in
                # flight, so its widgets are gone. A missing widget on a live screen is a bug.
                if self.query("#banner"):
                    raise
                return
            self.polls += 1

    def show_banner(self, message: str | None) -> None:
        """Show a problem above everything else, or hide the banner (None)."""
        banner = self.query_one("#banner", Static)
        banner.set_class(message is not None, "-shown")
        if message is not None:
            banner.update(Text(message))
