"""The audio screen: the panel NeuralDrive's TUI shows as one more F-key screen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from neuraldrive_audio.cli.client import (
    ApiError,
    InstalledModel,
    ServiceClient,
    ServiceError,
    Status,
    Unreachable,
)
from neuraldrive_audio.tui.base import PollingScreen
from neuraldrive_audio.tui.jobs import JobsScreen
from neuraldrive_audio.tui.picker import WorkerPicker
from neuraldrive_audio.tui.widgets import (
    ErrorsTable,
    ModelRow,
    ModelsTable,
    RunningJobsTable,
    Summary,
    WorkersTable,
)

Call = Callable[[], Awaitable[object]]
"""A management request, started only when its Textual worker runs."""


def _now(status: Status | None) -> float:
    # Relative times are computed against the server's clock: workers may run on other hosts.
    return status.time if status is not None and status.time is not None else time.time()


class AudioScreen(PollingScreen):
    """Workers, models, queue, jobs and errors of the speech service; polls every few seconds."""

    AUTO_FOCUS = "#models"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "load", "Load"),
        Binding("u", "unload", "Unload"),
        Binding("p", "pin", "Pin/unpin"),
        Binding("j", "jobs", "Jobs"),
        Binding("r", "refresh", "Refresh"),
        # One key, two meanings; check_action shows and enables the one that applies.
        Binding("q", "back", "Back"),
        Binding("q", "quit_panel", "Quit"),
    ]

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        refresh_s: float = 2.0,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(refresh_s, name=name, id=id)
        self.client = ServiceClient(base_url, api_key)
        self.status: Status | None = None
        """The last status polled successfully."""
        self.service_error: ServiceError | None = None
        """Why the last poll failed; None after a successful one."""

    def compose(self) -> ComposeResult:
        """Title, error banner, summary, then one table per area."""
        with VerticalScroll():
            yield Static(Text(f"NeuralDrive Audio · {self.client.base_url}"), id="title")
            yield Static(id="banner")
            yield Summary(id="summary")
            yield WorkersTable("Workers", id="workers")
            yield ModelsTable("Models", id="models")
            yield RunningJobsTable("Jobs in progress", id="running")
            yield ErrorsTable("Recent errors", id="errors")
        yield Footer()

    async def on_unmount(self) -> None:
        """Release the HTTP connections."""
        await self.client.aclose()

    async def poll_once(self) -> None:
        """Fetch status and installed models together, then show them (or why they are missing)."""
        status, models = await asyncio.gather(
            self.client.status(), self.client.models(), return_exceptions=True
        )
        if isinstance(status, ServiceError):
            self._show_failure(status)
        elif isinstance(status, BaseException):
            raise status
        elif isinstance(models, BaseException) and not isinstance(models, ServiceError):
            raise models
        else:
            self._show(status, models)

    def _show_failure(self, error: ServiceError) -> None:
        self.service_error = error
        url = self.client.base_url
        what = (
            f"Service unreachable at {url}: {error}"
            if isinstance(error, Unreachable)
            else f"Service at {url} answered: {error}"
        )
        self.show_banner(f"{what} — retrying every {self.refresh_s:g} s")

    def _show(self, status: Status, models: list[InstalledModel] | ServiceError) -> None:
        self.service_error = None
        self.status = status
        self.show_banner(None)
        now = _now(status)
        self.query_one("#title", Static).update(
            Text(
                f"NeuralDrive Audio · {self.client.base_url} · updated {time.strftime('%H:%M:%S')}"
            )
        )
        self.query_one(Summary).show(status)
        self.query_one(WorkersTable).show(status.workers, now)
        table = self.query_one(ModelsTable)
        table.show(status.workers, None if isinstance(models, ServiceError) else models, now)
        table.border_subtitle = _models_note(models) or table.border_subtitle
        self.query_one(RunningJobsTable).show(status.in_progress, now)
        self.query_one(ErrorsTable).show(status.recent_errors, now)

    def _selected_model(self) -> ModelRow | None:
        row = self.query_one(ModelsTable).selected()
        if row is None:
            self.notify("No model selected.", severity="warning")
        return row

    def action_load(self) -> None:
        """Load the selected model on a worker chosen from a list."""
        row = self._selected_model()
        if row is not None:
            self._load_on_chosen_worker(row.model_id, pin=None)

    def action_unload(self) -> None:
        """Unload the selected model from the worker holding it."""
        row = self._selected_model()
        if row is None:
            return
        if row.worker_id is None:
            self.notify(f"{row.model_id} is not loaded.", severity="warning", markup=False)
            return
        self._act(
            f"Unload {row.model_id} from {row.worker_id}",
            partial(self.client.unload, row.model_id, row.worker_id),
        )

    def action_pin(self) -> None:
        """Toggle the pin of a loaded model; pinning a model not loaded loads it first."""
        row = self._selected_model()
        if row is None:
            return
        if row.worker_id is None:
            self._load_on_chosen_worker(row.model_id, pin=True)
            return
        verb = "Unpin" if row.pinned else "Pin"
        self._act(
            f"{verb} {row.model_id} on {row.worker_id}",
            partial(self.client.load, row.model_id, row.worker_id, pin=not row.pinned),
        )

    def action_jobs(self) -> None:
        """Show the asynchronous jobs, where they can be cancelled."""
        self.app.push_screen(JobsScreen(self.client, refresh_s=self.refresh_s))

    def has_screen_below(self) -> bool:
        """True when ``q`` goes back to another screen rather than quitting."""
        stack = self.app.screen_stack
        # "_default" is Textual's blank base screen: going back to it would strand the operator.
        return len(stack) > 1 and stack[-2].id != "_default" and stack[-1] is self

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``q`` is Back over another screen and Quit otherwise; the footer shows which."""
        if action == "back":
            return self.has_screen_below()
        if action == "quit_panel":
            return not self.has_screen_below()
        return True

    def action_back(self) -> None:
        """Return to the screen below, or quit when there is none (standalone, or F-key switch)."""
        if self.has_screen_below():
            self.app.pop_screen()
        else:
            self.app.exit()

    def action_quit_panel(self) -> None:
        """Quit: the panel runs on its own (or was reached with an F-key switch)."""
        self.app.exit()

    @work(group="action")
    async def _load_on_chosen_worker(self, model_id: str, pin: bool | None) -> None:
        workers = self.status.workers if self.status is not None else ()
        if not workers:
            self.notify("No live worker to load it on.", severity="error")
            return
        worker_id = await self.app.push_screen_wait(WorkerPicker(model_id, workers))
        if worker_id is None:
            return
        verb = "Load and pin" if pin else "Load"
        call = partial(self.client.load, model_id, worker_id, pin)
        await self._run(f"{verb} {model_id} on {worker_id}", call)

    @work(group="action")
    async def _act(self, what: str, call: Call) -> None:
        await self._run(what, call)

    async def _run(self, what: str, call: Call) -> None:
        """Run one management call, report it as a notification, then poll to show its effect."""
        self.notify(f"{what}…", markup=False)
        try:
            await call()
        except ServiceError as exc:
            self.notify(f"{what} failed: {exc}", severity="error", markup=False, timeout=10)
        else:
            self.notify(f"{what}: done", markup=False)
        self.action_refresh()


def _models_note(models: list[InstalledModel] | ServiceError) -> str | None:
    """Why installed models are missing from the table, if they are."""
    if isinstance(models, ApiError) and models.status_code == 404:
        return "installed models: not listed by this service version"
    if isinstance(models, ServiceError):
        return f"installed models unavailable: {models}"
    return None
