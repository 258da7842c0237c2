"""Importing the user's pipeline (and a ``--metrics`` loader) from the working folder.

Import failures become a `PipelineImportError` whose message is one line: the
command prints it instead of a traceback. A ``--metrics`` loader is loaded here once,
for every command that takes one (``collect``, ``report``).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from phyper._errors import MetricsLoaderError, PhyperError
from phyper._planning.pipeline import Pipeline
from phyper._running.runner import import_from_working_folder, load_pipeline

__all__ = ["DEFAULT_PIPELINE", "PipelineImportError", "load", "load_metrics"]

DEFAULT_PIPELINE = "pipeline:pipeline"
"""What the engines' Snakefile and dodo.py load too: ``pipeline.py``'s ``pipeline``."""


class PipelineImportError(Exception):
    """The user's pipeline module could not be imported (the message says why, in one line)."""


def load(spec: str | None, option: str | None) -> Pipeline:
    """Import the pipeline; an import failure becomes a `PipelineImportError` (one line).

    Without a spec, in a folder with no ``pipeline.py`` (the repository's root, say),
    the error names the folders below that hold one: phyper never guesses which.
    """
    chosen = option or spec or DEFAULT_PIPELINE
    module_name = chosen.partition(":")[0]
    try:
        return load_pipeline(chosen)
    except PhyperError:
        raise
    except (Exception, SystemExit) as error:
        if chosen == DEFAULT_PIPELINE and isinstance(error, ModuleNotFoundError) and error.name == module_name:
            raise PipelineImportError(_no_pipeline_here(module_name)) from error
        raise PipelineImportError(f"cannot import the pipeline `{chosen}`: {_failure(error, module_name)}") from error


_NOT_PROJECTS = frozenset({"derived_data", "site", "node_modules", "__pycache__", "build", "dist", "views"})
_SEARCH_DEPTH = 3
_LISTED = 3


def projects_below(folder: str, file_name: str) -> list[str]:
    """Folders at most three levels below ``folder`` holding ``file_name`` (relative, shallowest first).

    Hidden folders, virtual environments and result folders are not searched.
    """
    found: list[str] = []
    for root, folders, files in os.walk(folder):
        depth = 0 if root == folder else os.path.relpath(root, folder).count(os.sep) + 1
        if depth and file_name in files:
            found.append(os.path.relpath(root, folder))
        folders[:] = sorted(
            name for name in folders
            if depth < _SEARCH_DEPTH and not name.startswith(".") and name not in _NOT_PROJECTS
            and not os.path.exists(os.path.join(root, name, "pyvenv.cfg"))
        )
    return sorted(found, key=lambda path: (path.count(os.sep), path))


def _no_pipeline_here(module_name: str) -> str:
    here = os.getcwd()
    file_name = module_name.replace(".", os.sep) + ".py"
    below = projects_below(here, file_name)
    if below:
        shown = ", ".join(below[:_LISTED]) + (f" and {len(below) - _LISTED} more" if len(below) > _LISTED else "")
        where = f"run phyper from a project's folder (below here: {shown}; e.g. `cd {below[0]}` first)"
    else:
        where = f"run phyper from the folder holding your {file_name}"
    return f"no {file_name} in {here}: {where}, or pass --pipeline MODULE:ATTRIBUTE"


def _failure(error: BaseException, module_name: str) -> str:
    """``module `config` raised NameError: ... (at config.py:12)``: why an import failed, in one line."""
    return f"module `{module_name}` raised {type(error).__name__}: {error}{_where(error)}{_hint(error, module_name)}"


def _where(error: BaseException) -> str:
    """`` (at config.py:12)``: the last frame of the user's code in the traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    user_frames = [frame for frame in frames if "importlib" not in frame.filename and "/phyper/" not in frame.filename]
    if not user_frames:
        return ""
    return f" (at {os.path.relpath(user_frames[-1].filename)}:{user_frames[-1].lineno})"


def _hint(error: BaseException, module_name: str) -> str:
    if isinstance(error, ModuleNotFoundError) and error.name == module_name:
        return (
            f"; run phyper from the folder holding {module_name.replace('.', '/')}.py, "
            "or pass --pipeline MODULE:ATTRIBUTE"
        )
    return ""


def load_metrics(spec: str | None) -> Callable[[Any], Mapping[str, Any] | None] | None:
    """The ``--metrics MODULE:FUNCTION`` loader, imported from the current folder (None: no option).

    None lets the command use the pipeline's own loader (``pipeline.metrics``).

    Raises:
        PipelineImportError: the module cannot be imported, or has no such attribute.
        MetricsLoaderError: the attribute is not a function.
    """
    if spec is None:
        return None
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise PipelineImportError(f"--metrics `{spec}` is not MODULE:FUNCTION (e.g. --metrics metrics:load)")
    try:
        module = import_from_working_folder(module_name)
    except (Exception, SystemExit) as error:
        raise PipelineImportError(f"cannot import --metrics `{spec}`: {_failure(error, module_name)}") from error
    found = getattr(module, attribute, None)
    if found is None:
        raise PipelineImportError(f"--metrics {spec}: module `{module_name}` has no attribute `{attribute}`")
    if not callable(found):
        raise MetricsLoaderError(f"--metrics {spec} is a {type(found).__name__}, not a function")
    loader: Callable[[Any], Mapping[str, Any] | None] = found
    return loader
