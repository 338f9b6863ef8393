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


Column = tuple[str, int]
"""A column's label and width in cells."""

CELL_PADDING = 2
"""DataTable pads each cell with one space on either side."""


def columns_that_fit(widths: Sequence[int], available: int) -> int:
    """How many leading columns fit into ``available`` cells (always at least one)."""
    used = count = 0
    for width in widths:
        used += width + CELL_PADDING
        if used > available and count:
            break
        count += 1
    return count


class RowsTable(DataTable[Text]):
    """A read-only table replaced wholesale on every poll, keeping the cursor on its row.

    ``COLUMNS`` are in order of importance: when the terminal is narrow (80x24), the columns
    that do not fit are left out from the end and the subtitle says how many.
    """

    COLUMNS: ClassVar[tuple[Column, ...]] = ()

    def __init__(self, title: str, *, id: str) -> None:
        super().__init__(id=id, cursor_type="row")
        self.border_title = title
        self._cells: list[Row] = []
        self._shown_columns = 0

    def selected_key(self) -> str | None:
        """Key of the row under the cursor, None when the table is empty."""
        if self.row_count == 0:
            return None
        return self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value

    def replace_rows(self, rows: Iterable[Row]) -> None:
        """Show these rows instead of the current ones."""
        self._cells = list(rows)
        self._render_rows()

    def on_resize(self) -> None:
        """Show as many columns as the new width allows."""
        if self._fitting_columns() != self._shown_columns:
            self._render_rows()

    def _fitting_columns(self) -> int:
        available = self.scrollable_content_region.width or self.app.size.width
        return columns_that_fit([width for _, width in self.COLUMNS], available)

    def _render_rows(self) -> None:
        selected = self.selected_key()
        shown = self._fitting_columns()
        if shown != self._shown_columns:
            self.clear(columns=True)
            for label, width in self.COLUMNS[:shown]:
                self.add_column(fmt.clip(label, width), width=width)
            self._shown_columns = shown
        else:
            self.clear()
        widths = [width for _, width in self.COLUMNS[:shown]]
        for key, cells in self._cells:
            # Text, not str: DataTable reads str cells as markup, and ids or messages may hold '['.
            shown_cells = zip(cells[:shown], widths, strict=True)
            self.add_row(*(Text(fmt.clip(c, w)) for c, w in shown_cells), key=key)
        hidden = len(self.COLUMNS) - shown
        self.border_subtitle = f"{self.row_count}" + (
            f" · {hidden} more column{'s' * (hidden > 1)} when wider" if hidden else ""
        )
        if selected is None:
            return
        # Polling must not yank the cursor away from what the operator selected.
        with suppress(RowDoesNotExist):
            self.move_cursor(row=self.get_row_index(selected), animate=False)


class WorkersTable(RowsTable):
    """One row per live worker, with its memory budget as a bar."""

    COLUMNS = (("Worker", 22), ("Device", 7), ("Used / budget", 15), ("Models", 6),
               ("Jobs run/ok/fail", 16), ("Memory", 16), ("Host", 14), ("Loads/evict", 11),
               ("Seen", 8))  # fmt: skip

    def show(self, workers: Sequence[Worker], now: float) -> None:
        """Fill from the status' workers."""
        self.replace_rows((w.worker_id, _worker_cells(w, now)) for w in workers)


def _worker_cells(w: Worker, now: float) -> list[str]:
    return [
        w.worker_id,
        w.device or fmt.DASH,
        f"{fmt.human_bytes(w.used_bytes)} / {fmt.human_bytes(w.budget_bytes)}",
        str(len(w.loaded_models)),
        "/".join(_count(n) for n in (w.jobs_in_progress, w.jobs_done, w.jobs_failed)),
        fmt.bar(w.budget_fraction),
        w.hostname or fmt.DASH,
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

    COLUMNS = (("Model", 30), ("Worker", 22), ("Size", 10), ("Pinned", 6), ("In use", 6),
               ("Engine", 7), ("Last used", 9), ("Idle until", 10))  # fmt: skip

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
                    m.id, w.worker_id, fmt.human_bytes(m.bytes), "pinned" if m.pinned else "",
                    _count(m.in_use), m.engine or fmt.DASH,
                    fmt.relative_time(m.last_used, now), fmt.relative_time(m.idle_until, now),
                ]))  # fmt: skip
        loaded = {row.model_id for row, _ in rows}
        for model in sorted(installed or (), key=lambda m: m.id):
            if model.id not in loaded:
                rows.append((ModelRow(model.id, None, False), [
                    model.id, "not loaded", fmt.human_bytes(model.bytes_on_disk), "", "",
                    model.engine or fmt.DASH, "", "",
                ]))  # fmt: skip
        self._rows = {row.key: row for row, _ in rows}
        self.replace_rows((row.key, cells) for row, cells in rows)


class RunningJobsTable(RowsTable):
    """Jobs workers are processing now, with progress bars."""

    COLUMNS = (("Job", 24), ("Task", 10), ("Progress", 16), ("Running for", 11),
               ("Model", 30), ("Worker", 22))  # fmt: skip

    def show(self, jobs: Sequence[RunningJob], now: float) -> None:
        """Fill from the status' jobs in progress."""
        self.replace_rows(
            (j.id, [j.id, j.task, fmt.bar(j.progress),
                    fmt.duration(None if j.started_at is None else now - j.started_at),
                    j.model, j.worker_id])
            for j in jobs
        )  # fmt: skip


class ErrorsTable(RowsTable):
    """The last failed jobs."""

    COLUMNS = (("When", 9), ("Code", 16), ("Message", 40), ("Job", 24))

    def show(self, errors: Sequence[RecentError], now: float) -> None:
        """Fill from the status' recent errors, newest first."""
        newest_first = sorted(errors, key=lambda e: e.time or 0.0, reverse=True)
        self.replace_rows(
            (f"{i}", [fmt.relative_time(e.time, now), e.code, e.message, e.job_id])
            for i, e in enumerate(newest_first)
        )


class JobsTable(RowsTable):
    """Asynchronous jobs listed by ``GET /v1/audio/jobs``."""

    COLUMNS = (("Job", 24), ("Status", 10), ("Progress", 16), ("Task", 10), ("Created", 9),
               ("Model", 30))  # fmt: skip

    def show(self, jobs: Sequence[Job], now: float) -> None:
        """Fill from the jobs list."""
        self.replace_rows(
            (j.id, [j.id, j.status, fmt.bar(j.progress), j.task,
                    fmt.relative_time(j.created_at, now), j.model])
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
        wyoming = ""
        if status.wyoming_requests is not None:
            wyoming = (
                f"   Wyoming {_count(status.wyoming_requests)} requests "
                f"({_count(status.wyoming_failed)} failed)"
            )
        self.update(Text(f"{queue}   {jobs}   {uptime}\nEngines: {engines or fmt.DASH}{wyoming}"))


def _engine_text(engine: EngineStats) -> str:
    text = f"{engine.engine} RTF {fmt.number(engine.real_time_factor, 2)}"
    if engine.audio_seconds is None:
        return text
    return f"{text} ({fmt.duration(engine.audio_seconds)} audio)"
