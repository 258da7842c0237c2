"""Translating a phyper plan into doit task dictionaries.

doit has no resource model: the ``threads``, ``mem_mb`` and ``runtime`` a step
declares are not used here (each job is one process; ``doit -n N`` bounds how many
run at once). The Snakemake backend passes them on to rules and cluster profiles.
"""

from __future__ import annotations

import gc
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import phyper

__all__ = ["DOIT_CONFIG", "forced_by_command_line", "job_is_complete", "task_dicts", "tasks"]

DOIT_CONFIG: dict[str, Any] = {
    # sqlite3 is the only doit backend that stayed correct with concurrent runs here
    "backend": "sqlite3",
    "dep_file": ".doit.db",
    # show each job's own output (its progress and where results are)
    "verbosity": 2,
}
"""A starting ``DOIT_CONFIG`` for a dodo.py (copy and extend it as needed)."""

_JOBS: dict[str, phyper.Job] = {}
"""Every engine job (batch jobs for batched steps) of the pipelines loaded in this
process, by id (for the upstream check)."""

_PLANS: dict[str, phyper.Plan] = {}
"""The plan of each batch job, by id (it builds the batch's members when checked)."""

_COMPLETE: set[str] = set()
"""Jobs found complete, with everything upstream, during this doit process."""


def job_is_complete(job: phyper.Job) -> bool:
    """doit ``uptodate`` check: phyper's verdict (see :func:`phyper.job_verdicts`).

    A job is up to date when its completion record is valid and every job it
    depends on is up to date too, so ``doit list --status`` names the same jobs as
    ``phyper status`` and ``snakemake -n``. (While doit runs, it checks a job after
    the jobs it depends on have run, so the upstream part only matters for listings.)
    """
    if job.id in _COMPLETE:
        return True
    if not _may_exist(job.record):
        return False
    if job.is_batch:
        # a batch job: every current member's record (a fresh verdict: jobs run meanwhile)
        if phyper.Verdicts(_PLANS[job.id]).verdict(job).to_run:
            return False
    elif not phyper.check_job(job).complete:
        return False
    for dependency in job.dependencies:
        upstream = _JOBS.get(dependency)
        if upstream is not None and not job_is_complete(upstream):
            return False
    _COMPLETE.add(job.id)
    return True


_LISTED: dict[str, frozenset[str]] = {}
"""The record folders listed in this doit process: folder -> the names in it then."""


def _may_exist(record: str) -> bool:
    """False when ``record`` was not in its folder when doit first looked there.

    One listing per step folder instead of a failed open per job (most jobs of a fresh
    grid have no record). A record made after the listing by another process is then
    seen as missing: doit runs the job, which finds it complete under its lock and does
    nothing (the runner decides, not this check).
    """
    folder, name = os.path.split(record)
    names = _LISTED.get(folder)
    if names is None:
        try:
            names = _LISTED[folder] = frozenset(os.listdir(folder))
        except OSError:
            names = _LISTED[folder] = frozenset()
    return name in names


# doit asks for the signature of an uptodate callable at every check (to pass it `task`
# or `values` if it wants them); computed once here, inspect returns it at once
job_is_complete.__signature__ = inspect.signature(job_is_complete)  # type: ignore[attr-defined]


def forced_by_command_line(argv: Sequence[str] | None = None) -> bool:
    """Whether doit was started with ``-a``/``--always-execute`` (its documented force flag).

    doit does not tell the tasks, and a phyper job whose record is valid does nothing
    unless it is forced, so the flag is read from doit's own command line with doit's
    own option parser.
    """
    from doit.cmd_base import DodoTaskLoader  # type: ignore[import-untyped]
    from doit.cmd_run import Run  # type: ignore[import-untyped]
    from doit.cmdparse import CmdOption, CmdParse, CmdParseError  # type: ignore[import-untyped]

    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and not arguments[0].startswith("-"):
        if arguments[0] != "run" and arguments[0] in _OTHER_COMMANDS:
            return False
        if arguments[0] == "run":
            arguments = arguments[1:]
    options = [CmdOption(option) for option in (*Run.base_options, *DodoTaskLoader.cmd_options, *Run.cmd_options)]
    try:
        parameters, _ = CmdParse(options).parse(arguments)
    except CmdParseError:
        return False
    return bool(parameters["always"])


_OTHER_COMMANDS = frozenset({"auto", "clean", "dumpdb", "forget", "help", "ignore", "info", "list", "reset-dep", "strace", "tabcompletion"})


def task_dicts(spec: str, *, force: bool | None = None) -> Iterator[dict[str, Any]]:
    """The doit task dictionaries of the pipeline ``MODULE:ATTRIBUTE``.

    Args:
        spec: the pipeline, ``MODULE:ATTRIBUTE``.
        force: run every job even if complete; default: whether doit got ``-a``.
    """
    pipeline = phyper.load_pipeline(spec)
    plan = pipeline.plan(cache=True)
    # the plan lives as long as doit: move it out of the collector's reach, or each of the
    # collections that doit's own allocations trigger rescans all of it
    gc.freeze()
    for job in plan.engine_jobs():
        _JOBS[job.id] = job
    _PLANS.update(dict.fromkeys(plan.batches, plan))
    if force is None:
        force = forced_by_command_line()
    for step in plan.steps:
        yield {"basename": step.name, "name": None, "doc": step.doc}
        # the command line once per step; each job fills in its key (a large grid has
        # many jobs, and this loop is phyper's share of doit's start-up time)
        placeholder = "\0key"
        template = [*phyper.job_command(spec, step.name, placeholder, engine="doit"), *(["--force"] if force else [])]
        at = template.index(placeholder)
        # a batched step: one sub-task per batch job (named by its batch key)
        for job in plan.engine_jobs_of(step.name):
            command = template.copy()
            command[at] = job.key
            yield {
                "basename": step.name,
                "name": job.key,
                "actions": [command],
                "task_dep": list(job.dependencies),
                "targets": [*job.outputs, job.record],
                # (function, args, kwargs): a module-level function, picklable under every
                # multiprocessing start method, and cheaper for doit to inspect than a partial
                "uptodate": [(job_is_complete, [job], {})],
                # no per-job "doc": the step's (on the group task) says it, the name holds the key
            }


def tasks(spec: str) -> Callable[[], Iterator[dict[str, Any]]]:
    """A ``task_*`` function for a dodo.py: ``task_phyper = tasks("pipeline:pipeline")``."""

    def task_phyper() -> Iterator[dict[str, Any]]:
        yield from task_dicts(spec)

    task_phyper.__doc__ = f"phyper pipeline {spec}"
    return task_phyper
