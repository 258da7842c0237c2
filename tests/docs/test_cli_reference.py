"""The `phyper` command's page is generated from the argparse definitions (docs/hooks/cli_reference.py)."""

from __future__ import annotations

import argparse
import importlib.util
from types import ModuleType

from engines import REPO


def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference", REPO / "docs" / "hooks" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_holds_the_marker_the_hook_replaces() -> None:
    page = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    reference = hook()

    rendered = reference.on_page_markdown(page, None, None, None)

    assert 1 == page.count(reference.MARKER)
    assert reference.MARKER not in rendered
    assert rendered.endswith(reference.commands_markdown() + "\n")


def test_every_subcommand_and_option_is_in_the_generated_reference() -> None:
    from phyper._cli import build_parser

    markdown = hook().commands_markdown()
    (subcommands,) = [action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)]
    missing = [
        f"{name} {option}"
        for name, sub in subcommands.choices.items()
        for action in sub._actions
        if not isinstance(action, argparse._HelpAction)  # -h, --help: the same for every command
        for option in action.option_strings or [str(action.metavar or action.dest)]
        if f"`phyper {name}`" not in markdown or option not in markdown.split(f"## `phyper {name}`")[1].split("## ")[0]
    ]

    assert [] == missing
    assert len(subcommands.choices) == markdown.count("## `phyper ")
