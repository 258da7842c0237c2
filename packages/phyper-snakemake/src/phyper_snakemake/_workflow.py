"""Translating a phyper plan into the rules that ``pipeline.smk`` defines.

What Snakemake sees of a job is its **completion record** only: a rule's output is
the record of its job (flagged ``update``, so Snakemake never deletes it before the
job runs: the job itself decides, under its lock, whether there is anything to do),
and its inputs are the records of the jobs it depends on. The data files are
phyper's business. This is what lets Snakemake agree with phyper's own verdict and
with doit in every situation:

* before Snakemake builds its DAG, :meth:`SnakemakeWorkflow.prepare` deletes every
  record that phyper finds invalid (an output deleted or changed, an input
  rewritten), so Snakemake runs exactly those jobs and, through the records' times,
  everything downstream of them;
* a record is written atomically and only when its job is complete, so Snakemake's
  "incomplete" markers and the locks of a Snakemake process that was killed carry
  no information phyper needs: ``prepare`` clears them when no other Snakemake runs
  in the folder, and the next run needs neither ``--rerun-incomplete`` nor
  ``--unlock``; it also clears Snakemake's metadata on the records (params, input
  lists, code of the last Snakemake run), which another engine, a changed grid or
  ``phyper migrate`` may have made stale: Snakemake then compares the records'
  times only, like the ``rerun-triggers: mtime`` setting, with no profile;
* every rerun of a job, by any engine or by hand, writes a new record, whose new
  time and content make Snakemake rerun the jobs downstream, as phyper and doit do.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import gc
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import phyper

__all__ = ["SNAKEFILE", "WILDCARD", "Rule", "SnakemakeWorkflow", "load"]

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
    input: Callable[[Any], list[str]] | list[str]
    command: str
    label: Callable[[Any], JobText]
    force: Callable[[Any], JobText]
    is_hashed: bool
    wildcard_pattern: str = phyper.HASH_PATTERN
    """What the ``hash`` wildcard matches: a hash, or a batch key for a batched step."""
    threads: int = 1
    """The step's declared threads (Snakemake's ``threads:``)."""
    resources: dict[str, int] = field(default_factory=dict)
    """The step's declared ``mem_mb`` and ``runtime`` (Snakemake's ``resources:``)."""


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
        self.engine_jobs = {job.id: job for job in self.plan.engine_jobs()}
        """What Snakemake runs, by id: the jobs of unbatched steps and the batch jobs."""
        self.rules = [self._rule(step) for step in self.plan.steps]
        self._workflow: Any = None
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
        engine_jobs = self.engine_jobs

        def record(job_id: str) -> str:
            return engine_jobs[job_id].record

        if step.is_hashed:

            def inputs(wildcards: Any, step_name: str = step.name) -> list[str]:
                job = engine_jobs[f"{step_name}:{getattr(wildcards, WILDCARD)}"]
                return [record(dependency) for dependency in job.dependencies]

            rule_input: Callable[[Any], list[str]] | list[str] = inputs
        else:
            job = self.plan.job(step.name, phyper.AGGREGATE_KEY)
            rule_input = [record(dependency) for dependency in job.dependencies]

        def label(wildcards: Any, step_name: str = step.name, hashed: bool = step.is_hashed) -> JobText:
            self.forced(step_name)  # sets the variable jobs on other machines read
            job_key = getattr(wildcards, WILDCARD) if hashed else phyper.AGGREGATE_KEY
            return JobText(f"phyper {self.pipeline.job_label(step_name, job_key)}")

        def force(wildcards: Any, step_name: str = step.name) -> JobText:
            return JobText(" --force" if self.forced(step_name) else "")

        return Rule(
            step.name,
            output,
            rule_input,
            command,
            label,
            force,
            step.is_hashed,
            phyper.BATCH_KEY_PATTERN if step.is_batched else phyper.HASH_PATTERN,
            step.threads,
            dict(step.resources),
        )

    @property
    def targets(self) -> list[str]:
        """The completion record of every engine job (batch jobs for batched steps):
        what the default target ``all`` asks for."""
        return [job.record for job in self.engine_jobs.values()]

    # -- agreeing with phyper's records ---------------------------------------------

    def forced(self, step_name: str) -> bool:
        """Whether this Snakemake run forces the jobs of ``step_name`` (``-F``, ``-R step``).

        The main Snakemake process reads its own settings and passes the answer to jobs
        that run elsewhere (a cluster node) in ``PHYPER_SNAKEMAKE_FORCE``, since their
        Snakemake process "forces" its single target job whatever the user asked.
        """
        workflow = self._workflow
        if workflow is None:
            return False
        if getattr(workflow, "remote_exec", False):
            forced = os.environ.get(FORCE_VARIABLE, "")
        else:
            settings = getattr(workflow, "dag_settings", None)
            if settings is None:
                return False
            if getattr(settings, "forceall", False):
                forced = "*"
            else:
                forced = ",".join(sorted(str(rule) for rule in (getattr(settings, "forcerun", None) or ())))
            os.environ[FORCE_VARIABLE] = forced
        return forced == "*" or step_name in forced.split(",")

    def prepare(self, workflow: Any) -> None:
        """Make Snakemake's view agree with phyper's records (``pipeline.smk`` calls this).

        Deletes the records phyper finds invalid; when no other Snakemake runs in this
        folder, also clears what a killed Snakemake left behind (its directory locks,
        and its "incomplete" markers on phyper's records, which are atomic).
        Nothing is done in a job process that Snakemake spawns on a cluster node.
        """
        self._workflow = workflow
        if getattr(workflow, "remote_exec", False):
            return
        # a batch job's record is valid while every member's is: a batch whose member is
        # incomplete runs again (and runs only its incomplete members)
        verdicts = phyper.Verdicts(self.plan)
        for job in self.engine_jobs.values():
            if os.path.exists(job.record) and verdicts.verdict(job).to_run:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(job.record)
        if self._take_engine_lock():
            self._clear_stale_snakemake_state()

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
                return False  # another Snakemake runs here: its locks and markers are live
            raise
        # held (the descriptor stays open) until this Snakemake process exits
        self._engine_lock = descriptor
        return True

    def _clear_stale_snakemake_state(self) -> None:
        locks = os.path.join(SNAKEMAKE_FOLDER, "locks")
        if os.path.isdir(locks):
            for name in os.listdir(locks):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    os.remove(os.path.join(locks, name))
        records = {os.path.normpath(job.record) for job in self.engine_jobs.values()}
        # "incomplete" markers: phyper's records are atomic, a record that exists is whole.
        # metadata: what Snakemake noted when it last ran a job (its params, its input
        # list, its code). Another engine or phyper itself (a new grid, `phyper migrate`)
        # may have rerun or moved the job since, so that note would make Snakemake
        # disagree with the records; without it Snakemake compares the records' times
        # only, as phyper and doit do.
        for kind in ("incomplete", "metadata"):
            _remove_notes_on(os.path.join(SNAKEMAKE_FOLDER, kind), records)


def _remove_notes_on(folder: str, records: set[str]) -> None:
    """Remove Snakemake's per-file notes in ``folder`` that are about one of ``records``."""
    if not os.path.isdir(folder):
        return
    for parent, _, names in os.walk(folder):
        for name in names:
            note = os.path.join(parent, name)
            path = _marker_target(os.path.relpath(note, folder))
            if path is not None and os.path.normpath(path) in records:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(note)


def _marker_target(relative: str) -> str | None:
    """The file an "incomplete" marker of Snakemake's file persistence stands for.

    Snakemake names a marker by the url-safe base64 of the file's path, split into
    ``@``-prefixed folders when longer than a file name may be.
    """
    encoded = "".join(part.removeprefix("@") for part in relative.split(os.sep))
    try:
        return base64.urlsafe_b64decode(encoded.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def load(spec: str) -> SnakemakeWorkflow:
    """Import the pipeline ``MODULE:ATTRIBUTE`` and translate its plan into rules."""
    return SnakemakeWorkflow(spec)
