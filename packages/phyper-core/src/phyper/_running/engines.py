"""The engines a search can run a point through: a registry the backends fill.

Core knows no engine. Each backend package says how its engine runs a few jobs of a
pipeline in the current folder (the command line `phyper search run` starts as a
subprocess) by registering a function with `register_engine`, in a module it names in
the entry-point group ``phyper.engines`` (``phyper_doit._engine``,
``phyper_snakemake._engine``). `engines` loads them when first asked; a backend on
``PYTHONPATH`` without installed metadata (a source checkout) is found by the same
module name, ``phyper_<engine>._engine``, without importing anything else first.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["ENTRY_POINT_GROUP", "EngineCommand", "EngineJobs", "engines", "register_engine"]

ENTRY_POINT_GROUP = "phyper.engines"


@dataclass(frozen=True)
class EngineJobs:
    """What an engine is asked to run for one point of a search."""

    jobs: tuple[tuple[str, str], ...]
    """``(step, key)`` of each job."""
    records: tuple[str, ...]
    """The completion record of each job, in the same order (what a file-based engine targets)."""
    engine_args: tuple[str, ...]
    """More arguments for the engine, given after ``--`` (``--profile profiles/slurm``)."""


EngineCommand = Callable[[EngineJobs], list[str]]
"""The command line that runs the jobs, in the project's folder, with this Python."""

_REGISTERED: dict[str, EngineCommand] = {}
_loaded = False


def register_engine(name: str, command: EngineCommand) -> None:
    """Make engine ``name`` available to ``phyper search run --engine NAME`` (what a backend calls on import)."""
    _REGISTERED[name] = command


def engines() -> Mapping[str, EngineCommand]:
    """Every registered engine by name, sorted (the backends' modules are loaded on the first call)."""
    global _loaded
    if not _loaded:
        _loaded = True
        modules = {entry.module for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
        for found in pkgutil.iter_modules():
            path = getattr(found.module_finder, "path", None)
            if found.ispkg and found.name.startswith("phyper_") and isinstance(path, str):
                if os.path.isfile(os.path.join(path, found.name, "_engine.py")):
                    modules.add(f"{found.name}._engine")
        for module in sorted(modules):
            importlib.import_module(module)
    return dict(sorted(_REGISTERED.items()))
