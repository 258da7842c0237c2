"""Translating a phyper plan into the rules that ``pipeline.smk`` defines.

What Snakemake sees of a job is its **completion record** only: a rule's output is
the record of its job (flagged ``update``, so Snakemake never deletes it before the
job runs: the job itself decides, under its lock, whether there is anything to do),
and its inputs are the records of the jobs it depends on. The data files are
phyper's business.

Snakemake plans exactly phyper's verdict, and looking changes nothing:

* the default target ``all`` asks for the records of the engine jobs phyper finds
  to run ([`SnakemakeWorkflow.targets`][phyper_snakemake.SnakemakeWorkflow.targets]), and each rule's input function names
  only the records of the dependencies that are to run; so Snakemake's DAG holds the
  jobs to run and nothing else, and its own triggers (times, params, input lists,
  code, metadata another engine never wrote) never see a complete job;
* a job to run whose (invalid) record still exists is forced through the DAG's
  forced files instead of deleting the record: a dry run deletes nothing;
* ``-R STEP`` / ``--forcerun STEP`` and ``-F`` force that step's jobs and everything
  downstream of them (never upstream), and those jobs get ``--force``;
* nothing is decided while the Snakefile is parsed (Snakemake sets its DAG settings
  afterwards): the decision is taken once, when Snakemake first asks for an input
  list while building its DAG, and read by every rule;
* a record is written atomically and only when its job is complete, so Snakemake's
  "incomplete" markers carry no information phyper needs: phyper lets Snakemake
  rerun such a job (``force_incomplete``) instead of raising; the directory locks of
  a Snakemake process that was killed are cleared on a real run when no other
  Snakemake runs in the folder; a dry run deletes nothing but does not read such
  stale locks (no "Directory cannot be locked"); Snakemake's provenance triggers are
  turned off (only jobs phyper finds to run are in the DAG), so it never advises
  ``--rerun-triggers mtime`` or ``--cleanup-metadata``;
* every rerun of a job, by any engine or by hand, writes a new record, which phyper's
  verdict (content, not only times) judges for the jobs downstream;
* a rerun that fails leaves the earlier record where it was (the runner replaces a
  record only once the new one is complete): Snakemake's "Restored previous version
  of ... (updating job failed)" puts back the same record, so Snakemake, doit and
  ``phyper status`` agree on the job (complete while its files match the record).

Verified against Snakemake 9.27 (``workflow.dag_settings`` is set after the
Snakefile is parsed; ``DAG.forcefiles`` and ``DAGSettings.force_incomplete`` are read
after the targets' input functions ran, when the DAG decides what needs to run).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import importlib
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import phyper

__all__ = ["SNAKEFILE", "WILDCARD", "Rule", "SnakemakeWorkflow", "load", "loaded_workflows"]

SNAKEFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline.smk")
"""The Snakefile to ``include:`` after ``phyper_workflow = load(...)``."""

WILDCARD = "hash"
"""The wildcard that holds a job's hash in every hashed rule."""

RESERVED_RULE_NAMES = frozenset({"all"})

SNAKEMAKE_FOLDER = ".snakemake"
ENGINE_LOCK_NAME = "phyper-snakemake.lock"
FORCE_VARIABLE = "PHYPER_SNAKEMAKE_FORCE"


class JobText:
    """A per-job string for ``params:``. Snakemake leaves values of this type out of its
    params rerun trigger (it cannot serialise them), which is what we want: labels and
    the force flag must never make a job run again."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"JobText({self.text!r})"


@dataclass(frozen=True)
class Rule:
    """What one ``rule:`` in ``pipeline.smk`` receives for one step."""

    name: str
    output: str
    input: Callable[[Any], list[str]]
    command: str
    label: Callable[[Any], JobText]
    force: Callable[[Any], JobText]
    is_hashed: bool
    wildcard_pattern: str = phyper.HASH_PATTERN
    """What the ``hash`` wildcard matches: a hash, or a batch key for a batched step."""
    threads: int = 1
    """The step's declared threads (Snakemake's ``threads:``)."""
    resources: dict[str, int] = field(default_factory=dict)
    """The step's declared ``mem_mb`` and ``runtime``, and ``gpu`` (whole devices, a share
    rounded up) when it needs GPUs (Snakemake's ``resources:``; the SLURM executor plugin
    turns ``gpu`` into ``--gpus``)."""


def downstream_closure(plan: phyper.Plan, steps: set[str]) -> frozenset[str]:
    """``steps`` and every step that depends on one of them, directly or not."""
    closed = set(steps)
    for step in plan.steps:  # topological order: upstream steps come first
        if not closed.isdisjoint(step.upstream):
            closed.add(step.name)
    return frozenset(closed)


class SnakemakeWorkflow:
    """A phyper pipeline seen as Snakemake rules."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.pipeline = phyper.load_pipeline(spec)
        self.plan = self.pipeline.plan(cache=True)
        # the plan lives as long as Snakemake: move it out of the collector's reach, or each
        # of the collections that Snakemake's own allocations trigger rescans all of it
        gc.freeze()
        self.wildcard_pattern = phyper.HASH_PATTERN
        self.gpu_needs = phyper.gpu_needs(self.pipeline.steps)
        """Step -> GPUs one job needs (``gpus=``, ``PHYPER_STEP_GPUS``), for the rules' ``gpu`` resource."""
        self.engine_jobs = {job.id: job for job in self.plan.engine_jobs()}
        """What Snakemake runs, by id: the jobs of unbatched steps and the batch jobs."""
        self.rules = [self._rule(step) for step in self.plan.steps]
        self._workflow: Any = None
        self._to_run: set[str] | None = None
        self._verdicts: phyper.Verdicts | None = None
        self._ran_or_planned = False
        self.step_names = frozenset(step.name for step in self.plan.steps)
        """The rule names of phyper's steps (what the logger plugin counts)."""
        self._forced: frozenset[str] = frozenset()
        self._engine_lock: int | None = None

    def _rule(self, step: phyper.PlannedStep) -> Rule:
        if step.name in RESERVED_RULE_NAMES:
            raise phyper.PipelineDefinitionError(
                f"a step cannot be called `{step.name}`: Snakemake's default target rule has that name"
            )
        # a plain string: Snakemake fills in {hash} per job (cheaper than a callable)
        key = "{" + WILDCARD + "}" if step.is_hashed else phyper.AGGREGATE_KEY
        placeholder = "PHYPER-JOB-KEY"
        command = shlex.join(phyper.job_command(self.spec, step.name, placeholder, engine="snakemake"))
        command = command.replace("{", "{{").replace("}", "}}").replace(placeholder, key)
        output = step.record_template.replace(phyper.HASH_PLACEHOLDER, "{" + WILDCARD + "}")
        # a batched step's jobs are batch jobs (key batch-<i>-of-<n>): a dependency on a
        # job of a batched step is a dependency on its batch, whose record stands for it

        def inputs(wildcards: Any, step_name: str = step.name, hashed: bool = step.is_hashed) -> list[str]:
            job_key = getattr(wildcards, WILDCARD) if hashed else phyper.AGGREGATE_KEY
            return self.inputs_to_run(f"{step_name}:{job_key}")

        def label(wildcards: Any, step_name: str = step.name, hashed: bool = step.is_hashed) -> JobText:
            job_key = getattr(wildcards, WILDCARD) if hashed else phyper.AGGREGATE_KEY
            return JobText(self.announcement(f"{step_name}:{job_key}"))

        def force(wildcards: Any, step_name: str = step.name) -> JobText:
            return JobText(" --force" if self.forced(step_name) else "")

        resources = dict(step.resources)
        if step.name in self.gpu_needs:
            # devices a job (a batch: all its members, one after the other) holds; a share of one
            # counts one here (what a cluster node must have), phyper's pool packs the shares
            resources["gpu"] = max(1, int(self.gpu_needs[step.name]))
        return Rule(
            step.name,
            output,
            inputs,
            command,
            label,
            force,
            step.is_hashed,
            phyper.BATCH_KEY_PATTERN if step.is_batched else phyper.HASH_PATTERN,
            step.threads,
            resources,
        )

    def targets(self, wildcards: Any = None) -> list[str]:
        """The default target's input function: the records of the engine jobs to run.

        Write ``input: phyper_workflow.targets`` in ``rule all`` (Snakemake calls it
        while it builds its DAG, after reading its command line). When nothing is to
        run, ``all`` asks for the pipeline's own module file, which exists and no rule
        makes: Snakemake then says "Nothing to be done" instead of running an empty
        ``all`` job.
        """
        to_run = self._decide()
        records = [job.record for job_id, job in self.engine_jobs.items() if job_id in to_run]
        if not records and not self._remote():
            return [self._module_file()]
        return records

    def inputs_to_run(self, job_id: str) -> list[str]:
        """The records of the jobs ``job_id`` depends on that are to run (its input list)."""
        to_run = self._decide()
        return [self.engine_jobs[dependency].record for dependency in self.engine_jobs[job_id].dependencies if dependency in to_run]

    def announcement(self, job_id: str) -> str:
        """How a job is announced (its rule's ``message:``): step, key values or batch and
        member count, and why it runs in words (see [`phyper.job_announcement`][phyper.job_announcement]);
        no record path."""
        job = self.engine_jobs[job_id]
        verdict = None
        if self._verdicts is not None and self._to_run is not None and job_id in self._to_run:
            verdict = self._verdicts.verdict(job)
        return phyper.job_announcement(self.pipeline, verdict, job)

    def counts(self) -> tuple[int, int] | None:
        """``(engine jobs to run, engine jobs already done)`` as decided for this run or dry
        run; None when this process did not decide (a drawing, a job on a cluster node)."""
        if not self._ran_or_planned or self._to_run is None:
            return None
        return len(self._to_run), len(self.engine_jobs) - len(self._to_run)

    def _module_file(self) -> str:
        module = sys.modules[self.spec.partition(":")[0]]
        path = os.path.abspath(str(module.__file__))
        relative = os.path.relpath(path)
        return path if relative.startswith(os.pardir) else relative

    # -- agreeing with phyper's records ---------------------------------------------

    def _remote(self) -> bool:
        return bool(getattr(self._workflow, "remote_exec", False))

    def forced(self, step_name: str) -> bool:
        """Whether this Snakemake run forces the jobs of ``step_name``: ``-F``, or ``-R``
        naming the step or a step upstream of it.

        The main Snakemake process passes the forced steps to jobs that run elsewhere (a
        cluster node) in ``PHYPER_SNAKEMAKE_FORCE``, since their Snakemake process
        "forces" its single target job whatever the user asked.
        """
        if self._remote():
            return step_name in os.environ.get(FORCE_VARIABLE, "").split(",")
        self._decide()
        return step_name in self._forced

    def prepare(self, workflow: Any) -> None:
        """Keep Snakemake's workflow object (``pipeline.smk`` calls this while parsing).

        Nothing is read or written here: Snakemake has not read its DAG settings yet.
        What to run is decided when Snakemake first asks for an input list.
        """
        self._workflow = workflow

    def _decide(self) -> set[str]:
        """The ids of the engine jobs Snakemake's DAG holds (decided once): those to run
        when Snakemake runs or dry-runs the workflow, every job when it only draws or
        summarises it (``--dag``, ``--rulegraph``, ``--summary``)."""
        if self._to_run is not None:
            return self._to_run
        workflow = self._workflow
        if self._remote():
            # a job process on a cluster node: Snakemake runs its one target job; the
            # main process already decided, and its records are what the job reads
            self._to_run = set()
            return self._to_run
        settings = getattr(workflow, "dag_settings", None)
        step_names = {step.name for step in self.plan.steps}
        if settings is None:
            asked: set[str] = set()
        elif getattr(settings, "forceall", False):
            asked = step_names
        else:
            asked = {str(rule) for rule in (getattr(settings, "forcerun", None) or ())} & step_names
        self._forced = downstream_closure(self.plan, asked)
        os.environ[FORCE_VARIABLE] = ",".join(sorted(self._forced))
        dag = getattr(workflow, "dag", None)
        if dag is not None and getattr(workflow, "executor_plugin", None) is None:
            # not a run nor a dry run (--dag, --rulegraph, --summary...): the whole pipeline
            self._to_run = set(self.engine_jobs)
            return self._to_run
        try:
            self._verdicts = phyper.Verdicts(self.plan, forced=asked)
            self._to_run = {job.id for job in self._verdicts.engine_jobs_to_run()}
            self._ran_or_planned = True
        except phyper.StateFormatError as error:
            # the named error, not a traceback of Snakefile frames (nothing ran, nothing deleted)
            raise SystemExit(f"phyper: StateFormatError: {error}") from None
        if dag is not None and settings is not None:
            # a job to run whose record is there (invalid, or forced): Snakemake would see
            # an output that exists; force it rather than delete the record
            dag.forcefiles.update(
                self.engine_jobs[job_id].record for job_id in self._to_run if os.path.exists(self.engine_jobs[job_id].record)
            )
            # an "incomplete" marker on a record: records are atomic, a job to run reruns
            settings.force_incomplete = True
            # the DAG holds only jobs phyper finds to run: Snakemake's provenance triggers
            # (code, params, input lists) decide nothing, so neither do they ask for
            # --rerun-triggers mtime or --cleanup-metadata
            _only_mtime_triggers(settings)
            if not workflow.dryrun and self._take_engine_lock():
                _clear_stale_locks()
            elif workflow.dryrun and _stale_locks_only():
                # a killed Snakemake left its locks: a dry run reads them (and would say
                # "Directory cannot be locked"), but deletes nothing; the next run clears them
                _ignore_locks(workflow)
        return self._to_run

    def _take_engine_lock(self) -> bool:
        if self._engine_lock is not None:
            return True
        os.makedirs(SNAKEMAKE_FOLDER, exist_ok=True)
        descriptor = os.open(os.path.join(SNAKEMAKE_FOLDER, ENGINE_LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(descriptor)
            if error.errno in (errno.EACCES, errno.EAGAIN):
                return False  # another Snakemake runs here: its locks are live
            raise
        # held (the descriptor stays open) until this Snakemake process exits
        self._engine_lock = descriptor
        return True


def _only_mtime_triggers(settings: Any) -> None:
    """Keep Snakemake's modification-time trigger only (its others cannot see a job that is not to run)."""
    try:
        enums = importlib.import_module("snakemake.settings.enums")
    except ImportError:  # another Snakemake layout: its defaults stay
        return
    if hasattr(settings, "rerun_triggers"):
        settings.rerun_triggers = frozenset({enums.RerunTrigger.MTIME})


def _stale_locks_only() -> bool:
    """Whether ``.snakemake/locks`` holds locks and no Snakemake of this folder holds phyper's engine lock.

    Every real run of a phyper Snakefile holds the engine lock while it runs (the kernel
    releases it when the process dies, killed or not), so locks without it are a dead
    run's. Nothing is created: without the engine lock's file, no run here was phyper's.
    """
    locks = os.path.join(SNAKEMAKE_FOLDER, "locks")
    try:
        if not os.listdir(locks):
            return False
        descriptor = os.open(os.path.join(SNAKEMAKE_FOLDER, ENGINE_LOCK_NAME), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live Snakemake holds it: its locks are real
    finally:
        os.close(descriptor)  # releases the lock again at once
    return True


def _ignore_locks(workflow: Any) -> None:
    """Make this (dry) run skip Snakemake's check of the directory locks, as ``--nolock`` does."""
    persistence: Any = getattr(workflow, "persistence", None)
    noop = getattr(persistence, "noop", None)
    if noop is not None:
        persistence.lock = noop
        print(
            "phyper: .snakemake/locks holds the locks of a Snakemake run that is gone (killed?); "
            "ignored by this dry run, removed by the next run",
            file=sys.stderr,
        )


def _clear_stale_locks() -> None:
    """Remove the directory locks a killed Snakemake left (no other Snakemake runs here)."""
    locks = os.path.join(SNAKEMAKE_FOLDER, "locks")
    if os.path.isdir(locks):
        for name in os.listdir(locks):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                os.remove(os.path.join(locks, name))


_LOADED: list[SnakemakeWorkflow] = []


def load(spec: str) -> SnakemakeWorkflow:
    """Import the pipeline ``MODULE:ATTRIBUTE`` and translate its plan into rules."""
    workflow = SnakemakeWorkflow(spec)
    _LOADED.append(workflow)
    return workflow


def loaded_workflows() -> list[SnakemakeWorkflow]:
    """The workflows this process loaded (what the ``phyper`` logger plugin sums up at the end)."""
    return list(_LOADED)
