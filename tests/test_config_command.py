"""``neuraldrive-audio config`` and the settings table of the docs (fast: no service)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuraldrive_audio.config import Settings
from neuraldrive_audio.config_reference import (
    TABLE_END,
    TABLE_START,
    documented_settings,
    markdown_table,
)

CONFIGURATION_PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_has_a_docstring() -> None:
    undocumented = [s.name for s in documented_settings() if len(s.doc) < 10]
    assert undocumented == []
    assert {s.name for s in documented_settings()} == set(Settings.model_fields)


def test_docs_table_is_regenerated_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    # The per-user data dir default is written for a plain Linux home: ~/.local/share/...
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    text = CONFIGURATION_PAGE.read_text()
    in_docs = text[text.index(TABLE_START) : text.index(TABLE_END) + len(TABLE_END)]
    assert in_docs == markdown_table(), "run: neuraldrive-audio config --markdown"
    assert len(in_docs.splitlines()) == len(Settings.model_fields) + 4


def _config(*args: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEURALDRIVE")}
    return subprocess.run(
        [sys.executable, "-m", "neuraldrive_audio.cli", "config", *args],
        env={**clean, **env}, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_config_shows_current_values_and_hides_secrets() -> None:
    out = _config(NEURALDRIVE_AUDIO_PORT="18201", NEURALDRIVE_API_KEY="sekrit-key-123")
    port_block = out[out.index("NEURALDRIVE_AUDIO_PORT  [int]") :].split("\n\n")[0]
    assert "current: 18201   (changed)" in port_block and "default: 8001" in port_block
    assert "Port the API binds to." in port_block
    assert "sekrit-key-123" not in out
    assert "current: set (hidden)" in out[out.index("NEURALDRIVE_API_KEY") :]
    assert "``" not in out
    assert out.count("\n    default: ") == len(Settings.model_fields)


def test_config_markdown_is_the_table() -> None:
    assert _config("--markdown").strip().startswith(TABLE_START)
