"""How ``phyper search run --engine doit`` runs a point's jobs: ``doit run`` on their tasks."""

from __future__ import annotations

import sys

from phyper._running.engines import EngineJobs, register_engine

__all__ = ["search_command"]


def search_command(run: EngineJobs) -> list[str]:
    """``python -m doit run ENGINE ARGS step:key ...`` (doit's own file lock keeps its database whole)."""
    return [sys.executable, "-m", "doit", "run", *run.engine_args, *(f"{step}:{key}" for step, key in run.jobs)]


register_engine("doit", search_command)
