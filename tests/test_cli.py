"""The command line as a user meets it: one-line failures, exit codes, --url, --version, help."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuraldrive_audio.cli.failures import ExitCode
from tests.harness import API_KEY, Service, free_port
from tests.speech_clips import SENTENCES, make_clip


def run_cli(
    *args: str, data_dir: Path, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """The command in a clean environment: nothing configured but the data dir."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEURALDRIVE")}
    clean.update(
        NEURALDRIVE_AUDIO_DATA_DIR=str(data_dir),
        NEURALDRIVE_AUDIO_API_KEY_FILE=str(data_dir / "no-such-key"),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "neuraldrive_audio.cli", *args],
        env=clean, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single ``error: …`` line a failure prints (and nothing like a traceback)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.wav"
    path.write_bytes(make_clip(SENTENCES[0]))
    return path


def test_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = run_cli("--version", data_dir=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"neuraldrive-audio {version('neuraldrive-audio')}"


def _parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_subcommand_and_option_has_help() -> None:
    from neuraldrive_audio.cli import build_parser

    missing = []
    for prog, parser in _parsers(build_parser()):
        assert parser.description or prog == "neuraldrive-audio", prog
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{prog} {c.dest}" for c in action._choices_actions if not c.help]
            elif not action.help:
                missing.append(f"{prog} {'/'.join(action.option_strings) or action.dest}")
        text = parser.format_help()
        assert "``" not in text, prog
    assert missing == []


def test_top_level_help_documents_exit_codes(tmp_path: Path) -> None:
    result = run_cli("--help", data_dir=tmp_path)
    assert result.returncode == 0
    assert "exit codes" in result.stdout and "``" not in result.stdout
    for command in ("serve", "transcribe", "speak", "jobs", "models", "config", "tui"):
        assert command in result.stdout


def test_no_service_is_one_line_naming_the_url(tmp_path: Path, clip: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("transcribe", str(clip), "--url", url, data_dir=tmp_path)
    assert result.returncode == ExitCode.UNREACHABLE
    line = one_line_error(result)
    assert f"no service answers at {url} (from --url)" in line
    assert "neuraldrive-audio serve" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["--url", "{url}", "jobs", "list"],
        ["jobs", "--url", "{url}", "list"],
        ["jobs", "list", "--url", "{url}"],
        ["--url", "{url}", "transcribe", "{clip}"],
        ["transcribe", "{clip}", "--url", "{url}"],
        ["speak", "Hi.", "-o", "{out}", "--url", "{url}"],
        ["--url", "{url}", "speak", "Hi.", "-o", "{out}"],
    ],
)
def test_url_is_accepted_before_and_after_the_subcommand(
    tmp_path: Path, clip: Path, argv: list[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    filled = [a.format(url=url, clip=clip, out=tmp_path / "o.mp3") for a in argv]
    result = run_cli(*filled, data_dir=tmp_path)
    assert result.returncode == ExitCode.UNREACHABLE
    assert f"no service answers at {url} (from --url)" in one_line_error(result)


def test_url_from_the_environment_and_from_a_running_serve(tmp_path: Path) -> None:
    env_url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("jobs", "list", data_dir=tmp_path, NEURALDRIVE_AUDIO_URL=env_url)
    assert f"no service answers at {env_url} (from NEURALDRIVE_AUDIO_URL)" in one_line_error(result)

    # What `serve --port N` leaves in the data dir while it runs.
    announced = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "api.url").write_text(announced + "\n")
    line = one_line_error(run_cli("jobs", "list", data_dir=tmp_path))
    assert f"no service answers at {announced} (from the running serve" in line

    (tmp_path / "run" / "api.url").unlink()
    line = one_line_error(
        run_cli("jobs", "list", data_dir=tmp_path, NEURALDRIVE_AUDIO_PORT="18201")
    )
    assert "no service answers at http://127.0.0.1:18201 (from NEURALDRIVE_AUDIO_HOST/PORT)" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["transcribe", "missing.wav"],
        ["speak", "-f", "missing.wav", "-o", "out.mp3"],
        ["jobs", "submit", "missing.wav"],
        ["models", "import", "missing.wav"],
    ],
)
def test_missing_input_file(tmp_path: Path, argv: list[str]) -> None:
    result = run_cli(*argv, data_dir=tmp_path, cwd=tmp_path)
    assert result.returncode == ExitCode.USAGE
    assert one_line_error(result) == "error: file not found: missing.wav"


def test_models_remove_unknown_names_the_installed_ones(tmp_path: Path) -> None:
    result = run_cli("models", "remove", "nope", data_dir=tmp_path)
    assert result.returncode == ExitCode.NOT_FOUND
    assert "no model nope is installed" in one_line_error(result)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    result = run_cli("transcribe", data_dir=tmp_path)
    assert result.returncode == ExitCode.USAGE and "Traceback" not in result.stderr
    assert run_cli("speak", "Hi.", data_dir=tmp_path).returncode == ExitCode.USAGE


@pytest.mark.service
def test_wrong_key_says_where_the_key_comes_from(service: Service, tmp_path: Path) -> None:
    result = run_cli("jobs", "list", "--url", service.base_url, data_dir=tmp_path,
                     NEURALDRIVE_API_KEY="wrong")  # fmt: skip
    assert result.returncode == ExitCode.UNAUTHORIZED
    line = one_line_error(result)
    assert "refused the API key" in line and "(in use: NEURALDRIVE_API_KEY)" in line


@pytest.mark.service
def test_unknown_model_and_job_name_the_valid_ones(
    service: Service, tmp_path: Path, clip: Path
) -> None:
    env = {"NEURALDRIVE_API_KEY": API_KEY}
    result = run_cli("transcribe", str(clip), "--model", "whisper-9", "--url", service.base_url,
                     data_dir=tmp_path, **env)  # fmt: skip
    assert result.returncode == ExitCode.NOT_FOUND
    line = one_line_error(result)
    assert "whisper-9" in line and "valid names:" in line and "whisper-1" in line

    result = run_cli("jobs", "status", "job_nope", "--url", service.base_url,
                     data_dir=tmp_path, **env)  # fmt: skip
    assert result.returncode == ExitCode.NOT_FOUND
    assert "job_nope" in one_line_error(result)


@pytest.mark.service
def test_transcribe_and_speak_succeed(service: Service, tmp_path: Path, clip: Path) -> None:
    env = {"NEURALDRIVE_API_KEY": API_KEY, "NEURALDRIVE_AUDIO_URL": service.base_url}
    result = run_cli("transcribe", str(clip), data_dir=tmp_path, **env)
    assert result.returncode == 0 and "weather" in result.stdout.lower()
    out = tmp_path / "hi.wav"
    result = run_cli("speak", "Hi there.", "-o", str(out), "--format", "wav",
                     "--model", "piper/en_US-joe-medium", data_dir=tmp_path, **env)  # fmt: skip
    assert result.returncode == 0 and out.read_bytes()[:4] == b"RIFF"


@pytest.mark.service
def test_output_into_a_directory_is_one_line(service: Service, tmp_path: Path) -> None:
    env = {"NEURALDRIVE_API_KEY": API_KEY, "NEURALDRIVE_AUDIO_URL": service.base_url}
    result = run_cli("speak", "Hi.", "-o", str(tmp_path), "--model", "piper/en_US-joe-medium",
                     data_dir=tmp_path, **env)  # fmt: skip
    assert result.returncode == ExitCode.FAILED
    assert "Is a directory" in one_line_error(result)
