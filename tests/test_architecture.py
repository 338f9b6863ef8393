"""The package's dependency rules, checked on the source (every import, also lazy ones).

- media/ imports nothing else of neuraldrive_audio (pure audio and text code);
- api/ never imports workers/, and workers/ never imports api/;
- engines/ (the plug-ins) import nothing from api/, workers/, cli/ or tui/: they get
  their settings and device from whoever loads them;
- nothing is a top-level ``queue`` package (it would shadow the standard library's).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import neuraldrive_audio

PACKAGE = Path(neuraldrive_audio.__file__).parent
ROOT = "neuraldrive_audio"

# (the importing part, the parts it must not import)
RULES = {
    "media": {"*"},
    "api": {"workers"},
    "workers": {"api"},
    "engines": {"api", "workers", "cli", "tui"},
}


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package_dir: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    module = _module_name(path, package_dir)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            # ``from neuraldrive_audio import workers`` imports a part by its name.
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def _part(module: str) -> str | None:
    """``neuraldrive_audio.api.app`` -> ``api``; None outside the package."""
    parts = module.split(".")
    if parts[0] != ROOT:
        return None
    return parts[1] if len(parts) > 1 else ""


def violations(part: str, package: Path = PACKAGE) -> list[str]:
    """Imports in ``part`` that break its rule, as ``file:line -> module``."""
    forbidden = RULES[part]
    found = []
    for path in sorted((package / part).rglob("*.py")):
        for line, imported in _imports(path, package):
            target = _part(imported)
            if target == part or target is None:
                continue
            if "*" in forbidden or target in forbidden:
                found.append(f"{path.relative_to(package.parent)}:{line} -> {imported}")
    return found


@pytest.mark.parametrize("part", sorted(RULES))
def test_dependency_rule(part: str) -> None:
    assert (PACKAGE / part).is_dir()
    assert violations(part) == []


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    """The walk finds absolute, relative, lazy and ``from package import part`` imports."""
    fake = tmp_path / ROOT
    (fake / "media").mkdir(parents=True)
    (fake / "media" / "bad.py").write_text(
        "from neuraldrive_audio.queue import keys\n"
        "def f() -> None:\n"
        "    from ..workers import state\n"
        "from neuraldrive_audio import config\n"
        "from neuraldrive_audio.media import samples\n"
    )
    assert sorted(v.rsplit(" -> ", 1)[1] for v in violations("media", fake)) == [
        "neuraldrive_audio",
        "neuraldrive_audio.config",
        "neuraldrive_audio.queue",
        "neuraldrive_audio.queue.keys",
        "neuraldrive_audio.workers",
        "neuraldrive_audio.workers.state",
    ]


def test_no_top_level_queue_package() -> None:
    repo = PACKAGE.parent
    assert not (repo / "queue").exists() and not (repo / "queue.py").exists()


def test_asking_the_registry_loads_no_engine_runtime() -> None:
    """The API and the CLI read every plug-in; the runtimes load only with a model.

    (The API process may still load ONNX Runtime for the realtime VAD; that is its own
    choice, not the price of asking about engines.)
    """
    code = (
        "import sys\n"
        "from neuraldrive_audio.cli import build_parser\n"
        "from neuraldrive_audio.engines import registry\n"
        "build_parser()\n"
        "assert [p.name for p in registry.plugins()][:3] == ['whisper', 'piper', 'kokoro']\n"
        "heavy = ['onnxruntime', 'faster_whisper', 'ctranslate2', 'kokoro_onnx', 'piper', 'av']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
