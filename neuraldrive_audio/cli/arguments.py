"""Building blocks of the command line shared by every subcommand module."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

Parser = argparse.ArgumentParser

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

URL_HELP = (
    "service base URL (default: NEURALDRIVE_AUDIO_URL, else the running serve's, "
    "else http://HOST:PORT from the settings)"
)


def url_option(parser: argparse.ArgumentParser) -> None:
    """``--url`` on a client command; SUPPRESS keeps a ``--url`` given earlier on the line."""
    parser.add_argument("--url", default=argparse.SUPPRESS, help=URL_HELP)


def command(sub: Subcommands, name: str, summary: str, details: str = "") -> Parser:
    """A subcommand whose ``--help`` starts with its summary (and ``details`` if given)."""
    description = summary[0].upper() + summary[1:] + "." + (f" {details}" if details else "")
    parser: Parser = sub.add_parser(name, help=summary, description=description)
    return parser
