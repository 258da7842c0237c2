"""Translating a phyper plan into doit task dictionaries.

doit has no resource model: the ``threads``, ``mem_mb`` and ``runtime`` a step
declares are not used here (each job is one process; ``doit -n N`` bounds how many
run at once). The Snakemake backend passes them on to rules and cluster profiles.
"""

from __future__ import annotations

import gc
import inspect
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import phyper
from phyper_doit._reporter import PhyperReporter
from phyper_doit._verdicts import VERDICTS, EngineVerdicts

__all__ = [
    "DOIT_CONFIG", "forced_by_command_line", "job_is_complete", "step_is_complete", "task_dicts", "tasks",
]

DOIT_CONFIG: dict[str, Any] = {
    # sqlite3 is the only doit backend that stayed correct with concurrent runs here
    "backend": "sqlite3",
    "dep_file": ".doit.db",
    # show each job's own output (its progress and where results are)
    "verbosity": 2,
    # each job announced with its step, key values and why it runs; a closing line
    "reporter": PhyperReporter,
}
"""A starting ``DOIT_CONFIG`` for a dodo.py (copy and extend it as needed)."""


_SETTINGS_ERRORS = (phyper.BatchOverrideError, phyper.GpuOverrideError, phyper.NonKeyOverrideError)
"""A malformed run-time setting (``PHYPER_BATCH``, ``PHYPER_STEP_GPUS``, ``PHYPER_NON_KEYS``)."""


def job_is_complete(job: phyper.Job) -> bool:
    """doit ``uptodate`` check of a job: phyper's verdict (see [`phyper.job_verdicts`][phyper.job_verdicts]).

    A job is up to date when its completion record is valid and every job it depends
    on is up to date too, so ``doit list --status`` names the same jobs as ``phyper
    status`` and ``snakemake -n``. The verdict is taken once, when doit first asks;
    a job found to run finds out under its lock, when it runs, whether another process
    did the work meanwhile.
    """
    return job.id not in VERDICTS[job.id].to_run


def step_is_complete(step_name: str) -> bool:
    """doit ``uptodate`` check of a step's group task: every job of the step is up to date.

    Without a check of its own, doit lists a group task (it has no action and no
    dependency) as to run even when all its sub-tasks are up to date.
    """
    verdicts = VERDICTS[step_name]
    return all(job.id not in verdicts.to_run for job in verdicts.plan.engine_jobs_of(step_name))


# doit asks for the signature of an uptodate callable at every check (to pass it `task`
# or `values` if it wants them); computed once here, inspect returns it at once
job_is_complete.__signature__ = inspect.signature(job_is_complete)  # type: ignore[attr-defined]
step_is_complete.__signature__ = inspect.signature(step_is_complete)  # type: ignore[attr-defined]


def forced_by_command_line(steps: Collection[str], argv: Sequence[str] | None = None) -> frozenset[str]:
    """The tasks doit was asked to force with ``-a``/``--always-execute``.

    Returns the names given with ``-a`` (step names, or job ids ``step:key``); every
    step when ``-a`` names no task (doit then runs every task); nothing without ``-a``.
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
            return frozenset()
        if arguments[0] == "run":
            arguments = arguments[1:]
    options = [CmdOption(option) for option in (*Run.base_options, *DodoTaskLoader.cmd_options, *Run.cmd_options)]
    try:
        parameters, names = CmdParse(options).parse(arguments)
    except CmdParseError:
        return frozenset()
    if not parameters["always"]:
        return frozenset()
    # positional `name=value` items are task parameters, not task names
    named = frozenset(name for name in names if "=" not in name)
    return named or frozenset(steps)


_OTHER_COMMANDS = frozenset({"auto", "clean", "dumpdb", "forget", "help", "ignore", "info", "list", "reset-dep", "strace", "tabcompletion"})


def task_dicts(spec: str, *, forced: Collection[str] | None = None) -> Iterator[dict[str, Any]]:
    """The doit task dictionaries of the pipeline ``MODULE:ATTRIBUTE``.

    Forcing (``doit -a STEP``) reruns that step's jobs and never its upstream: the
    jobs of the named steps (or named jobs) get ``--force``, and a forced job's
    ``task_dep`` on a job that is complete and not forced is dropped, since doit runs
    (and, with ``-a``, forces) every task a named task depends on. doit runs only the
    tasks named: a plain ``doit`` afterwards runs what follows them.

    Args:
        spec: the pipeline, ``MODULE:ATTRIBUTE``.
        forced: the steps (or job ids ``step:key``) to force; default: the tasks doit got
            with ``-a`` (see [`forced_by_command_line`][phyper_doit.forced_by_command_line]).
    """
    try:
        pipeline = phyper.load_pipeline(spec)
        # the plan reads the settings (PHYPER_BATCH, PHYPER_STEP_GPUS) once: a malformed one is
        # refused here, as one line, before any job runs (each job would read it again)
        plan = pipeline.plan(cache=True)
    except _SETTINGS_ERRORS as error:
        raise SystemExit(f"phyper: {type(error).__name__}: {error}") from None
    # the plan lives as long as doit: move it out of the collector's reach, or each of the
    # collections that doit's own allocations trigger rescans all of it
    gc.freeze()
    engine_jobs = {job.id: job for job in plan.engine_jobs()}
    step_names = [step.name for step in plan.steps]
    if forced is None:
        forced = forced_by_command_line(step_names)
    forced = frozenset(forced)
    verdicts = EngineVerdicts(plan, pipeline, forced)
    verdicts.engine_jobs = engine_jobs
    VERDICTS.update(dict.fromkeys(engine_jobs, verdicts))
    VERDICTS.update(dict.fromkeys((step.name for step in plan.steps), verdicts))

    def is_forced(job: phyper.Job) -> bool:
        return job.step in forced or job.id in forced

    for step in plan.steps:
        yield {
            "basename": step.name,
            "name": None,
            "doc": step.doc,
            "uptodate": [(step_is_complete, [step.name], {})],
        }
        # the command line once per step; each job fills in its key (a large grid has
        # many jobs, and this loop is phyper's share of doit's start-up time)
        placeholder = "\0key"
        template = phyper.job_command(spec, step.name, placeholder, engine="doit")
        at = template.index(placeholder)
        # a batched step: one sub-task per batch job (named by its batch key)
        for job in plan.engine_jobs_of(step.name):
            command = [*template, "--force"] if is_forced(job) else template.copy()
            command[at] = job.key
            dependencies = list(job.dependencies)
            if forced:
                # doit would run (and force) these too: keep only what must run first
                dependencies = [
                    dependency for dependency in dependencies
                    if is_forced(engine_jobs[dependency]) or dependency in verdicts.to_run
                ]
            yield {
                "basename": step.name,
                "name": job.key,
                "actions": [command],
                "task_dep": dependencies,
                # a batch job's record may be missing while every member is complete (after a
                # change of batch size): doit would call a missing target out of date
                "targets": [] if job.is_batch else [*job.outputs, job.record],
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
