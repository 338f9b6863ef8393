"""Run the longest test files first, so the xdist processes finish together.

``scripts/test`` runs pytest with ``--dist loadfile --no-loadscope-reorder``: each file
stays on one process and files are handed out in collection order. (xdist's own reorder
hands out the files with the most tests first: the many fast unit files, leaving the few
long service files to the end, where one of them can end the run alone.) This plugin
orders the files by their measured seconds (``tests/file_seconds.json``), longest first,
the classic longest-processing-time schedule. A file not measured yet counts as long, so
it starts early rather than ending the run alone.

``pytest --record-file-seconds`` rewrites the JSON file from the run's own durations.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

SECONDS_FILE = Path(__file__).with_name("file_seconds.json")
UNMEASURED_S = 60.0
"""What a file missing from the record counts as: long enough to start early."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-file-seconds",
        action="store_true",
        help=f"write each test file's total seconds to {SECONDS_FILE.name} after the run",
    )


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _measured() -> dict[str, float]:
    if not SECONDS_FILE.exists():
        return {}
    seconds: dict[str, float] = json.loads(SECONDS_FILE.read_text())
    return seconds


@pytest.hookimpl(trylast=True)  # after the cost markers; only the order changes here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Sort by file, longest first; tests keep their order within a file."""
    measured = _measured()
    first_seen = {_file_of(item.nodeid): n for n, item in reversed(list(enumerate(items)))}

    def key(item: pytest.Item) -> tuple[float, int]:
        path = _file_of(item.nodeid)
        return (-measured.get(path, UNMEASURED_S), first_seen[path])

    items.sort(key=key)  # stable: the order inside a file is kept


class _Recorder:
    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[_file_of(report.nodeid)] += report.duration

    def pytest_sessionfinish(self) -> None:
        rounded = {path: round(s, 1) for path, s in sorted(self.seconds.items())}
        SECONDS_FILE.write_text(json.dumps(rounded, indent=1) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    # In an xdist run the controller sees every process' reports; the workers record nothing.
    worker = hasattr(config, "workerinput")
    if config.getoption("--record-file-seconds") and not worker:
        config.pluginmanager.register(_Recorder(), "file-seconds-recorder")
