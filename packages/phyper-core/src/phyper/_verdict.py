"""The verdict on every job: to run or complete, and why. The one place that decides.

``phyper status``, ``ls``, ``show``, ``collect``, the runner and both backends ask this
module, so they name the same work. For one job (a single job, a batch job or a member
of a batch) the rules are:

* a job is *to run* when its completion record does not check out (see
  :mod:`phyper._completion`: missing, or its files changed), when its step is forced,
  or when any job it depends on is to run (what Snakemake and doit decide too);
* a batch job is to run exactly when one of its current members is: what its own
  record lists does not matter, so after ``phyper migrate --apply``, ``gc --delete``, a
  grid grown or shrunk, or another ``PHYPER_BATCH``, a batch whose members are all
  complete is complete.

Each verdict says why in words a person can act on:

* ``no completion record`` (never ran, or was deleted),
* ``failed: ValueError: boom`` (the last attempt raised; the line comes from the job log),
* ``output ... is missing`` / ``changed content`` / ``input ... was rewritten`` ...,
* ``step `train` is forced``, ``upstream job train:3f2a... is to run``,
* for a batch job, its first member to run: ``member 3f2a...: no completion record``.

Complete jobs whose record was made with non-key values other than the current ones
are reported too: non-keys never make a job run again, but results made with, say,
``n_epochs=20`` should not pass unnoticed for results made with 2000.

Looking changes nothing: this module only reads (records, record folders, the job log).

At a million jobs, ``phyper status`` must not build a million jobs: :meth:`Verdicts.summary`
lists each step's record folder once, counts a job with no record there as to run from
its key alone, and builds (calls the path functions of) only the jobs that have a record.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, overload

from phyper._code_store import CodeSummary, code_verdict
from phyper._completion import JobStatus, check_job, check_job_record
from phyper._job_log import iter_job_log
from phyper._keys import batch_finder

if TYPE_CHECKING:
    from phyper._plan import Job, Plan, PlannedStep

__all__ = [
    "JobVerdict",
    "JobVerdicts",
    "StepCount",
    "Summary",
    "Verdicts",
    "check_batch",
    "describe_changes",
    "failed_attempts",
    "job_status",
    "job_verdicts",
    "last_attempts",
]

NO_RECORD = "no completion record"
_NO_RECORD_STATUS = JobStatus(False, NO_RECORD)


@dataclass(frozen=True)
class JobVerdict:
    """What an engine will do with one job, and why."""

    job: Job
    to_run: bool
    reason: str
    failed: bool = False
    non_key_changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    code_changes: tuple[str, ...] | None = None
    """None: made by today's code (or code not tracked); else what changed since (:mod:`phyper._code_store`)."""
    package_changes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """Distribution -> (version the record was made with, today's), where they differ (never a rerun)."""


@dataclass
class StepCount:
    """How many jobs of one step there are, are to run, and failed last time."""

    total: int = 0
    to_run: int = 0
    failed: int = 0


@dataclass
class Summary:
    """What ``phyper status`` prints, counted without building the jobs that have no record."""

    steps: dict[str, StepCount]
    """Per step, in plan order."""
    pending: list[tuple[str, str]]
    """``(job id, reason)`` of the first jobs to run, in plan order (as many as asked)."""
    pending_total: int
    """How many jobs are to run in all."""
    drifted: dict[str, list[str]]
    """Jobs made with other non-key values: the changes (see :func:`describe_changes`) -> job ids."""
    code: CodeSummary = field(default_factory=CodeSummary)
    """Jobs made by older code or with other package versions, per step (see :mod:`phyper._code_store`)."""


# -- the record rule alone, for one job ------------------------------------------------


def job_status(job: Job, members: Iterable[Job] = ()) -> JobStatus:
    """Whether ``job``'s own records check out (no upstream rule, no forcing).

    What the runner asks under the job's lock, once the engine ran what the job depends
    on. For a batch job, ``members`` are its members' jobs (see :func:`check_batch`).
    """
    return check_batch(job, members) if job.is_batch else check_job(job)


def check_batch(batch: Job, members: Iterable[Job]) -> JobStatus:
    """Whether a batch job is complete: every one of its current members is.

    ``members`` are the jobs named by ``batch.members``; the batch record's own list of
    members does not matter (see the module docstring). It is consumed lazily: the
    first incomplete member decides.
    """
    for member in members:
        status = check_job(member)
        if not status.complete:
            return JobStatus(False, f"member {member.key}: {status.reason}")
    return JobStatus(True, "complete")


# -- the job log: why a job without a record is to run ----------------------------------


def last_attempts(state_folder: str) -> dict[str, dict[str, Any]]:
    """The last job-log entry of each job id (``step:key``) that ran or failed."""
    attempts: dict[str, dict[str, Any]] = {}
    for entry in _log_entries(state_folder, only_failures=False):
        if entry.get("status", "done") in ("done", "failed"):
            attempts[f"{entry.get('step')}:{entry.get('key')}"] = entry
    return attempts


def failed_attempts(state_folder: str) -> dict[str, str]:
    """Job id -> error line, for the jobs whose last attempt (done or failed) failed."""
    failures: dict[str, str] = {}
    for entry in _log_entries(state_folder, only_failures=True, seen=failures):
        status = entry.get("status", "done")
        job_id = f"{entry.get('step')}:{entry.get('key')}"
        if status == "failed":
            failures[job_id] = str(entry.get("error", ""))
        elif status == "done":
            failures.pop(job_id, None)
    return failures


def _log_entries(state_folder: str, *, only_failures: bool, seen: Collection[str] = ()) -> Iterator[dict[str, Any]]:
    """The job log's entries; with ``only_failures``, lines that cannot matter are not parsed.

    A log of a million jobs is mostly ``done`` lines: until a failure is ``seen``, only a
    line holding ``"failed"`` can matter (the runner writes ``"status": "failed"``).
    Damaged lines are skipped and counted in one warning (see :mod:`phyper._job_log`).
    """

    def worth_parsing(line: bytes | str) -> bool:
        if not only_failures or seen:
            return True
        return b'"failed"' in line if isinstance(line, bytes) else '"failed"' in line

    yield from iter_job_log(state_folder, worth_parsing)


# -- the verdicts over a plan -------------------------------------------------------------


class Verdicts:
    """The verdict on each job of one plan, memoised: what every tool asks.

    Records are read when a verdict is first asked for; a long-lived process that
    runs jobs meanwhile makes a new :class:`Verdicts` to see them.

    Args:
        plan: the plan (see :meth:`phyper.Pipeline.plan`).
        forced: names of steps whose jobs run even if complete (with what follows them).

    Raises:
        UnknownStepError: a forced step is not in the plan.
    """

    def __init__(self, plan: Plan, *, forced: Collection[str] = ()) -> None:
        for name in forced:
            plan.step(name)
        self.plan = plan
        self.forced = frozenset(forced)
        # engine jobs (unbatched jobs and batch jobs) by id: what other jobs depend on.
        # Members of batches are not kept: nothing depends on them, and there may be a million
        self._memo: dict[str, JobVerdict] = {}
        self._failures: dict[str, str] | None = None

    # -- one job ---------------------------------------------------------------------

    def verdict(self, job: Job) -> JobVerdict:
        """The verdict on ``job``: a single job, a batch job, or a member of a batch."""
        if job.batch is not None:
            return self._decide(job, None)
        found = self._memo.get(job.id)
        if found is None:
            found = self._memo[job.id] = self._batch_verdict(job) if job.is_batch else self._decide(job, None)
        return found

    def engine_jobs_to_run(self) -> list[Job]:
        """The engine jobs (batch jobs for batched steps) to run, in plan order.

        Each step's record folder is listed once: a job (or a batch's member) with no
        record there is to run without being opened, or for a member, built.
        """
        to_run = []
        for step in self.plan.steps:
            names = self._names(step)
            for job in self.plan.engine_jobs_of(step.name):
                verdict = self._memo.get(job.id)
                if verdict is None:
                    if job.is_batch:
                        verdict = self._batch_verdict(job, names)
                    else:
                        verdict = self._decide(job, None if job.key + ".json" in names else False)
                    self._memo[job.id] = verdict
                if verdict.to_run:
                    to_run.append(job)
        return to_run

    def __iter__(self) -> Iterator[JobVerdict]:
        """The verdict on every job (members, not batch jobs), in plan order."""
        for step in self.plan.steps:
            for _, verdict, _, _, _ in self._walk(step, build=True):
                if verdict is not None:  # always, when every job is built
                    yield verdict

    def __len__(self) -> int:
        return len(self.plan)

    def summary(self, limit: int | None = 20) -> Summary:
        """Counts per step, the first ``limit`` jobs to run (all with None) and the drifted jobs.

        Builds only the jobs that have a record (see the module docstring).
        """
        steps: dict[str, StepCount] = {}
        pending: list[tuple[str, str]] = []
        pending_total = 0
        drifted: dict[str, list[str]] = {}
        code = CodeSummary()
        for step in self.plan.steps:
            count = steps[step.name] = StepCount()
            code.add_step(step.name, next(self.plan.jobs.records_of(step.name), None))
            for job_id, verdict, to_run, reason, failed in self._walk(step, build=False):
                count.total += 1
                if to_run:
                    count.to_run += 1
                    count.failed += failed
                    pending_total += 1
                    if limit is None or len(pending) < limit:
                        pending.append((job_id, reason))
                if verdict is not None and verdict.non_key_changes:
                    drifted.setdefault(describe_changes(verdict.non_key_changes), []).append(job_id)
                if verdict is not None:
                    code.add(verdict)
        return Summary(steps, pending, pending_total, drifted, code)

    # -- how -----------------------------------------------------------------------------

    def _failure(self, job_id: str) -> str | None:
        if self._failures is None:
            self._failures = failed_attempts(self.plan.state_folder)
        return self._failures.get(job_id)

    def _incomplete(self, job_id: str, reason: str) -> tuple[str, bool]:
        """The reason shown for an incomplete job, and whether its last attempt failed."""
        error = self._failure(job_id)
        if error is None:
            return reason, False
        return (f"failed: {error}" if reason == NO_RECORD else reason), True

    def _decide(self, job: Job, recorded: bool | None) -> JobVerdict:
        """The verdict on one job that is not a batch job (``recorded`` False: its record is known absent)."""
        status, record = (_NO_RECORD_STATUS, None) if recorded is False else check_job_record(job)
        code = code_verdict(job.record, record) if record is not None else {}  # the code rule is in the record check
        if not status.complete:
            reason, failed = self._incomplete(job.id, status.reason)
            return JobVerdict(job, True, reason, failed, **code)
        changes = _non_key_changes(record, self.plan.non_keys)
        if job.step in self.forced:
            return JobVerdict(job, True, f"step `{job.step}` is forced", False, changes, **code)
        for dependency in job.dependencies:
            if self._engine_verdict(dependency).to_run:
                return JobVerdict(job, True, f"upstream job {dependency} is to run", False, changes, **code)
        return JobVerdict(job, False, "complete", False, changes, **code)

    def _engine_verdict(self, job_id: str) -> JobVerdict:
        found = self._memo.get(job_id)
        if found is not None:
            return found
        batch = self.plan.batches.get(job_id)
        return self.verdict(batch if batch is not None else self.plan.jobs[job_id])

    def _batch_verdict(self, batch: Job, names: frozenset[str] | None = None) -> JobVerdict:
        """A batch job is to run when one of its members is: the first one decides.

        With ``names`` (the step's record folder), a member with no record is not built.
        """
        if batch.step in self.forced:
            return JobVerdict(batch, True, f"step `{batch.step}` is forced")
        for key in batch.members:
            if names is not None and key + ".json" not in names:
                reason, failed = self._incomplete(f"{batch.step}:{key}", NO_RECORD)
                return JobVerdict(batch, True, f"member {key}: {reason}", failed)
            member = self._decide(self.plan.jobs[f"{batch.step}:{key}"], None)
            if member.to_run:
                return JobVerdict(batch, True, f"member {key}: {member.reason}", member.failed)
        return JobVerdict(batch, False, "complete")

    def _names(self, step: PlannedStep) -> frozenset[str]:
        """The names in ``step``'s record folder now (none if it does not exist)."""
        first = next(self.plan.jobs.records_of(step.name), None)
        return _listing(os.path.dirname(first)) if first is not None else frozenset()

    def _walk(self, step: PlannedStep, *, build: bool) -> Iterator[tuple[str, JobVerdict | None, bool, str, bool]]:
        """``(job id, verdict, to run, reason, failed)`` of each job of ``step``, in grid order.

        The step's record folder is listed once. Unless ``build``, a job of a batched step
        with no record there is not built (its verdict is None); its reason comes from its
        key. The verdicts of a batched step's batch jobs are kept on the way.
        """
        plan = self.plan
        jobs = plan.jobs
        names = self._names(step)
        if not step.is_batched:
            for job in jobs.of_step(step.name):
                found = self._memo.get(job.id)
                if found is None:
                    found = self._memo[job.id] = self._decide(job, None if job.key + ".json" in names else False)
                yield job.id, found, found.to_run, found.reason, found.failed
            return
        batch_of = batch_finder({batch.key: batch.members for batch in plan.engine_jobs_of(step.name)})
        forced = step.name in self.forced
        first_to_run: dict[str, tuple[str, str, bool]] = {}  # batch key -> its first member to run
        for key in jobs.keys_of(step.name):
            job_id = f"{step.name}:{key}"
            recorded = key + ".json" in names
            verdict: JobVerdict | None = None
            if recorded or build:
                built = self._decide(jobs[job_id], None if recorded else False)
                verdict, to_run, reason, failed = built, built.to_run, built.reason, built.failed
            else:
                to_run = True
                reason, failed = self._incomplete(job_id, NO_RECORD)
            if to_run:
                first_to_run.setdefault(batch_of(key), (key, reason, failed))
            yield job_id, verdict, to_run, reason, failed
        for batch in plan.engine_jobs_of(step.name):
            if batch.id in self._memo:
                continue
            member = first_to_run.get(batch.key)
            if forced:
                self._memo[batch.id] = JobVerdict(batch, True, f"step `{step.name}` is forced")
            elif member is not None:
                self._memo[batch.id] = JobVerdict(batch, True, f"member {member[0]}: {member[1]}", member[2])
            else:
                self._memo[batch.id] = JobVerdict(batch, False, "complete")


def _listing(folder: str) -> frozenset[str]:
    """The names in a record folder (none if it does not exist): one listing, not a failed open per job."""
    try:
        return frozenset(os.listdir(folder))
    except OSError:
        return frozenset()


def _non_key_changes(record: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    recorded = record.get("non_keys", {}) if record else {}
    if not isinstance(recorded, dict):
        return {}
    return {
        name: (recorded[name], value)
        for name, value in current.items()
        if name in recorded and recorded[name] != value
    }


def describe_changes(changes: dict[str, tuple[Any, Any]]) -> str:
    """``n_epochs=20 (now 2000), ...``: non-key values a job was made with, against the current ones."""
    return ", ".join(f"{name}={old!r} (now {new!r})" for name, (old, new) in sorted(changes.items()))


# -- the list of verdicts (kept public) ----------------------------------------------------


class JobVerdicts(Sequence[JobVerdict]):
    """The verdict on every job of a plan, in plan order, made while iterating.

    What :func:`job_verdicts` returns: a sequence (``len``, indexing, iteration, equal to
    the list of the same verdicts) that does not hold a million verdicts unless indexed;
    ``phyper status`` asks its :class:`Verdicts` for a :meth:`~Verdicts.summary` instead.
    """

    def __init__(self, verdicts: Verdicts) -> None:
        self.verdicts = verdicts
        self._list: list[JobVerdict] | None = None

    def __iter__(self) -> Iterator[JobVerdict]:
        return iter(self._list) if self._list is not None else iter(self.verdicts)

    def __len__(self) -> int:
        return len(self.verdicts)

    @overload
    def __getitem__(self, index: int) -> JobVerdict: ...

    @overload
    def __getitem__(self, index: slice) -> list[JobVerdict]: ...

    def __getitem__(self, index: int | slice) -> JobVerdict | list[JobVerdict]:
        if self._list is None:
            self._list = list(self.verdicts)
        return self._list[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JobVerdicts):
            other = list(other)
        return isinstance(other, list) and list(self) == other

    __hash__ = None  # type: ignore[assignment]


class _Planned(Protocol):
    """What :func:`job_verdicts` needs of a pipeline (a :class:`phyper.Pipeline`): its plan.

    A protocol, not the class, so the verdicts never import the pipeline (no circle, even for
    type checking).
    """

    def plan(self) -> Plan: ...


def job_verdicts(pipeline: _Planned, plan: Plan | None = None) -> JobVerdicts:
    """The verdict on every job of the pipeline, in plan (topological) order.

    Args:
        pipeline: the pipeline.
        plan: its plan, if already built (default: ``pipeline.plan()``).
    """
    return JobVerdicts(Verdicts(plan if plan is not None else pipeline.plan()))
