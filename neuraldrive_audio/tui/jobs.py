"""The jobs list the audio screen opens with ``j``; ``c`` cancels the selected job."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Static

from neuraldrive_audio.cli.client import ServiceClient, ServiceError
from neuraldrive_audio.tui.base import PollingScreen
from neuraldrive_audio.tui.widgets import JobsTable


class JobsScreen(PollingScreen):
    """Asynchronous jobs being processed, from ``GET /v1/audio/jobs?status=processing``."""

    AUTO_FOCUS = "#jobs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel_job", "Cancel job"),
        Binding("r", "refresh", "Refresh"),
        Binding("q,escape", "back", "Back"),
    ]

    def __init__(self, client: ServiceClient, *, refresh_s: float = 2.0) -> None:
        super().__init__(refresh_s)
        self.client = client

    def compose(self) -> ComposeResult:
        """Title, banner, and the jobs table."""
        yield Static(Text(f"NeuralDrive Audio · jobs · {self.client.base_url}"), id="title")
        yield Static(id="banner")
        yield JobsTable("Jobs processing", id="jobs")
        yield Footer()

    async def poll_once(self) -> None:
        """Refill the table, or say why the list is unavailable."""
        try:
            jobs = await self.client.jobs()
        except ServiceError as exc:
            self.show_banner(f"Jobs unavailable from {self.client.base_url}: {exc} — retrying")
            return
        self.show_banner(None)
        self.query_one(JobsTable).show(jobs, time.time())

    def action_cancel_job(self) -> None:
        """Cancel the job under the cursor."""
        job_id = self.query_one(JobsTable).selected_key()
        if job_id is None:
            self.notify("No job selected.", severity="warning")
            return
        self._cancel(job_id)

    @work(group="action")
    async def _cancel(self, job_id: str) -> None:
        try:
            await self.client.cancel(job_id)
        except ServiceError as exc:
            self.notify(f"Cancel {job_id} failed: {exc}", severity="error", markup=False)
        else:
            self.notify(f"Cancelled {job_id}", markup=False)
        self.action_refresh()

    def action_back(self) -> None:
        """Back to the audio screen."""
        self.app.pop_screen()
