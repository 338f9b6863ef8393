"""Every setting with its environment variable, default, docstring and current value.

Feeds ``neuraldrive-audio config`` and the settings table of ``docs/configuration.md`` (a
test regenerates the table and compares, so the docs cannot fall behind ``config.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from neuraldrive_audio.config import Settings

SECRETS = frozenset({"api_key", "webhook_secret"})
"""Settings whose current value is never printed, only whether it is set."""

TABLE_START = "<!-- settings table: neuraldrive-audio config --markdown -->"
TABLE_END = "<!-- end of settings table -->"


@dataclass(frozen=True)
class SettingDoc:
    """One setting as documented."""

    name: str
    env: list[str]
    type: str
    default: str
    doc: str


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, Path):
        # A per-user default: show it relative to whoever reads it.
        return str(value).replace(str(Path.home()), "~", 1)
    if isinstance(value, dict | list | bool):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _env_names(name: str, info: FieldInfo) -> list[str]:
    aliases = getattr(info.validation_alias, "choices", None)
    if aliases:
        return [str(a) for a in aliases]
    return [f"{Settings.model_config.get('env_prefix', '')}{name}".upper()]


def _type_name(info: FieldInfo) -> str:
    text = (
        str(info.annotation) if not isinstance(info.annotation, type) else info.annotation.__name__
    )
    return re.sub(r"\b(?:pathlib|typing)\.", "", text.replace("<class '", "").replace("'>", ""))


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None if info.default is PydanticUndefined else info.default


def documented_settings() -> list[SettingDoc]:
    """Every field of ``Settings``, in declaration order."""
    return [
        SettingDoc(
            name=name,
            env=_env_names(name, info),
            type=_type_name(info),
            default=_shown(_default(info)),
            # Docstrings quote names reST-style (``x``); one backtick reads as code in both
            # a terminal and Markdown.
            doc=" ".join((info.description or "").split()).replace("``", "`"),
        )
        for name, info in Settings.model_fields.items()
    ]


def current_value(settings: Settings, name: str) -> str:
    """The value in effect, with secrets reduced to whether they are set."""
    value = getattr(settings, name)
    if name in SECRETS:
        return "set (hidden)" if value else "unset"
    return _shown(value)


def listing(settings: Settings) -> str:
    """The ``config`` command's output: one block per setting."""
    blocks = []
    for setting in documented_settings():
        current = current_value(settings, setting.name)
        mark = "" if current == setting.default else "   (changed)"
        blocks.append(
            f"{' / '.join(setting.env)}  [{setting.type}]\n"
            f"    current: {current}{mark}\n"
            f"    default: {setting.default}\n"
            f"    {setting.doc}"
        )
    return "\n\n".join(blocks) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table() -> str:
    """The settings table of ``docs/configuration.md`` (``TABLE_START`` to ``TABLE_END``)."""
    rows = [
        "| environment variable | default | what |",
        "|---|---|---|",
        *(
            f"| {' '.join(f'`{e}`' for e in s.env)} | `{_cell(s.default)}` | {_cell(s.doc)} |"
            for s in documented_settings()
        ),
    ]
    return "\n".join([TABLE_START, *rows, TABLE_END])
