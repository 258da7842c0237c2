"""The ``phyper`` command: find, understand, collect, clean up and migrate results.

``python -m phyper COMMAND`` or ``phyper COMMAND``, from the folder holding
``pipeline.py`` (or with ``--pipeline MODULE:ATTRIBUTE``). The commands live by
family, each declared next to its function: `._running` (run, status, plan),
`._results` (ls, show, view, collect), `._maintenance` (gc, migrate), `._search` (search run, search show). This
module assembles the argument parser from those declarations, loads the pipeline,
renders what the command returns and turns errors into one line and an exit status.
The hyperparameter model and the pipeline runtime never import it.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from phyper._cli import _maintenance, _results, _running, _search
from phyper._cli._command import Command
from phyper._cli._loading import DEFAULT_PIPELINE, PipelineImportError, load
from phyper._cli._output import render
from phyper._errors import PhyperError, did_you_mean

__all__ = ["COMMANDS", "DEFAULT_PIPELINE", "PipelineImportError", "build_parser", "main"]

COMMANDS: tuple[Command, ...] = (*_running.COMMANDS, *_results.COMMANDS, *_maintenance.COMMANDS, *_search.COMMANDS)
"""Every subcommand, in the order ``phyper --help`` lists them."""

EXIT_ERROR = 2


def _version() -> str:
    from phyper import __version__

    return __version__


def _common_options() -> argparse.ArgumentParser:
    """The options every command takes."""
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument(
        "--pipeline",
        metavar="MODULE:ATTRIBUTE",
        default=None,
        help=f"the phyper.Pipeline to use, imported from the current folder (default: {DEFAULT_PIPELINE})",
    )
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return common


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """The argument parser of every command (``--help`` describes each argument)."""
    # allow_abbrev=False everywhere: `phyper gc --delet` must not be taken for --delete
    parser = argparse.ArgumentParser(
        prog="phyper",
        allow_abbrev=False,
        description="Run and inspect a phyper pipeline's results: "
        f"{', '.join(command.name for command in commands)}.",
        epilog="Run from the folder holding pipeline.py, or pass --pipeline MODULE:ATTRIBUTE. "
        "`phyper COMMAND --help` describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"phyper {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common_options()
    for command in commands:
        sub = subparsers.add_parser(
            command.name, parents=[common], help=command.summary, description=command.description,
            allow_abbrev=False,
        )
        for declared in command.options:
            declared.add_to(sub)
        sub.set_defaults(command_declaration=command, command_parser=sub)
    return parser


COMMON_FLAGS = ("--pipeline", "--debug", "--help", "-h")
"""The options every command takes (see `_common_options`), for "did you mean"."""


def _parse(parser: argparse.ArgumentParser, words: list[str], commands: Sequence[Command]) -> argparse.Namespace:
    """Parse ``words``, with "did you mean" for a mistyped command or option.

    For a command that takes them (its ``passthrough``), the words after ``--`` are not
    parsed: they go to that attribute as they are. argparse exits with status 2 and its
    usage on a mistake; these say what was meant (Python 3.11's argparse has no
    ``suggest_on_error``).
    """
    names = [command.name for command in commands]
    head, tail = words, None
    if "--" in words:
        at = words.index("--")
        head, tail = words[:at], words[at + 1:]
    given = next((word for word in head if not word.startswith("-")), None)
    if given is not None and given not in names:
        parser.error(f"unknown command `{given}`{did_you_mean(given, names)} (commands: {', '.join(names)})")
    if tail is not None:
        known, _ = parser.parse_known_args(head)
        declared: Command | None = getattr(known, "command_declaration", None)
        if declared is None or declared.passthrough is None:
            head, tail = words, None  # `--` means what argparse says it means
    arguments, extras = parser.parse_known_args(head)
    if extras:
        command: Command = arguments.command_declaration
        flags = [flag for option in command.options for flag in option.flags if flag.startswith("-")]
        first = extras[0]
        hint = did_you_mean(first.partition("=")[0], [*flags, *COMMON_FLAGS]) if first.startswith("-") else ""
        more = f" (and {' '.join(extras[1:])})" if len(extras) > 1 else ""
        arguments.command_parser.error(
            f"unrecognized argument `{first}`{more}{hint} (`phyper {command.name} --help` lists the options)"
        )
    if tail is not None:
        setattr(arguments, arguments.command_declaration.passthrough, tail)
    return arguments


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m phyper`` and of the ``phyper`` script; returns the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    arguments = _parse(build_parser(), words, COMMANDS)
    command: Command = arguments.command_declaration
    try:
        pipeline = load(getattr(arguments, "spec", None), arguments.pipeline)
        pipeline.state.forget_warnings()  # each command warns once about a damaged job log
        return render(command.function(pipeline, arguments), getattr(arguments, "json", False))
    except (PhyperError, PipelineImportError) as error:
        if arguments.debug:
            traceback.print_exception(error)
        name = "" if isinstance(error, PipelineImportError) else f"{type(error).__name__}: "
        print(f"phyper: {name}{error}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # `phyper ls | head`: the reader went away, which is not an error
        sys.stderr.close()
        return 0
