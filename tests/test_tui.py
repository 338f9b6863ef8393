"""The Textual audio screen: formatting, tolerant parsing, and the screen on the real service."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from neuraldrive_audio.cli.client import ApiError, Status, Unreachable
from neuraldrive_audio.storage.demo_models import PIPER_ID
from neuraldrive_audio.tui import format as fmt
from neuraldrive_audio.tui.app import AudioTUIApp
from neuraldrive_audio.tui.jobs import JobsScreen
from neuraldrive_audio.tui.picker import WorkerPicker
from neuraldrive_audio.tui.screens import AudioScreen
from neuraldrive_audio.tui.screenshot import render
from neuraldrive_audio.tui.widgets import JobsTable, ModelRow, ModelsTable, RowsTable, WorkersTable
from tests.harness import API_KEY, Service, free_port
from tests.speech_clips import long_clip

SIZE = (160, 50)


def test_human_bytes() -> None:
    assert fmt.human_bytes(None) == "—"
    assert fmt.human_bytes(0) == "0 B"
    assert fmt.human_bytes(1023) == "1023 B"
    assert fmt.human_bytes(1536) == "1.5 KiB"
    assert fmt.human_bytes(117_727_232) == "112.3 MiB"
    assert fmt.human_bytes(12 * 1024**3) == "12.0 GiB"
    assert fmt.human_bytes(3 * 1024**5) == "3072.0 TiB"


def test_durations_and_relative_times() -> None:
    assert fmt.duration(None) == "—"
    assert fmt.duration(45.4) == "45 s"
    assert fmt.duration(12 * 60 + 5) == "12 min"
    assert fmt.duration(3 * 3600) == "3 h"
    assert fmt.duration(3 * 3600 + 20 * 60) == "3 h 20 min"
    assert fmt.duration(2 * 86400 + 4 * 3600) == "2 d 4 h"
    now = 1_000_000.0
    assert fmt.relative_time(None, now) == "—"
    assert fmt.relative_time(now + 0.4, now) == "now"
    assert fmt.relative_time(now - 5, now) == "5 s ago"
    assert fmt.relative_time(now + 29 * 60 + 30, now) == "in 29 min"


def test_bar_and_number() -> None:
    assert fmt.bar(None) == "—"
    assert fmt.bar(0.5, width=8) == "████····  50%"
    assert fmt.bar(1.7, width=4) == "████ 100%"  # clamped: a worker can overshoot its budget
    assert fmt.bar(-1, width=4) == "····   0%"
    assert fmt.number(None) == "—"
    assert fmt.number(0.21194, 2) == "0.21"
    assert fmt.number(720.2, 0, " ms") == "720 ms"
    assert fmt.clip("short", 10) == "short"
    assert fmt.clip("0123456789abc", 10) == "012345678…"


def test_status_parsing_tolerates_partial_and_odd_bodies() -> None:
    old = Status.parse({"time": 5.0, "queue": {"depth": 3}, "workers": [{"worker_id": "w1"}]})
    assert old.queue_depth == 3 and old.queue_interactive is None
    assert old.workers[0].worker_id == "w1" and old.workers[0].budget_bytes is None
    assert old.workers[0].budget_fraction is None and old.engines == ()

    empty = Status.parse({})
    assert (empty.time, empty.workers, empty.jobs_per_minute, empty.recent_errors) == (
        None, (), None, (),
    )  # fmt: skip

    odd = Status.parse({
        "queue": {"depth": "many", "interactive": 1, "batch": True},
        "workers": ["not a worker", {"worker_id": "w", "budget_bytes": 100, "used_bytes": 25,
                                     "loaded_models": [{"id": "m", "pinned": "yes"}]}],
        "jobs": {"latency_ms": {"p50": None, "p95": 12}},
        "engines": {"piper": {"real_time_factor": 0.2, "audio_seconds": 2}, "x": "junk"},
    })  # fmt: skip
    assert (odd.queue_depth, odd.queue_interactive, odd.queue_batch) == (None, 1, None)
    assert [w.worker_id for w in odd.workers] == ["w"]
    assert odd.workers[0].budget_fraction == 0.25
    assert odd.workers[0].loaded_models[0].pinned is False  # only a real true pins
    assert (odd.latency_p50_ms, odd.latency_p95_ms) == (None, 12.0)
    assert [(e.engine, e.real_time_factor, e.audio_seconds) for e in odd.engines] == [
        ("piper", 0.2, 2.0), ("x", None, None),
    ]  # fmt: skip


async def _until(pilot: Pilot[None], condition: Callable[[], bool], what: str,
                 timeout_s: float = 30.0) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.1)


def _banner(screen: AudioScreen | JobsScreen) -> str | None:
    """The banner's text, or None while it is hidden."""
    banner = screen.query_one("#banner", Static)
    return str(banner.content) if banner.has_class("-shown") else None


def _row_keys(table: RowsTable) -> set[str]:
    return {str(key.value) for key in table.rows}


def _audio_screen(app: AudioTUIApp) -> AudioScreen:
    screen = app.screen
    assert isinstance(screen, AudioScreen)
    return screen


async def test_unreachable_service_shows_banner_and_keeps_retrying() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    app = AudioTUIApp(url, "any-key", refresh_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        screen = _audio_screen(app)
        await _until(pilot, lambda: screen.polls >= 4, "several failed polls")
        assert app.is_running
        assert isinstance(screen.service_error, Unreachable)
        banner = _banner(screen)
        assert banner is not None
        assert banner.startswith(f"Service unreachable at {url}: ")
        assert "retrying" in banner
        await pilot.press("l")  # no status yet: the action reports it, nothing crashes
        await pilot.pause(0.3)
        assert app.is_running and app.screen is screen
        await pilot.press("q")
    assert app.return_code == 0


def _loaded_on(service: Service, worker_id: str) -> set[str]:
    workers = {w["worker_id"]: w for w in service.status()["workers"]}
    return {m["id"] for m in workers[worker_id]["loaded_models"]}


def _worker_id(service: Service) -> str:
    worker_id: str = service.status()["workers"][0]["worker_id"]
    return worker_id


async def _api(service: Service, path: str, body: dict[str, object]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=service.base_url, headers=headers) as http:
        return await http.post(path, json=body, timeout=120)


async def _select_model(pilot: Pilot[None], table: ModelsTable, row: ModelRow) -> None:
    await _until(pilot, lambda: row.key in _row_keys(table), f"row {row}")
    table.move_cursor(row=table.get_row_index(row.key))
    table.focus()
    await pilot.pause(0.1)


@pytest.mark.service
async def test_wrong_key_is_reported_in_the_banner(service: Service) -> None:
    app = AudioTUIApp(service.base_url, "not-the-key", refresh_s=0.3)
    async with app.run_test(size=SIZE) as pilot:
        screen = _audio_screen(app)
        await _until(pilot, lambda: screen.polls >= 1, "a poll")
        assert isinstance(screen.service_error, ApiError)
        assert screen.service_error.status_code == 401
        assert f"Service at {service.base_url} answered:" in (_banner(screen) or "")


@pytest.mark.service
async def test_lists_the_worker_and_loads_a_model_with_l(service: Service) -> None:
    worker_id = _worker_id(service)
    if PIPER_ID in _loaded_on(service, worker_id):
        await _api(service, "/v1/audio/models/piper%2Fen_US-joe-medium/unload", {})
    app = AudioTUIApp(service.base_url, API_KEY, refresh_s=0.3)
    async with app.run_test(size=SIZE) as pilot:
        screen = _audio_screen(app)
        workers = screen.query_one(WorkersTable)
        await _until(pilot, lambda: worker_id in _row_keys(workers), "the worker row")
        assert _banner(screen) is None
        models = screen.query_one(ModelsTable)
        await _select_model(pilot, models, ModelRow(PIPER_ID, None, False))
        await pilot.press("l")
        await _until(pilot, lambda: isinstance(app.screen, WorkerPicker), "the worker picker")
        await pilot.press("enter")  # the only live worker
        loaded = ModelRow(PIPER_ID, worker_id, False)
        await _until(pilot, lambda: loaded.key in _row_keys(models), "the loaded row", 90)
        assert ModelRow(PIPER_ID, None, False).key not in _row_keys(models)
    assert PIPER_ID in _loaded_on(service, worker_id)


@pytest.mark.service
async def test_u_unloads_the_selected_model(service: Service) -> None:
    worker_id = _worker_id(service)
    response = await _api(
        service, "/v1/audio/models/piper%2Fen_US-joe-medium/load", {"worker_id": worker_id}
    )
    assert response.status_code == 200, response.text
    app = AudioTUIApp(service.base_url, API_KEY, refresh_s=0.3)
    async with app.run_test(size=SIZE) as pilot:
        screen = _audio_screen(app)
        models = screen.query_one(ModelsTable)
        await _select_model(pilot, models, ModelRow(PIPER_ID, worker_id, False))
        await pilot.press("u")
        not_loaded = ModelRow(PIPER_ID, None, False).key
        await _until(pilot, lambda: not_loaded in _row_keys(models), "the unloaded row", 90)
    assert PIPER_ID not in _loaded_on(service, worker_id)


@pytest.mark.service
async def test_p_pins_and_unpins(service: Service) -> None:
    worker_id = _worker_id(service)
    response = await _api(
        service, "/v1/audio/models/piper%2Fen_US-joe-medium/load", {"worker_id": worker_id}
    )
    assert response.status_code == 200, response.text
    app = AudioTUIApp(service.base_url, API_KEY, refresh_s=0.3)
    async with app.run_test(size=SIZE) as pilot:
        models = _audio_screen(app).query_one(ModelsTable)
        row = ModelRow(PIPER_ID, worker_id, False)
        for pinned in (True, False):
            await _select_model(pilot, models, row)
            await pilot.press("p")
            want = ModelRow(PIPER_ID, worker_id, pinned)
            # The lambda is awaited within this iteration, so the loop variable cannot go stale.
            await _until(pilot, lambda: models.selected() == want, f"pinned={pinned}", 90)  # noqa: B023
    await _api(service, "/v1/audio/models/piper%2Fen_US-joe-medium/unload", {})


@pytest.mark.service
async def test_j_opens_the_jobs_screen_and_q_returns(service: Service) -> None:
    app = AudioTUIApp(service.base_url, API_KEY, refresh_s=0.3)
    async with app.run_test(size=SIZE) as pilot:
        screen = _audio_screen(app)
        await _until(pilot, lambda: screen.polls >= 1, "a poll")
        await pilot.press("j")
        await _until(pilot, lambda: isinstance(app.screen, JobsScreen), "the jobs screen")
        jobs = app.screen
        assert isinstance(jobs, JobsScreen)
        await _until(pilot, lambda: jobs.polls >= 1, "a jobs poll")
        assert _banner(jobs) is None
        await pilot.press("q")
        await _until(pilot, lambda: app.screen is screen, "back on the audio screen")
        assert app.is_running


@pytest.mark.service
async def test_c_cancels_the_selected_job(service: Service) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=service.base_url, headers=headers, timeout=60) as http:
        clip, _ = long_clip(4)  # ~97 s: long enough to catch it processing
        files = {"file": ("long.wav", clip, "audio/wav")}
        submitted = await http.post("/v1/audio/jobs", files=files, data={"model": "whisper-1"})
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        app = AudioTUIApp(service.base_url, API_KEY, refresh_s=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("j")
            await _until(pilot, lambda: isinstance(app.screen, JobsScreen), "the jobs screen")
            table = app.screen.query_one(JobsTable)
            await _until(pilot, lambda: job_id in _row_keys(table), "the job row", 60)
            table.move_cursor(row=table.get_row_index(job_id))
            await pilot.press("c")
            await _until(pilot, lambda: job_id not in _row_keys(table), "the row to go", 60)
        job = (await http.get(f"/v1/audio/jobs/{job_id}")).json()
        assert job["status"] == "cancelled"


@pytest.mark.service
async def test_screenshot_renders_the_live_screen(service: Service) -> None:
    svg = await render(service.base_url, API_KEY, SIZE, wait_s=20)
    assert svg.startswith("<svg") and _worker_id(service) in svg


def _labels(table: RowsTable) -> list[str]:
    return [str(column.label) for column in table.columns.values()]


async def test_tables_fit_80x24_with_the_important_columns_first() -> None:
    app = AudioTUIApp(f"http://127.0.0.1:{free_port()}", "any-key", refresh_s=5)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        screen = _audio_screen(app)
        for table in screen.query(RowsTable):
            width = sum(c.get_render_width(table) for c in table.columns.values())
            assert width <= table.scrollable_content_region.width, table.id
        workers, models = screen.query_one(WorkersTable), screen.query_one(ModelsTable)
        assert _labels(workers)[:3] == ["Worker", "Device", "Used / budget"]
        assert _labels(models)[:3] == ["Model", "Worker", "Size"]
        assert len(_labels(models)) < len(ModelsTable.COLUMNS)
        assert "more column" in str(models.border_subtitle)

        await pilot.resize_terminal(160, 50)
        await pilot.pause(0.2)
        assert len(_labels(models)) == len(ModelsTable.COLUMNS)
        assert "more column" not in str(models.border_subtitle)


def test_columns_that_fit() -> None:
    from neuraldrive_audio.tui.widgets import columns_that_fit

    assert columns_that_fit([10, 10, 10], 24) == 2
    assert columns_that_fit([10, 10, 10], 36) == 3
    assert columns_that_fit([50], 20) == 1  # the first column always shows


async def test_footer_says_quit_standalone_and_back_when_pushed() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    app = AudioTUIApp(url, "any-key", refresh_s=5)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        screen = _audio_screen(app)
        assert app.active_bindings["q"].binding.description == "Quit"

        pushed = AudioScreen(url, "any-key", refresh_s=5)
        await app.push_screen(pushed)
        await pilot.pause(0.1)
        assert app.active_bindings["q"].binding.description == "Back"
        await pilot.press("q")
        await _until(pilot, lambda: app.screen is screen, "back on the first screen")
        await pilot.press("q")
    assert app.return_code == 0
