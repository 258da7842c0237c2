"""Translating a phyper plan into doit task dictionaries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import phyper

__all__ = ["DOIT_CONFIG", "batch_is_complete", "job_is_complete", "task_dicts", "tasks"]

DOIT_CONFIG: dict[str, Any] = {
    # sqlite3 is the only doit backend that stayed correct with concurrent runs here
    "backend": "sqlite3",
    "dep_file": ".doit.db",
    # show each job's own output (its progress and where results are)
    "verbosity": 2,
}
"""A starting ``DOIT_CONFIG`` for a dodo.py (copy and extend it as needed)."""


def job_is_complete(job: phyper.Job) -> bool:
    """doit ``uptodate`` check: phyper's completion record says the job is done."""
    return phyper.check_job(job).complete


def batch_is_complete(batch: phyper.Job, members: list[phyper.Job]) -> bool:
    """doit ``uptodate`` check of a batch job: its record and every member's are valid."""
    return phyper.check_batch(batch, members).complete


def task_dicts(spec: str) -> Iterator[dict[str, Any]]:
    """The doit task dictionaries of the pipeline ``MODULE:ATTRIBUTE``."""
    pipeline = phyper.load_pipeline(spec)
    plan = pipeline.plan()
    for step in plan.steps:
        yield {"basename": step.name, "name": None, "doc": step.doc}
        for job in plan.engine_jobs_of(step.name):
            yield {
                "basename": step.name,
                "name": job.key,
                "actions": [phyper.job_command(spec, step.name, job.key, engine="doit")],
                "task_dep": list(job.dependencies),
                "targets": [*job.outputs, job.record],
                # (function, args, kwargs): a module-level function, picklable under every
                # multiprocessing start method, and cheaper for doit to inspect than a partial
                "uptodate": [(batch_is_complete, [job, plan.members(job)], {}) if job.is_batch else (job_is_complete, [job], {})],
                "doc": f"{step.doc} ({job.key})",
            }


def tasks(spec: str) -> Callable[[], Iterator[dict[str, Any]]]:
    """A ``task_*`` function for a dodo.py: ``task_phyper = tasks("pipeline:pipeline")``."""

    def task_phyper() -> Iterator[dict[str, Any]]:
        yield from task_dicts(spec)

    task_phyper.__doc__ = f"phyper pipeline {spec}"
    return task_phyper
