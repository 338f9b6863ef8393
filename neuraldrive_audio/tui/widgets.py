"""The panels of the audio screen: tables refilled from each status poll, and a summary."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static
from textual.widgets.data_table import RowDoesNotExist

from neuraldrive_audio.cli.client import (
    EngineStats,
    InstalledModel,
    Job,
    RecentError,
    RunningJob,
    Status,
    Worker,
)
from neuraldrive_audio.tui import format as fmt

Row = tuple[str, Sequence[str]]
"""A row key and its cells."""


class RowsTable(DataTable[Text]):
    """A read-only table replaced wholesale on every poll, keeping the cursor on its row."""

    COLUMNS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, title: str, *, id: str) -> None:
        super().__init__(id=id, cursor_type="row")
        self.border_title = title
        self.add_columns(*self.COLUMNS)

    def selected_key(self) -> str | None:
        """Key of the row under the cursor, None when the table is empty."""
        if self.row_count == 0:
            return None
        return self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value

    def replace_rows(self, rows: Iterable[Row]) -> None:
        """Show these rows instead of the current ones."""
        selected = self.selected_key()
        self.clear()
        for key, cells in rows:
            # Text, not str: DataTable reads str cells as markup, and ids or messages may hold '['.
            self.add_row(*(Text(cell) for cell in cells), key=key)
        self.border_subtitle = str(self.row_count)
        if selected is None:
            return
        # Polling must not yank the cursor away from what the operator selected.
        with suppress(RowDoesNotExist):
            self.move_cursor(row=self.get_row_index(selected), animate=False)


class WorkersTable(RowsTable):
    """One row per live worker, with its memory budget as a bar."""

    COLUMNS = ("Worker", "Host", "Device", "Memory", "Used / budget", "Models", "Jobs run/ok/fail",
               "Loads/evict", "Seen")  # fmt: skip

    def show(self, workers: Sequence[Worker], now: float) -> None:
        """Fill from the status' workers."""
        self.replace_rows((w.worker_id, _worker_cells(w, now)) for w in workers)


def _worker_cells(w: Worker, now: float) -> list[str]:
    return [
        w.worker_id,
        w.hostname or fmt.DASH,
        w.device or fmt.DASH,
        fmt.bar(w.budget_fraction),
        f"{fmt.human_bytes(w.used_bytes)} / {fmt.human_bytes(w.budget_bytes)}",
        str(len(w.loaded_models)),
        "/".join(_count(n) for n in (w.jobs_in_progress, w.jobs_done, w.jobs_failed)),
        "/".join(_count(n) for n in (w.loads, w.evictions)),
        fmt.relative_time(w.last_seen, now),
    ]


def _count(value: int | None) -> str:
    return fmt.DASH if value is None else str(value)


@dataclass(frozen=True)
class ModelRow:
    """What the model actions need to know about a row of the models table."""

    model_id: str
    worker_id: str | None
    pinned: bool

    @property
    def key(self) -> str:
        """Row key: a model appears once per worker holding it, or once if not loaded."""
        return f"{self.worker_id or ''}\x1f{self.model_id}"


class ModelsTable(RowsTable):
    """Models loaded on each worker, then installed models that no worker holds."""

    COLUMNS = ("Model", "Engine", "Worker", "Size", "Pinned", "In use", "Last used", "Idle until")

    def __init__(self, title: str, *, id: str) -> None:
        super().__init__(title, id=id)
        self._rows: dict[str, ModelRow] = {}

    def selected(self) -> ModelRow | None:
        """The model row under the cursor."""
        key = self.selected_key()
        return None if key is None else self._rows.get(key)

    def show(
        self, workers: Sequence[Worker], installed: Sequence[InstalledModel] | None, now: float
    ) -> None:
        """Fill from the workers' heartbeats and (when the service lists them) installed models."""
        rows: list[tuple[ModelRow, list[str]]] = []
        for w in workers:
            for m in sorted(w.loaded_models, key=lambda m: m.id):
                rows.append((ModelRow(m.id, w.worker_id, m.pinned), [
                    m.id, m.engine or fmt.DASH, w.worker_id, fmt.human_bytes(m.bytes),
                    "pinned" if m.pinned else "", _count(m.in_use),
                    fmt.relative_time(m.last_used, now), fmt.relative_time(m.idle_until, now),
                ]))  # fmt: skip
        loaded = {row.model_id for row, _ in rows}
        for model in sorted(installed or (), key=lambda m: m.id):
            if model.id not in loaded:
                rows.append((ModelRow(model.id, None, False), [
                    model.id, model.engine or fmt.DASH, "not loaded",
                    f"{fmt.human_bytes(model.bytes_on_disk)} on disk", "", "", "", "",
                ]))  # fmt: skip
        self._rows = {row.key: row for row, _ in rows}
        self.replace_rows((row.key, cells) for row, cells in rows)


class RunningJobsTable(RowsTable):
    """Jobs workers are processing now, with progress bars."""

    COLUMNS = ("Job", "Task", "Model", "Worker", "Progress", "Running for")

    def show(self, jobs: Sequence[RunningJob], now: float) -> None:
        """Fill from the status' jobs in progress."""
        self.replace_rows(
            (j.id, [j.id, j.task, j.model, j.worker_id, fmt.bar(j.progress),
                    fmt.duration(None if j.started_at is None else now - j.started_at)])
            for j in jobs
        )  # fmt: skip


class ErrorsTable(RowsTable):
    """The last failed jobs."""

    COLUMNS = ("When", "Job", "Code", "Message")

    def show(self, errors: Sequence[RecentError], now: float) -> None:
        """Fill from the status' recent errors, newest first."""
        newest_first = sorted(errors, key=lambda e: e.time or 0.0, reverse=True)
        self.replace_rows(
            (f"{i}", [fmt.relative_time(e.time, now), e.job_id, e.code, fmt.clip(e.message)])
            for i, e in enumerate(newest_first)
        )


class JobsTable(RowsTable):
    """Asynchronous jobs listed by ``GET /v1/audio/jobs``."""

    COLUMNS = ("Job", "Task", "Status", "Model", "Progress", "Created")

    def show(self, jobs: Sequence[Job], now: float) -> None:
        """Fill from the jobs list."""
        self.replace_rows(
            (j.id, [j.id, j.task, j.status, j.model, fmt.bar(j.progress),
                    fmt.relative_time(j.created_at, now)])
            for j in jobs
        )  # fmt: skip


class Summary(Static):
    """Queue depths, throughput, latency and each engine's real-time factor."""

    def show(self, status: Status) -> None:
        """Render the figures of one status poll."""
        queue = (
            f"Queue {_count(status.queue_depth)} waiting "
            f"(interactive {_count(status.queue_interactive)} · batch {_count(status.queue_batch)})"
        )
        jobs = (
            f"Jobs {fmt.number(status.jobs_per_minute, 1, '/min')} · "
            f"p50 {fmt.number(status.latency_p50_ms, 0, ' ms')} · "
            f"p95 {fmt.number(status.latency_p95_ms, 0, ' ms')}"
        )
        uptime = f"Up {fmt.duration(status.uptime_s)}"
        engines = " · ".join(_engine_text(e) for e in status.engines)
        self.update(Text(f"{queue}   {jobs}   {uptime}\nEngines: {engines or fmt.DASH}"))


def _engine_text(engine: EngineStats) -> str:
    text = f"{engine.engine} RTF {fmt.number(engine.real_time_factor, 2)}"
    if engine.audio_seconds is None:
        return text
    return f"{text} ({fmt.duration(engine.audio_seconds)} audio)"
