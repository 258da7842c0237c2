"""The ``phyper`` command: find, understand, collect, clean up and migrate results.

``python -m phyper COMMAND`` or ``phyper COMMAND``, from the folder holding
``pipeline.py`` (or with ``--pipeline MODULE:ATTRIBUTE``). One function per command
lives in :mod:`phyper._cli._commands`; this module builds the argument parser, loads
the pipeline and turns errors into one line and an exit status. The hyperparameter
model and the pipeline runtime never import it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable

from phyper._errors import PhyperError
from phyper._job_log import forget_warnings
from phyper._pipeline import Pipeline
from phyper._runner import load_pipeline

__all__ = ["DEFAULT_PIPELINE", "PipelineImportError", "build_parser", "main"]

DEFAULT_PIPELINE = "pipeline:pipeline"
"""What the engines' Snakefile and dodo.py load too: ``pipeline.py``'s ``pipeline``."""

EXIT_ERROR = 2


class PipelineImportError(Exception):
    """The user's pipeline module could not be imported (the message says why, in one line)."""


def _version() -> str:
    from phyper import __version__

    return __version__


def _pipeline_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--pipeline",
        metavar="MODULE:ATTRIBUTE",
        default=None,
        help=f"the phyper.Pipeline to use, imported from the current folder (default: {DEFAULT_PIPELINE})",
    )
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return common


def _add_legacy_spec(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "spec",
        nargs="?",
        metavar="PIPELINE",
        default=None,
        help=f"MODULE:ATTRIBUTE of the pipeline (same as --pipeline; default {DEFAULT_PIPELINE})",
    )


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print stable JSON (for scripts) instead of text")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (``--help`` describes each argument)."""
    from phyper._cli import _commands as c

    common = _pipeline_options()
    parser = argparse.ArgumentParser(
        prog="phyper",
        description="Run and inspect a phyper pipeline's results: "
        "run, status, plan, ls, show, gc, migrate, view, collect.",
        epilog="Run from the folder holding pipeline.py, or pass --pipeline MODULE:ATTRIBUTE. "
        "`phyper COMMAND --help` describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"phyper {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, function: Callable[..., int], summary: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=summary, description=description)
        sub.set_defaults(function=function)
        return sub

    run = add("run", c.run, "run one job (what the engines call)",
              "Run one job in this process: look the instance up by hash, write the folder's manifest, "
              "run the step and, once every output is written, its completion record.")
    _add_legacy_spec(run)
    run.add_argument("step", help="the step's name (see `phyper ls`)")
    run.add_argument("key", help="the job's hash, or `all` for an aggregate step")
    run.add_argument("--engine", default=None, help="name of the engine running the job, kept in the completion record")
    run.add_argument("--force", action="store_true", help="run even if the job's completion record is valid (a manual rerun)")

    status = add("status", c.status, "how many jobs of each step are complete",
                 "For each step, how many of its jobs are complete according to their completion records.")
    _add_legacy_spec(status)
    status.add_argument("-v", "--verbose", action="store_true", help="list every job to run and why (at most 20 are listed otherwise)")

    plan = add("plan", c.plan, "print the plan (steps and jobs) as JSON",
               "Print the pipeline's plan as JSON: its steps and every job with inputs, outputs and dependencies.")
    _add_legacy_spec(plan)

    ls = add("ls", c.ls, "count jobs and hashed folders per step and resource",
             "For each step: jobs, complete, to run, failed. For each resource folder: hashes of the grid, "
             "folders on disk, grid hashes missing on disk, orphaned folders (not reached by the grid; "
             "`phyper gc` removes them) and folders without a valid manifest.")
    ls.add_argument("--step", action="append", metavar="STEP", help="only this step (repeatable)")
    ls.add_argument("--resource", action="append", metavar="RESOURCE",
                    help="only this resource folder, e.g. `all` or `transformed_data` (repeatable)")
    _add_json(ls)

    show = add("show", c.show, "what a hash is: resource, values, folder, files, jobs",
               "Describe a hashed folder from its hash or a unique prefix of it (as in git): its resource, "
               "key values, the non-key values it was run with, its folder and files, and the jobs that "
               "write it. With --where, list the hashes whose values match instead.")
    show.add_argument("hash", nargs="?", metavar="HASH", help="a hash, or a unique prefix of one")
    show.add_argument("--where", nargs="+", metavar="NAME=VALUE",
                      help="list the hashes of the grid with these key values, e.g. --where transformation=log centering=True")
    show.add_argument("--resource", metavar="RESOURCE", default=None,
                      help="with --where: list this resource's hashes instead of full instances'")
    _add_json(show)

    gc = add("gc", c.gc, "list (or --delete) folders and records the grid no longer reaches",
             "Find hashed folders under the hashed-resources folder and completion records that no "
             "instance or job of the current grid reaches. Lists them with sizes; deletes only with "
             "--delete. Never touches what the grid reaches, anything outside the hashed-resources "
             "folder, or a folder without a valid manifest (reported on stderr and left alone; the "
             "exit status is then 1).")
    gc.add_argument("--delete", action="store_true", help="delete what is listed (default: dry run)")
    _add_json(gc)

    migrate = add("migrate", c.migrate, "move folders and records after a change of the classes",
                  "After a key was added (with a default), renamed, removed or moved to the non-keys: read "
                  "each hashed folder's manifest under the current classes, rehash it, and move the folder "
                  "and its completion records, so that no engine reruns anything. Dry run by default. "
                  "Refuses, listing them, when two folders would land on one hash.")
    migrate.add_argument("--apply", action="store_true", help="move the folders and records (default: dry run)")
    migrate.add_argument("--rename", action="append", metavar="OLD=NEW", default=[],
                         help="a key renamed from OLD to NEW: keep the recorded value under the new name (repeatable)")
    _add_json(migrate)

    view = add("view", c.view, "a browsable tree of symbolic links to the hashed folders",
               "(Re)build a tree of relative symbolic links, e.g. "
               "views/cross_validated_model/transformation=log/centering=True/n_hidden_layers=2 -> "
               "the hashed folder, for every folder of the grid on disk. Idempotent: stale links are removed.")
    view.add_argument("--into", metavar="FOLDER", default=None,
                      help="where to build the tree (default: `views` beside the hashed-resources folder)")
    _add_json(view)

    collect = add("collect", c.collect, "write every result as one table (CSV or parquet)",
                  "One row per instance (or per resource hash): hashes, key values, recorded non-key values, "
                  "completion, and the metrics of an optional loader. CSV, or parquet when FILE ends in "
                  ".parquet (needs pandas and pyarrow).")
    collect.add_argument("-o", "--output", metavar="FILE", default=None,
                         help="the file to write (default: CSV on stdout)")
    collect.add_argument("--resource", metavar="RESOURCE", default=None,
                         help="one row per hash of this resource instead of per instance")
    collect.add_argument("--metrics", metavar="MODULE:FUNCTION", default=None,
                         help="a loader: FUNCTION(instance) returns a dict of metrics read from the result's folder")
    return parser


def load(spec: str | None, option: str | None) -> Pipeline:
    """Import the pipeline; an import failure becomes a :class:`PipelineImportError` (one line)."""
    chosen = option or spec or DEFAULT_PIPELINE
    module_name = chosen.partition(":")[0]
    try:
        return load_pipeline(chosen)
    except PhyperError:
        raise
    except (Exception, SystemExit) as error:
        where = ""
        frames = traceback.extract_tb(error.__traceback__)
        user_frames = [frame for frame in frames if "importlib" not in frame.filename and "/phyper/" not in frame.filename]
        if user_frames:
            last = user_frames[-1]
            where = f" (at {os.path.relpath(last.filename)}:{last.lineno})"
        hint = ""
        if isinstance(error, ModuleNotFoundError) and error.name == module_name:
            hint = (
                f"; run phyper from the folder holding {module_name.replace('.', '/')}.py, "
                "or pass --pipeline MODULE:ATTRIBUTE"
            )
        raise PipelineImportError(
            f"cannot import the pipeline `{chosen}`: module `{module_name}` raised "
            f"{type(error).__name__}: {error}{where}{hint}"
        ) from error


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m phyper`` and of the ``phyper`` script; returns the exit status."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    forget_warnings()  # each command warns once about a damaged job log
    try:
        status: int = arguments.function(arguments)
        return status
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


def _import_attribute(spec: str) -> object:
    """``MODULE:ATTRIBUTE`` imported from the current folder (for --metrics)."""
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise PipelineImportError(f"`{spec}` is not MODULE:FUNCTION")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise PipelineImportError(
            f"cannot import `{spec}`: module `{module_name}` raised {type(error).__name__}: {error}"
        ) from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise PipelineImportError(f"module `{module_name}` has no attribute `{attribute}`") from None
