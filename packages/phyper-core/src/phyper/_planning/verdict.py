"""The verdict on every job: to run or complete, and why. The one place that decides.

``phyper status``, ``ls``, ``show``, ``collect``, the runner and both backends ask this
module, so they name the same work. For one job (a single job, a batch job or a member
of a batch) the rules are:

* a job is *to run* when its completion record does not check out (see
  `phyper._state.records`: missing, or its files changed), when its step is forced,
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

A job whose last run failed while its earlier result stayed intact (a forced rerun that
raised before touching its outputs: the runner replaces a record only once the new one is
complete) is *complete*: its result was made by today's code and its files are as
recorded. Its verdict carries the failure (`JobVerdict.last_failure`), and ``phyper
status`` and the report show it (`describe_failure`). If the failed run replaced or
damaged an output, the record no longer checks out and the job is to run, ``failed``.

Complete jobs whose record was made with non-key values other than the current ones
are reported too: non-keys never make a job run again, but results made with, say,
``n_epochs=20`` should not pass unnoticed for results made with 2000.

Looking changes nothing: this module only reads (records, record folders, the job log).

At a million jobs, ``phyper status`` must not build a million jobs: `Verdicts.summary`
lists each step's record folder once, counts a job with no record there as to run from
its key alone, and builds (calls the path functions of) only the jobs that have a record.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, overload

from phyper._planning.code_store import CodeSummary
from phyper._planning.keys import AGGREGATE_KEY
from phyper._planning.plan import is_rung_dependency
from phyper._state.records import NO_RECORD, JobStatus, Reason, Records
from phyper._state.store import Outcome

if TYPE_CHECKING:
    from phyper._planning.plan import Job, Plan, PlannedStep
    from phyper._state.formats import CompletionRecord
    from phyper._state.store import LogEntry, StateStore

__all__ = [
    "EngineCount",
    "Failure",
    "JobVerdict",
    "JobVerdicts",
    "Reason",
    "StepCount",
    "Summary",
    "Verdicts",
    "describe_changes",
    "describe_failure",
    "failed_attempts",
    "job_verdicts",
]


@dataclass(frozen=True)
class Failure:
    """A job's last attempt, when it failed (from the job log)."""

    error: str
    """``ExceptionType: message``, as the runner logged it."""
    at: float | None
    """When it ended (seconds since the epoch), if the log says."""


@dataclass(frozen=True)
class JobVerdict:
    """What an engine will do with one job, and why."""

    job: Job
    to_run: bool
    reason: str
    failed: bool = False
    non_key_changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    code_changes: tuple[str, ...] | None = None
    """None: made by today's code (or code not tracked); else what changed since (`phyper._planning.code_store`)."""
    package_changes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """Distribution -> (version the record was made with, today's), where they differ (never a rerun)."""
    kind: Reason = field(default=Reason.COMPLETE, compare=False, repr=False)
    """What kind of reason `reason` words (for code to branch on; the words are for people)."""
    last_failure: Failure | None = None
    """The job's last attempt, when it failed; on a complete job: a rerun that failed, leaving the earlier result."""


@dataclass
class StepCount:
    """How many jobs of one step there are, are to run, and failed last time."""

    total: int = 0
    to_run: int = 0
    failed: int = 0
    """Jobs to run whose last attempt failed."""
    rerun_failed: int = 0
    """Complete jobs whose last run failed, leaving the earlier result intact."""


@dataclass(frozen=True)
class EngineCount:
    """One step's engine jobs (its batch jobs when batched, else its jobs): what the engines count."""

    jobs: int
    to_run: int
    batch_size: int | None


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
    """Jobs made with other non-key values: the changes (see `describe_changes`) -> job ids."""
    code: CodeSummary = field(default_factory=CodeSummary)
    """Jobs made by older code or with other package versions, per step (see `phyper._planning.code_store`)."""
    rerun_failed: list[tuple[str, str]] = field(default_factory=list)
    """``(job id, what failed)`` of the first complete jobs whose last run failed (see `describe_failure`)."""
    engine: dict[str, EngineCount] = field(default_factory=dict)
    """Step -> its engine jobs (``snakemake -n``, ``doit list --all --status``); empty when folded from
    verdicts alone (no plan to count them in)."""


# -- the job log: why a job without a record is to run ----------------------------------


def failed_attempts(state: StateStore) -> dict[str, Failure]:
    """Job id -> its failure, for the jobs whose last attempt (done or failed) failed."""
    failures: dict[str, Failure] = {}
    for entry in _log_entries(state, only_failures=True, seen=failures):
        if entry.outcome is Outcome.FAILED:
            failures[entry.id] = Failure(entry.error or "", entry.finished if entry.finished is not None else entry.started)
        elif entry.outcome is Outcome.DONE:
            failures.pop(entry.id, None)
    return failures


def describe_failure(job: Job, failure: Failure) -> str:
    """``complete; the last rerun failed at <time>: <error> (phyper show <hash>)``: a complete job's failed rerun."""
    at = f" at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(failure.at))}" if failure.at is not None else ""
    show = f" (phyper show {job.key[:12]})" if job.key != AGGREGATE_KEY else ""
    return f"complete; the last rerun failed{at}: {failure.error}{show}"


def _log_entries(state: StateStore, *, only_failures: bool, seen: Collection[str] = ()) -> Iterator[LogEntry]:
    """The job log's entries; with ``only_failures``, lines that cannot matter are not parsed.

    A log of a million jobs is mostly lines of jobs done: until a failure is ``seen``, only
    a line holding ``"failed"`` can matter (the runner writes ``"status": "failed"``).
    Damaged lines are skipped and counted in one warning (see `phyper._state.store`).
    """

    def worth_parsing(line: bytes | str) -> bool:
        if not only_failures or seen:
            return True
        return b'"failed"' in line if isinstance(line, bytes) else '"failed"' in line

    yield from state.iter_log(worth_parsing)


# -- the verdicts over a plan -------------------------------------------------------------


class Verdicts:
    """The verdict on each job of one plan, memoised: what every tool asks.

    Records are read when a verdict is first asked for; a long-lived process that
    runs jobs meanwhile makes a new `Verdicts` to see them. The code each step
    is expected to have comes with the plan (`phyper.Plan.codes`).

    Args:
        plan: the plan (see `phyper.Pipeline.plan`).
        forced: names of steps whose jobs run even if complete (with what follows them).
        remember: keep every verdict and every record read (a report that asks about
            each job more than once reads each record once); by default the verdicts
            on members of batches and the records are not kept (a million of them).

    Raises:
        UnknownStepError: a forced step is not in the plan.
    """

    def __init__(self, plan: Plan, *, forced: Collection[str] = (), remember: bool = False) -> None:
        for name in forced:
            plan.step(name)
        self.plan = plan
        self.forced = frozenset(forced)
        self.remember = remember
        self.records = Records(plan.state, plan.codes, keep=remember)
        """The records' owner this object checks with (it keeps the content hashes it computed)."""
        # engine jobs (unbatched jobs and batch jobs) by id: what other jobs depend on.
        # Members of batches are not kept: nothing depends on them, and there may be a million
        self._memo: dict[str, JobVerdict] = {}
        self._failures: dict[str, Failure] | None = None

    # -- one job ---------------------------------------------------------------------

    def verdict(self, job: Job) -> JobVerdict:
        """The verdict on ``job``: a single job, a batch job, or a member of a batch."""
        if job.batch is not None and not self.remember:
            return self._decide(job, None)
        found = self._memo.get(job.id)
        if found is None:
            found = self._memo[job.id] = self._batch_verdict(job) if job.is_batch else self._decide(job, None)
        return found

    def records_check_out(self, job: Job, members: Iterable[Job] = ()) -> JobStatus:
        """Whether ``job``'s own records check out now (no upstream rule, no forcing; nothing memoised).

        What the runner asks under the job's lock, once the engine ran what the job depends
        on. For a batch job, ``members`` are its members' jobs.
        """
        return self.records.check_batch(job, members) if job.is_batch else self.records.check(job)[0]

    def engine_jobs_to_run(self) -> list[Job]:
        """The engine jobs (batch jobs for batched steps) to run, in plan order.

        Each step's record folder is listed once: a job (or a batch's member) with no
        record there is to run without being opened, or for a member, built.
        """
        to_run = []
        for step in self.plan.steps:
            recorded = self.plan.state.record_names(step.name)
            for job in self.plan.engine_jobs_of(step.name):
                verdict = self._memo.get(job.id)
                if verdict is None:
                    if job.is_batch:
                        verdict = self._batch_verdict(job, recorded)
                    else:
                        verdict = self._decide(job, None if job.key in recorded else False)
                    self._memo[job.id] = verdict
                if verdict.to_run:
                    to_run.append(job)
        return to_run

    def __iter__(self) -> Iterator[JobVerdict]:
        """The verdict on every job (members, not batch jobs), in plan order."""
        for step in self.plan.steps:
            for _, verdict, _, _, _ in self._walk(step, self.plan.engine_jobs_of(step.name), build=True):
                if verdict is not None:  # always, when every job is built
                    yield verdict

    def __len__(self) -> int:
        return len(self.plan)

    def summary(self, limit: int | None = 20) -> Summary:
        """Counts per step (its engine jobs too), the first ``limit`` jobs to run (all with None), the drifted jobs.

        Builds only the jobs that have a record (see the module docstring). Each step's
        record folder is listed once, for its jobs and its engine jobs alike.
        """
        fold = SummaryFold(limit, CodeSummary(self.plan.codes))
        for step in self.plan.steps:
            fold.add_step(step.name)
            engine_jobs = self.plan.engine_jobs_of(step.name)
            for job_id, verdict, to_run, reason, failed in self._walk(step, engine_jobs, build=False):
                fold.add(step.name, job_id, verdict, to_run, reason, failed)
            # the walk left the verdict on each engine job
            engine_to_run = sum(self._memo[job.id].to_run for job in engine_jobs)
            batch_size = step.batch_size if step.is_batched else None
            fold.engine[step.name] = EngineCount(len(engine_jobs), engine_to_run, batch_size)
        return fold.summary()

    # -- how: each rule once -----------------------------------------------------------------

    def _failure(self, job_id: str) -> Failure | None:
        if self._failures is None:
            self._failures = failed_attempts(self.plan.state)
        return self._failures.get(job_id)

    def _incomplete(self, job_id: str, status: JobStatus) -> tuple[str, bool, Reason]:
        """The reason shown for an incomplete job, whether its last attempt failed, and the reason's kind.

        A job whose last attempt failed reads ``failed: <error>`` (what to act on), whether it
        has no record or an earlier record that no longer checks out (the failed run damaged
        an output); the kind stays the record's (older code stays `Reason.OLDER_CODE`).
        """
        failure = self._failure(job_id)
        if failure is None:
            return status.reason, False, status.kind
        kind = Reason.FAILED if status.kind is Reason.NO_RECORD else status.kind
        return f"failed: {failure.error}", True, kind

    def _forced(self, job: Job) -> JobVerdict | None:
        """The forcing rule: a job of a forced step is to run."""
        if job.step in self.forced:
            return JobVerdict(job, True, f"step `{job.step}` is forced", kind=Reason.FORCED)
        return None

    @staticmethod
    def _batch_of(batch: Job, member: str | None, reason: str = "", failed: bool = False,
                  kind: Reason = Reason.COMPLETE) -> JobVerdict:
        """The batch rule: a batch job is to run when a member is (its first, ``member``), else complete."""
        if member is None:
            return JobVerdict(batch, False, "complete")
        return JobVerdict(batch, True, f"member {member}: {reason}", failed, kind=kind)

    def _decide(self, job: Job, recorded: bool | None) -> JobVerdict:
        """The verdict on one job that is not a batch job (``recorded`` False: its record is known absent)."""
        status, record = (NO_RECORD, None) if recorded is False else self.records.check(job)
        codes = self.plan.codes
        code = codes.verdict_fields(job.step, record) if record is not None and codes is not None else {}
        if not status.complete:
            reason, failed, kind = self._incomplete(job.id, status)
            last = self._failure(job.id) if failed else None
            return JobVerdict(job, True, reason, failed, **code, kind=kind, last_failure=last)
        changes = _non_key_changes(record, self.plan.non_keys)
        forced = self._forced(job)
        if forced is not None:
            return JobVerdict(job, True, forced.reason, False, changes, **code, kind=Reason.FORCED)
        for dependency in job.dependencies:
            if is_rung_dependency(job, dependency):
                continue  # a lower rung is an optional input: it orders, never invalidates (phyper._running.continuation)
            if self._engine_verdict(dependency).to_run:
                return JobVerdict(
                    job, True, f"upstream job {dependency} is to run", False, changes, **code, kind=Reason.UPSTREAM
                )
        # a rerun that failed and left the earlier result intact: complete, the failure shown
        return JobVerdict(job, False, "complete", False, changes, **code, last_failure=self._failure(job.id))

    def _engine_verdict(self, job_id: str) -> JobVerdict:
        found = self._memo.get(job_id)
        if found is not None:
            return found
        batch = self.plan.batches.get(job_id)
        return self.verdict(batch if batch is not None else self.plan.jobs[job_id])

    def _batch_verdict(self, batch: Job, recorded: frozenset[str] | None = None) -> JobVerdict:
        """A batch job is to run when one of its members is: the first one decides.

        With ``recorded`` (the keys with a record now), a member with no record is not built.
        """
        forced = self._forced(batch)
        if forced is not None:
            return forced
        for key in batch.members:
            if recorded is not None and key not in recorded:
                return self._batch_of(batch, key, *self._incomplete(f"{batch.step}:{key}", NO_RECORD))
            member = self._decide(self.plan.jobs[f"{batch.step}:{key}"], None)
            if member.to_run:
                return self._batch_of(batch, key, member.reason, member.failed, member.kind)
        return self._batch_of(batch, None)

    def _member(self, job_id: str, recorded: bool) -> JobVerdict:
        """The verdict on a member of a batch (kept when remembering)."""
        found = self._memo.get(job_id) if self.remember else None
        if found is None:
            found = self._decide(self.plan.jobs[job_id], None if recorded else False)
            if self.remember:
                self._memo[job_id] = found
        return found

    def _walk(
        self, step: PlannedStep, engine_jobs: Sequence[Job], *, build: bool
    ) -> Iterator[tuple[str, JobVerdict | None, bool, str, bool]]:
        """``(job id, verdict, to run, reason, failed)`` of each job of ``step``, in grid order.

        ``engine_jobs`` are the step's engine jobs (`phyper.Plan.engine_jobs_of`): its jobs,
        or its batch jobs. The step's record folder is listed once. Unless ``build``, a job
        of a batched step with no record there is not built (its verdict is None); its
        reason comes from its key. The verdict on every engine job is kept on the way.
        """
        plan = self.plan
        jobs = plan.jobs
        recorded = plan.state.record_names(step.name)
        if not step.is_batched:
            for job in engine_jobs:
                found = self._memo.get(job.id)
                if found is None:
                    found = self._memo[job.id] = self._decide(job, None if job.key in recorded else False)
                yield job.id, found, found.to_run, found.reason, found.failed
            return
        first_to_run: dict[str, tuple[str, str, bool, Reason]] = {}  # batch key -> its first member to run
        for key in jobs.keys_of(step.name):
            job_id = f"{step.name}:{key}"
            verdict: JobVerdict | None = None
            if build or key in recorded:
                built = self._member(job_id, key in recorded)
                verdict, to_run, reason, failed, kind = built, built.to_run, built.reason, built.failed, built.kind
            else:
                to_run = True
                reason, failed, kind = self._incomplete(job_id, NO_RECORD)
            if to_run:
                first_to_run.setdefault(jobs.batch_of(step.name, key), (key, reason, failed, kind))
            yield job_id, verdict, to_run, reason, failed
        for batch in engine_jobs:
            if batch.id not in self._memo:
                member = first_to_run.get(batch.key)
                self._memo[batch.id] = self._forced(batch) or (
                    self._batch_of(batch, *member) if member is not None else self._batch_of(batch, None)
                )


class SummaryFold:
    """The one fold of verdicts into a per-step `Summary` (``phyper status``, ``ls``, the report).

    Args:
        limit: how many jobs to run are listed (None: all).
        code: what is gathered about code (see `phyper._planning.code_store.CodeSummary`).
    """

    def __init__(self, limit: int | None, code: CodeSummary | None = None) -> None:
        self.limit = limit
        self.steps: dict[str, StepCount] = {}
        self.pending: list[tuple[str, str]] = []
        self.pending_total = 0
        self.drifted: dict[str, list[str]] = {}
        self.rerun_failed: list[tuple[str, str]] = []
        self.engine: dict[str, EngineCount] = {}
        self.code = code if code is not None else CodeSummary()

    def add_step(self, step: str) -> None:
        """A step of the plan (counted even without jobs)."""
        self.steps.setdefault(step, StepCount())
        self.code.add_step(step)

    def add(self, step: str, job_id: str, verdict: JobVerdict | None, to_run: bool, reason: str, failed: bool) -> None:
        """One job (its verdict None when it was counted from its key alone)."""
        count = self.steps.get(step)
        if count is None:
            self.add_step(step)
            count = self.steps[step]
        count.total += 1
        if to_run:
            count.to_run += 1
            count.failed += failed
            self.pending_total += 1
            if self.limit is None or len(self.pending) < self.limit:
                self.pending.append((job_id, reason))
        elif verdict is not None and verdict.last_failure is not None:
            count.rerun_failed += 1
            if self.limit is None or len(self.rerun_failed) < self.limit:
                self.rerun_failed.append((job_id, describe_failure(verdict.job, verdict.last_failure)))
        if verdict is not None:
            if verdict.non_key_changes:
                self.drifted.setdefault(describe_changes(verdict.non_key_changes), []).append(job_id)
            self.code.add(verdict)

    def add_verdict(self, verdict: JobVerdict) -> None:
        """One job's verdict."""
        self.add(verdict.job.step, verdict.job.id, verdict, verdict.to_run, verdict.reason, verdict.failed)

    def summary(self) -> Summary:
        """What was folded."""
        return Summary(self.steps, self.pending, self.pending_total, self.drifted, self.code, self.rerun_failed, self.engine)


def _non_key_changes(record: CompletionRecord | None, current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    recorded = record.non_keys if record is not None and record.non_keys is not None else {}
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

    What `job_verdicts` returns: a sequence (``len``, indexing, iteration, equal to
    the list of the same verdicts) that does not hold a million verdicts unless indexed;
    ``phyper status`` asks its `Verdicts` for a `Verdicts.summary` instead.
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
    """What `job_verdicts` needs of a pipeline (a `phyper.Pipeline`): its plan.

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
