"""How ``phyper search run --engine snakemake`` runs a point's jobs: ``snakemake`` on their records."""

from __future__ import annotations

import sys

from phyper._running.engines import EngineJobs, register_engine

__all__ = ["search_command"]


def search_command(run: EngineJobs) -> list[str]:
    """``python -m snakemake -j1 --nolock ENGINE ARGS RECORDS``.

    ``--nolock``: a search runs several Snakemake processes in one folder, whose targets
    may share a job; phyper's per-job locks keep each job to one run.
    """
    return [sys.executable, "-m", "snakemake", "-j1", "--nolock", *run.engine_args, *run.records]


register_engine("snakemake", search_command)
