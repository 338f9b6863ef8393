"""`neuraldrive-audio speak -o FILE`: the audio format follows the file's extension."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuraldrive_audio.cli.failures import CommandFailed, ExitCode
from neuraldrive_audio.cli.speech_format import output_format
from tests.harness import API_KEY, Service
from tests.test_cli import one_line_error, run_cli


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hello.wav", "wav"),
        ("hello.WAV", "wav"),
        ("hello.mp3", "mp3"),
        ("hello.flac", "flac"),
        ("hello.opus", "opus"),
        ("hello.ogg", "opus"),
        ("hello.aac", "aac"),
        ("hello.pcm", "pcm"),
        ("hello.raw", "pcm"),
        ("hello", "mp3"),
        ("hello.bin", "mp3"),
    ],
)
def test_the_extension_chooses_the_format(name: str, expected: str) -> None:
    assert output_format(Path(name), None) == expected


def test_format_wins_where_the_extension_says_nothing() -> None:
    assert output_format(Path("hello.bin"), "wav") == "wav"
    assert output_format(Path("hello"), "flac") == "flac"
    assert output_format(Path("hello.wav"), "wav") == "wav"
    assert output_format(Path("hello.ogg"), "opus") == "opus"


def test_a_contradiction_is_refused() -> None:
    with pytest.raises(CommandFailed) as failure:
        output_format(Path("hello.wav"), "mp3")
    assert failure.value.code == ExitCode.USAGE
    assert "hello.wav" in str(failure.value) and "mp3" in str(failure.value)


def test_the_command_refuses_a_contradiction_before_calling(tmp_path: Path) -> None:
    # No service anywhere: the refusal comes first, as a usage error.
    result = run_cli(
        "speak", "Hi.", "-o", str(tmp_path / "hello.wav"), "--format", "mp3",
        "--url", "http://127.0.0.1:9", data_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == ExitCode.USAGE
    assert "--format mp3" in one_line_error(result)
    assert not (tmp_path / "hello.wav").exists()


@pytest.mark.service
def test_speak_into_a_wav_file_writes_wav(service: Service, tmp_path: Path) -> None:
    env = {"NEURALDRIVE_API_KEY": API_KEY, "NEURALDRIVE_AUDIO_URL": service.base_url}
    out = tmp_path / "hello.wav"
    result = run_cli("speak", "Hi there.", "-o", str(out), "--model", "piper/en_US-joe-medium",
                     data_dir=tmp_path, **env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:4] == b"RIFF"
    flac = tmp_path / "hello.flac"
    result = run_cli("speak", "Hi there.", "-o", str(flac), "--model", "piper/en_US-joe-medium",
                     data_dir=tmp_path, **env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert flac.read_bytes()[:4] == b"fLaC"
