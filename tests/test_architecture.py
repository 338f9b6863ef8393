"""The package's dependency rules, checked on the source (every import, also lazy ones).

- media/ imports nothing else of neuraldrive_audio (pure audio and text code);
- api/ never imports workers/, and workers/ never imports api/;
- engines/ (the plug-ins) import nothing from api/, workers/, cli/ or tui/: they get
  their settings and device from whoever loads them;
- service/ (the protocol-neutral speech service) imports no front door (api/, wyoming/),
  no client (cli/, tui/), no worker, and no web framework;
- front doors (api/, wyoming/) do not import one another, and none of them drives the
  queue itself: submitting a job and following its events is the service's job;
- no import cycle anywhere in the package (lazy and ``TYPE_CHECKING`` imports count);
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
    "api": {"workers", "wyoming"},
    "wyoming": {"workers", "api", "cli", "tui"},
    "workers": {"api", "wyoming", "service"},
    "engines": {"api", "wyoming", "service", "workers", "cli", "tui"},
    "service": {"api", "wyoming", "workers", "cli", "tui"},
}

# Parts another helper is building this round: their rule holds once they exist.
UPCOMING = {"wyoming"}

WEB_FRAMEWORKS = ("fastapi", "starlette", "websockets", "uvicorn")
# (the part, the third-party packages it must not import)
EXTERNAL_RULES = {"service": WEB_FRAMEWORKS}

FRONT_DOORS = ("api", "wyoming")
QUEUE_DRIVING_CALLS = {"submit", "follow"}
"""``JobQueue.submit`` / ``JobQueue.follow`` / ``queue.events.follow``: the service's."""

KNOWN_CYCLES: set[frozenset[str]] = set()
"""Import cycles tolerated for now (none: the realtime rewrite removed the last one)."""


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
    if part in UPCOMING and not (PACKAGE / part).is_dir():
        pytest.skip(f"{part}/ is not built yet")
    assert (PACKAGE / part).is_dir()
    assert violations(part) == []


def external_violations(part: str, package: Path = PACKAGE) -> list[str]:
    """Imports of forbidden third-party packages in ``part``, as ``file:line -> module``."""
    forbidden = EXTERNAL_RULES[part]
    return [
        f"{path.relative_to(package.parent)}:{line} -> {imported}"
        for path in sorted((package / part).rglob("*.py"))
        for line, imported in _imports(path, package)
        if imported.split(".")[0] in forbidden
    ]


@pytest.mark.parametrize("part", sorted(EXTERNAL_RULES))
def test_no_web_framework_below_the_front_doors(part: str) -> None:
    assert (PACKAGE / part).is_dir()
    assert external_violations(part) == []


def queue_driving(part: str, package: Path = PACKAGE) -> list[str]:
    """Calls of ``.submit(...)``/``.follow(...)`` and imports of the queue's ``follow`` in
    ``part``, as ``file:line -> name``."""
    found = []
    for path in sorted((package / part).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in QUEUE_DRIVING_CALLS
            ):
                found.append(
                    f"{path.relative_to(package.parent)}:{node.lineno} -> {node.func.attr}"
                )
            elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("queue.events"):
                found += [
                    f"{path.relative_to(package.parent)}:{node.lineno} -> {alias.name}"
                    for alias in node.names
                    if alias.name in QUEUE_DRIVING_CALLS
                ]
    return found


@pytest.mark.parametrize("part", FRONT_DOORS)
def test_front_doors_leave_the_job_lifecycle_to_the_service(part: str) -> None:
    if part in UPCOMING and not (PACKAGE / part).is_dir():
        pytest.skip(f"{part}/ is not built yet")
    assert queue_driving(part) == []


def test_the_queue_check_sees_a_front_door_driving_the_queue(tmp_path: Path) -> None:
    fake = tmp_path / ROOT
    (fake / "api").mkdir(parents=True)
    (fake / "api" / "bad.py").write_text(
        "from neuraldrive_audio.queue.events import follow\n"
        "async def f(queue, payload) -> None:\n"
        "    await queue.submit('speak', payload, 'job_1')\n"
        "    async for _ in queue.follow('job_1', 5.0):\n"
        "        pass\n"
    )
    assert sorted(v.rsplit(" -> ", 1)[1] for v in queue_driving("api", fake)) == [
        "follow", "follow", "submit",
    ]  # fmt: skip


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (every import: lazy, in functions,
    under ``TYPE_CHECKING``). ``from pkg import name`` counts as importing ``pkg.name``
    when that is a module, else ``pkg`` itself; a parent package is not counted for
    importing one of its modules (Python runs it first, whatever it imports)."""
    modules = {_module_name(path, package): path for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets |= _import_targets(node, name, path, modules)
        graph[name] = targets - {name}
    return graph


def _import_targets(node: ast.AST, module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:
        anchor = (module if path.name == "__init__.py" else module.rpartition(".")[0]).split(".")
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    found = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in modules:
            found.add(f"{base}.{alias.name}")
        elif base in modules:
            found.add(base)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(frozenset(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles() -> None:
    cycles = [sorted(c) for c in import_cycles(import_graph()) if c not in KNOWN_CYCLES]
    assert cycles == []


def test_known_cycles_are_still_there() -> None:
    """A known cycle that is gone must leave the list, so it cannot come back unseen."""
    assert set(import_cycles(import_graph())) >= KNOWN_CYCLES


def test_the_cycle_check_sees_a_cycle(tmp_path: Path) -> None:
    """A lazy import, a TYPE_CHECKING one and a relative one still close a loop."""
    fake = tmp_path / ROOT
    (fake / "part").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "part" / "__init__.py").write_text("")
    (fake / "part" / "a.py").write_text("from neuraldrive_audio.part import b\n")
    (fake / "part" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import thing\n"
    )
    (fake / "part" / "c.py").write_text("def thing() -> None:\n    from . import a\n")
    (fake / "part" / "d.py").write_text("from neuraldrive_audio.part import a\n")
    expected = {f"{ROOT}.part.a", f"{ROOT}.part.b", f"{ROOT}.part.c"}
    assert import_cycles(import_graph(fake)) == [frozenset(expected)]


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
