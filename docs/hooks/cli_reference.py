"""MkDocs hook: the `phyper` command's reference, generated from its argparse definitions.

A page holding the line ``<!-- phyper-commands -->`` gets, in its place, one section
per subcommand (usage, description, every argument), read from
``phyper._cli.build_parser()`` at build time: a new subcommand or option appears in
the site without anyone editing the page.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

MARKER = "<!-- phyper-commands -->"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _argument(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(action.option_strings)
        takes_value = action.nargs != 0
        if takes_value:
            metavar = action.metavar or action.dest.upper()
            names += f" {metavar}" + (" ..." if action.nargs in ("+", "*") else "")
        return names
    name = str(action.metavar or action.dest)
    return f"[{name}]" if action.nargs == "?" else name


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section(name: str, sub: argparse.ArgumentParser, summary: str) -> list[str]:
    usage = " ".join(sub.format_usage().split())
    usage = usage.removeprefix("usage: ")
    lines = [f"## `phyper {name}`", "", f"*{summary}*", "", "```text", usage, "```", "", sub.description or "", ""]
    lines += ["| argument | meaning |", "|---|---|"]
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        meaning = action.help or ""
        if action.default not in (None, False, [], argparse.SUPPRESS) and "default" not in meaning:
            meaning += f" (default: `{action.default}`)"
        lines.append(f"| `{_cell(_argument(action))}` | {_cell(meaning)} |")
    return [*lines, ""]


def commands_markdown() -> str:
    """Every subcommand of ``phyper``, in the order ``phyper --help`` lists them."""
    from phyper._cli import build_parser

    # argparse wraps help at the terminal's width: the same width on every machine
    os.environ["COLUMNS"] = "100"
    parser = build_parser()
    summaries = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {choice.dest: choice.help or "" for choice in action._choices_actions}
    lines = ["```text", parser.format_help().strip(), "```", ""]
    for name, sub in _subcommands(parser).items():
        lines += _section(name, sub, summaries.get(name, ""))
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the marker with the generated reference (MkDocs calls this for every page)."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, commands_markdown())
