"""What a ``phyper`` subcommand declares: its name, help, options and function.

Each family module (`._running`, `._results`, `._maintenance`) lists
its `Command` objects in ``COMMANDS``, each declared next to its function,
as doit's commands declare ``cmd_options``; `phyper._cli` assembles the parser
from them. A command function gets the loaded pipeline and the parsed arguments and
returns an `phyper._cli._output.Output`; it prints nothing itself.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from phyper._cli._loading import DEFAULT_PIPELINE
from phyper._cli._output import Output
from phyper._planning.pipeline import Pipeline

__all__ = ["JSON", "PIPELINE_SPEC", "Command", "Option", "option"]


@dataclass(frozen=True)
class Option:
    """One ``add_argument`` call: its flags (or positional name) and its settings."""

    flags: tuple[str, ...]
    settings: dict[str, Any]

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Declare this option on ``parser``."""
        parser.add_argument(*self.flags, **self.settings)


def option(*flags: str, **settings: Any) -> Option:
    """An option, spelled as ``argparse.ArgumentParser.add_argument`` takes it."""
    return Option(flags, settings)


@dataclass(frozen=True)
class Command:
    """A subcommand: ``function(pipeline, arguments)`` computes its `Output`."""

    name: str
    function: Callable[[Pipeline, argparse.Namespace], Output]
    summary: str
    description: str
    options: tuple[Option, ...] = ()
    passthrough: str | None = None
    """The attribute that receives the words after ``--`` (for the engine), if the command takes them."""


PIPELINE_SPEC = option(
    "spec",
    nargs="?",
    metavar="PIPELINE",
    default=None,
    help=f"MODULE:ATTRIBUTE of the pipeline (same as --pipeline; default {DEFAULT_PIPELINE})",
)
"""The 0.x positional form ``phyper status pipeline:pipeline``, kept for run, status and plan."""

JSON = option("--json", action="store_true", help="print stable JSON (for scripts) instead of text")
