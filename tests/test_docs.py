"""The documentation site: it builds with ``mkdocs build --strict`` (a broken link or anchor
fails), and every code block of its pages is run or checked, so the pages cannot drift.

A block with a language is preceded by ``<!-- check: NAME -->`` naming how it is tested:

- ``run``: a Python program, run against a real service (API and worker processes);
  ``run-agent``: the same against an API that talks to the LLM stand-in;
- ``syntax``: a Python fragment (names like ``KEY`` left to the reader): it compiles, and
  every module and name it imports exists;
- ``commands``: shell commands; each one's program must exist and its arguments parse
  (``neuraldrive-audio`` through its real argument parser, scripts by path, systemd units by
  name), without running them;
- ``env-file``: ``KEY=value`` lines; ours must be real settings that accept the value;
- ``plugin``: the engine plug-in declaration, against ``EnginePlugin`` and the tone engine;
- ``tui-screen``: NeuralDrive's TUI wiring, built with the real ``AudioScreen``;
- ``layout``: every directory and file a layout tree names exists;
- ``unit-drop-in``: systemd directives that our units use;
- ``caddyfile``: NeuralDrive's Caddyfile with the import line, adapted by the real Caddy;
- ``redis-conf``: a Redis configuration that a real ``redis-server`` starts with.

Blocks without a language (diagrams) need no check. The README's blocks are run by
``tests/test_readme.py``.
"""

from __future__ import annotations

import ast
import configparser
import contextlib
import dataclasses
import importlib
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.harness import API_KEY, Service, free_port

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
CHECKS = frozenset(
    {"run", "run-agent", "syntax", "commands", "env-file", "plugin", "tui-screen", "layout",
     "unit-drop-in", "caddyfile", "redis-conf"}
)  # fmt: skip
NEURALDRIVE_UNITS = frozenset({"neuraldrive-caddy"})
"""The appliance's own units that our pages name (not ours to ship)."""


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str
    line: int
    language: str
    check: str | None
    code: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def page_blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` with the check named just above each."""
    lines = page.read_text().splitlines()
    found, index = [], 0
    while index < len(lines):
        opening = re.match(r"^```(\S*)\s*$", lines[index])
        if not opening:
            index += 1
            continue
        end = lines.index("```", index + 1)
        above = next((line for line in reversed(lines[:index]) if line.strip()), "")
        check = re.fullmatch(r"<!-- check: ([\w-]+) -->", above.strip())
        found.append(
            Block(page.name, index + 1, opening.group(1), check.group(1) if check else None,
                  "\n".join(lines[index + 1 : end]) + "\n")
        )  # fmt: skip
        index = end + 1
    return found


BLOCKS = [block for page in PAGES for block in page_blocks(page)]


def blocks(check: str) -> list[Block]:
    return [block for block in BLOCKS if block.check == check]


def by_id(block_list: list[Block]) -> dict[str, object]:
    return {"argvalues": block_list, "ids": [str(b) for b in block_list]}


# --- the site ----------------------------------------------------------------------------


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """Every page in the nav, every relative link and anchor resolving."""
    result = subprocess.run(
        # No -q: mkdocs counts strict-mode warnings only when it logs them.
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").exists()


def test_every_block_with_a_language_names_a_check() -> None:
    unchecked = [str(b) for b in BLOCKS if b.language and b.check not in CHECKS]
    assert unchecked == [], "add <!-- check: ... --> above these blocks"
    assert len(BLOCKS) > 20


def test_the_readme_links_resolve() -> None:
    readme = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    missing = [t for t in targets if "://" not in t and not (REPO / t).exists()]
    assert missing == []
    assert len(readme.splitlines()) <= 200


def test_python_blocks_compile() -> None:
    for block in BLOCKS:
        if block.language == "python":
            compile(block.code, str(block), "exec")


# --- checks without a service ------------------------------------------------------------


@pytest.mark.parametrize("block", **by_id(blocks("syntax")))  # type: ignore[arg-type]
def test_fragments_import_what_exists(block: Block) -> None:
    tree = ast.parse(block.code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    importlib.import_module(f"{node.module}.{alias.name}")  # a submodule


def logical_lines(code: str) -> list[str]:
    """Shell lines with backslash continuations joined, comments and blanks dropped."""
    joined = code.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def unit_files() -> set[str]:
    return {path.name for path in (REPO / "systemd").iterdir()}


def unit_exists(name: str) -> bool:
    units = unit_files()
    if name in NEURALDRIVE_UNITS:
        return True
    if "*" in name:
        pattern = re.compile(re.escape(name).replace(r"\*", ".*"))
        return any(pattern.match(unit) for unit in units)
    name = name if "." in name.split("@")[-1] else f"{name}.service"
    template = re.sub(r"@[^.]+\.", "@.", name)
    return name in units or template in units


def check_command(tokens: list[str]) -> None:
    while tokens and re.fullmatch(r"[A-Z_]+=.*", tokens[0]):
        tokens = tokens[1:]  # VAR=value prefixes
    if tokens[0] == "sudo":
        tokens = tokens[1:]
    program, args = tokens[0], tokens[1:]
    if Path(program).name == "neuraldrive-audio":
        from neuraldrive_audio.cli import build_parser

        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            try:
                build_parser().parse_args(args)
            except SystemExit as refused:
                raise AssertionError(f"{shlex.join(tokens)}: {stderr.getvalue()}") from refused
    elif Path(program).name in ("python", "python3"):
        if args[0] == "-m":
            assert importlib.util.find_spec(args[1]) is not None, args[1]
        else:
            assert (REPO / args[0]).is_file(), args[0]
    elif program == "systemctl":
        units = [a for a in args[1:] if not a.startswith("-")]
        assert units, tokens
        for unit in units:
            assert unit_exists(unit), unit
    elif program == "journalctl":
        assert all(unit_exists(a) for a in args if not a.startswith("-") and a != "-u"), args
    elif "/" in program:
        assert (REPO / program).is_file(), program
    else:
        raise AssertionError(f"unknown program {program!r}: teach tests/test_docs.py to check it")


@pytest.mark.parametrize("block", **by_id(blocks("commands")))  # type: ignore[arg-type]
def test_commands_exist_and_parse(block: Block) -> None:
    for line in logical_lines(block.code):
        check_command(shlex.split(line, comments=True))


def env_lines(block: Block) -> dict[str, str]:
    pairs = {}
    for line in logical_lines(block.code):
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"{block}: {line}"
        pairs[key] = value
    return pairs


@pytest.mark.parametrize("block", **by_id(blocks("env-file")))  # type: ignore[arg-type]
def test_env_files_set_real_settings(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    from neuraldrive_audio.config import Settings
    from neuraldrive_audio.config_reference import documented_settings

    known = {env: s.name for s in documented_settings() for env in s.env}
    ours = {k: v for k, v in env_lines(block).items() if k.startswith("NEURALDRIVE_")}
    for key, value in ours.items():
        assert key in known, f"{block}: {key} is not a setting"
        monkeypatch.setenv(key, value.replace("<the password>", "secret"))
    settings = Settings()
    for key, value in ours.items():
        written = value.replace("<the password>", "secret")
        with contextlib.suppress(json.JSONDecodeError):
            written = json.loads(written)
        in_effect = getattr(settings, known[key])
        assert in_effect == written or str(in_effect) == written, f"{block}: {key}"


def test_the_plugin_block_names_every_field() -> None:
    (block,) = blocks("plugin")
    from neuraldrive_audio.engines.plugin import EnginePlugin
    from tests import tone_engine

    namespace = dict(vars(tone_engine))
    exec(compile(block.code, str(block), "exec"), namespace)
    declared: EnginePlugin = namespace["PLUGIN"]
    fields = {f.name for f in dataclasses.fields(EnginePlugin)}
    keywords = set(re.findall(r"^\s+(\w+)=", block.code, flags=re.M))
    assert keywords == fields
    assert declared == tone_engine.PLUGIN


def test_the_tui_screen_block_wires_the_real_screen() -> None:
    (block,) = blocks("tui-screen")
    from neuraldrive_audio.tui.screens import AudioScreen

    namespace: dict[str, object] = {}
    exec(compile(block.code, str(block), "exec"), namespace)
    tui = namespace["NeuralDriveTUI"]
    assert tui.SCREENS["audio"] is AudioScreen  # type: ignore[attr-defined]
    assert any("switch_screen('audio')" in str(b) for b in tui.BINDINGS)  # type: ignore[attr-defined]
    AudioScreen()  # no required arguments


def test_layout_trees_name_what_exists() -> None:
    for block in blocks("layout"):
        parent = REPO
        for line in block.code.splitlines():
            indent = len(line) - len(line.lstrip())
            if indent > 2 or not line.strip():
                continue  # a description's continuation
            names = line.strip().split("  ")[0].split()  # the names before the description
            base = REPO if indent == 0 else parent
            for name in names:
                assert (base / name).exists(), f"{block}: {name} in {base}"
            if indent == 0:
                parent = REPO / names[0]


def test_unit_drop_ins_use_our_units_directives() -> None:
    used = set()
    for path in (REPO / "systemd").glob("*.service"):
        used |= set(re.findall(r"^(\w+)=", path.read_text(), flags=re.M))
    for block in blocks("unit-drop-in"):
        parser = configparser.ConfigParser(strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(block.code)
        assert parser.sections() == ["Service"], block
        unknown = set(parser["Service"]) - used
        assert unknown == set(), f"{block}: {unknown}"


@pytest.mark.parametrize("block", **by_id(blocks("caddyfile")))  # type: ignore[arg-type]
def test_the_caddyfile_imports_the_installed_snippet(block: Block, tmp_path: Path) -> None:
    installer = (REPO / "deploy" / "install.sh").read_text()
    (conf_dir,) = re.findall(r"^CONF_DIR=(\S+)$", installer, flags=re.M)
    installed = installer.replace("$CONF_DIR", conf_dir)
    (imported,) = re.findall(r"import (\S+)", block.code)
    snippet_dir = str(Path(imported).parent)
    assert f"{snippet_dir}/neuraldrive-audio.caddy" in installed, "not where install.sh puts it"
    if shutil.which("caddy") is None:
        pytest.skip("caddy is not installed")
    (tmp_path / "caddy.d").mkdir()
    shutil.copy(REPO / "caddy" / "neuraldrive-audio.caddy", tmp_path / "caddy.d")
    config = block.code.replace(snippet_dir, str(tmp_path / "caddy.d")).replace("\t...\n", "")
    config += "\trespond 404\n}\n"
    (tmp_path / "Caddyfile").write_text(config)
    result = subprocess.run(
        ["caddy", "adapt", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True, text=True, env={"NEURALDRIVE_API_KEY": "k", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "/v1/audio/" in result.stdout


@pytest.mark.service
def test_redis_starts_with_the_documented_config(tmp_path: Path) -> None:
    """The TLS listener of docs/multi-host.md, with material made by deploy/redis-listen.sh:
    a worker with the client certificate gets in, one without it does not."""
    (block,) = blocks("redis-conf")
    if shutil.which("redis-server") is None or shutil.which("openssl") is None:
        pytest.skip("redis-server and openssl are needed")
    port = free_port()
    made = {"CONF_DIR": str(tmp_path), "LISTEN_ADDR": "127.0.0.1", "LISTEN_PORT": str(port)}
    subprocess.run([str(REPO / "deploy" / "redis-listen.sh")], env={**os.environ, **made},
                   check=True, capture_output=True)  # fmt: skip
    config = block.code.replace("/etc/neuraldrive", str(tmp_path))
    config = re.sub(r"^tls-port \d+", f"tls-port {port}", config, flags=re.M)
    config = re.sub(r"^bind \S+", "bind 127.0.0.1", config, flags=re.M)
    (tmp_path / "redis.conf").write_text(f"port 0\n{config}dir {tmp_path}\n")
    server = subprocess.Popen(["redis-server", str(tmp_path / "redis.conf")],
                              stdout=subprocess.DEVNULL)  # fmt: skip
    url = (tmp_path / "remote-worker" / "audio.conf").read_text().split("REDIS_URL=")[1].split()[0]
    tls = tmp_path / "redis-tls"
    ca = {"ssl_ca_certs": str(tls / "ca.crt"), "ssl_cert_reqs": "required"}
    try:
        client = redis.Redis.from_url(url, ssl_certfile=str(tls / "worker.crt"),
                                      ssl_keyfile=str(tls / "worker.key"), **ca)  # fmt: skip
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError):
                assert client.ping()
                break
            assert server.poll() is None, "redis-server refused the configuration"
            time.sleep(0.05)
        else:
            raise AssertionError("redis-server did not answer")
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(url, **ca).ping()  # no client certificate
    finally:
        server.terminate()
        server.wait(timeout=10)


# --- programs run against a real service -------------------------------------------------


def wav_bytes(samples: bytes, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples)
    return buffer.getvalue()


def audio_files(directory: Path) -> None:
    """The files the examples read: ``meeting.wav`` and ``question.wav`` as recorded,
    ``*-24k.wav`` at the Realtime API's 24 kHz."""
    from tests.realtime_audio import sentence_pcm
    from tests.speech_clips import SENTENCES, make_clip

    (directory / "meeting.wav").write_bytes(make_clip(" ".join(SENTENCES[:2])))
    speech = sentence_pcm(SENTENCES[0]).tobytes()
    (directory / "speech-24k.wav").write_bytes(wav_bytes(speech, 24000))
    question = "What is the capital of France?"
    (directory / "question.wav").write_bytes(make_clip(question))
    (directory / "question-24k.wav").write_bytes(wav_bytes(sentence_pcm(question).tobytes(), 24000))


def run_program(block: Block, base_url: str, directory: Path) -> str:
    audio_files(directory)
    code = block.code.replace("http://127.0.0.1:8001", base_url)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=directory, capture_output=True, text=True, timeout=240,
        env={"KEY": API_KEY, "PATH": "/usr/bin:/bin", "HOME": str(directory)},
    )  # fmt: skip
    assert result.returncode == 0, f"{block}:\n{result.stderr[-3000:]}"
    assert result.stdout.strip(), block
    return result.stdout


@pytest.mark.service
@pytest.mark.parametrize("block", **by_id(blocks("run")))  # type: ignore[arg-type]
def test_programs_run(block: Block, service: Service, tmp_path: Path) -> None:
    run_program(block, service.base_url, tmp_path)


@pytest.mark.service
@pytest.mark.parametrize("block", **by_id(blocks("run-agent")))  # type: ignore[arg-type]
def test_agent_programs_run(block: Block, agent: Service, llm: object, tmp_path: Path) -> None:
    run_program(block, agent.base_url, tmp_path)
    with wave.open(str(tmp_path / "answer.wav")) as answer:  # both examples save the answer
        assert answer.getnframes() > answer.getframerate() // 4
