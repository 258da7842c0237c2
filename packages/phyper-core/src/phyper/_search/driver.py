"""Driving a `phyper.Search`: ask Optuna, record, run through an engine, tell.

The study and Optuna's objects are made in `phyper._search.study`; the jobs of a trial
and the trials as ``search show`` lists them in `phyper._search.trials`; the names of
both are re-exported here.

``phyper search run`` calls `drive`. Optuna is optional (the ``search`` extra)
and imported here only, inside functions. Each point the sampler proposes becomes a
trial record (`phyper._search.space`) *before* anything runs, so the engine, started as a
subprocess that imports the pipeline module, sees the trial's instances; the driver
then reads the objective from the completion records of the trial's jobs and the
pipeline's metrics loader, and tells the sampler.

What keeps the search exact when processes die or run side by side:

* a point is named by phyper's hash: a proposal whose jobs are all complete (a
  duplicate of an earlier trial, or a point of the grid) is told from the records at
  once, with no job and no engine;
* each Optuna trial a driver works on is *owned* through a lock file held for as long
  as the driver lives (``owners/<number>.lock``); a trial asked but not told whose
  owner died (``kill -9``) is adopted by the next driver: told from its records if its
  jobs completed, run otherwise;
* running a point holds its run lock (``trials/<hash>.lock``): a second trial of the
  same point, in this driver or another, waits and then finds it complete;
* the jobs themselves run under phyper's per-job locks and completion records, so no
  job runs twice, whoever started it (an engine on the grid included).

A trial whose jobs fail is told ``FAIL`` and the search goes on; failed trials count
toward ``--trials``, so a pipeline that always fails ends the search.

With a budget (``Search(fidelity=)``) a trial runs rung by rung, and the unit of work
is one rung of one trial: its instances at that value of the key (the record names the
highest rung started, so the engine and `phyper.continued_from` see the rungs below),
the objective averaged over them reported to the Optuna trial at that step, then the
study's pruner (`make_pruner`) decides: tell it pruned, or queue its next rung (which
goes before new proposals). The study holds what a trial reported, so a driver that
adopts a trial takes it up at its last reported rung: done, told from the records, the
pruner asked again.
"""

from __future__ import annotations

import enum
import math
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from phyper._errors import MetricsLoaderError, PhyperError, did_you_mean
from phyper._running.engines import EngineJobs, engines
from phyper._search.space import Search, SearchDefinitionError, TrialRecord, TrialState, read_trial_record
from phyper._search.study import (
    INSTALL_HINT,
    distributions,
    find_search,
    import_optuna,
    make_pruner,
    make_sampler,
    open_study,
    rung_steps,
    trial_state,
)
from phyper._search.trials import (
    SearchTrials,
    TrialRow,
    engine_environment,
    engine_plan,
    jobs_to_run,
    search_trials,
    trial_jobs,
)
from phyper._state.formats import DamagedStateFile
from phyper._state.locks import FileLock

if TYPE_CHECKING:
    from optuna.study import Study
    from optuna.trial import FrozenTrial

    from phyper._planning.pipeline import Pipeline
    from phyper._planning.plan import Plan

__all__ = [
    "INSTALL_HINT",
    "Driver",
    "Point",
    "Proposal",
    "RunningTrial",
    "SearchSummary",
    "SearchTrials",
    "Source",
    "TrialResult",
    "TrialRow",
    "distributions",
    "drive",
    "find_search",
    "import_optuna",
    "jobs_to_run",
    "make_pruner",
    "make_sampler",
    "open_study",
    "search_trials",
    "trial_jobs",
]

ADOPTION_GRACE_S = 5.0
"""A trial asked but not told is adopted only once it is this old: its owner takes the
owner lock within moments of asking, and a younger trial may be between the two."""


def _older_than(started: Any, seconds: float) -> bool:
    import datetime

    if started is None:
        return True
    return bool((datetime.datetime.now() - started).total_seconds() > seconds)


def _objective(pipeline: Pipeline, search: Search, instances: Sequence[Any]) -> float:
    loader = pipeline.metrics_loader
    assert loader is not None  # checked by drive() before anything runs
    values = []
    for instance in instances:
        try:
            metrics = loader(instance) or {}
        except Exception as error:
            raise MetricsLoaderError(
                f"search `{search.name}`: the metrics loader {getattr(loader, '__name__', loader)} raised "
                f"{type(error).__name__}: {error} for the complete instance {instance.get_instance_hash()[:12]} "
                "(its jobs wrote their records: the loader must read what they wrote)"
            ) from error
        if search.objective not in metrics:
            raise SearchDefinitionError(
                f"search `{search.name}`: objective `{search.objective}` is not among the metrics of "
                f"@pipeline.metrics ({', '.join(map(str, metrics)) or 'none'}); name one of them"
            )
        values.append(float(metrics[search.objective]))
    return sum(values) / len(values)


# -- the values the driver passes between its steps ------------------------------------------


class Source(enum.Enum):
    """How a trial's objective was found."""

    RECORDS = "records"
    """Its jobs were done by today's verdicts: told without running anything."""
    ENGINE = "engine"
    """An engine ran its jobs."""


@dataclass(frozen=True)
class Proposal:
    """An Optuna trial this driver owns and takes up: asked now, or adopted from a dead driver."""

    number: int
    params: dict[str, Any]
    rung: int = 0
    """With a fidelity: the index of the rung to run (a trial is taken up once per rung)."""


@dataclass(frozen=True)
class Point:
    """A proposal made concrete at one rung: its point's hash, instances, jobs, and the plan that holds them."""

    number: int
    hash: str
    params: dict[str, Any]
    instances: tuple[Any, ...]
    jobs: tuple[tuple[str, str], ...]
    plan: Plan
    started: float
    """`time.monotonic` when the trial was first taken up by this driver."""
    rung: int = 0
    """The index of the rung (0 without a fidelity)."""
    budget: Any = None
    """The rung's value of the fidelity key (None without a fidelity)."""


@dataclass(frozen=True)
class RunningTrial:
    """A point whose jobs an engine runs in the pool."""

    point: Point
    future: Future[int]
    """The engine's exit status."""


@dataclass(frozen=True)
class TrialResult:
    """What happened to one Optuna trial this driver told."""

    number: int
    hash: str
    params: dict[str, Any]
    state: TrialState
    """`TrialState.COMPLETE`, `TrialState.PRUNED` or `TrialState.FAILED`."""
    objective: float | None
    """The value told: the top rung's objective, or a pruned trial's last reported one."""
    source: Source
    seconds: float
    budget: Any = None
    """With a fidelity: the highest rung the trial reached (reported, or failed at)."""

    def to_json(self) -> dict[str, Any]:
        """The trial as ``phyper search run --json`` lists it (``docs/cli.md``)."""
        return {"number": self.number, "hash": self.hash, "params": self.params, "state": self.state.value,
                "objective": self.objective, "budget": self.budget, "source": self.source.value,
                "seconds": self.seconds}


@dataclass
class SearchSummary:
    """What one `drive` did."""

    results: list[TrialResult] = field(default_factory=list)
    finished: int = 0
    """Trials of the study that are finished (complete or failed), all drivers counted."""
    exhausted: bool = False
    """The sampler had no new point to propose (a grid sampler used up)."""


# -- the driver: select the next work, execute it, process its result -----------------------


class Driver:
    """One ``phyper search run``: `select` picks the next work, `execute` runs a point through
    the engine (or finds it done), `process` reads its objective and tells Optuna.

    With a fidelity the unit of work is one rung of one trial: `process` reports the
    rung's objective to the trial at that budget, asks the pruner, and either tells the
    trial (complete at the top rung, pruned) or queues its next rung; a trial between
    rungs holds no worker.

    See `drive` for the arguments.
    """

    def __init__(
        self, pipeline: Pipeline, search: Search, trials: int, *, engine: str, jobs: int,
        engine_args: Sequence[str], report: Callable[[TrialResult], None] | None,
    ) -> None:
        self.pipeline = pipeline
        self.search = search
        self.trials = trials
        self.engine = engine
        self.command = engines()[engine]
        self.jobs = jobs
        self.engine_args = tuple(engine_args)
        self.report = report
        self.optuna = import_optuna()
        self.study: Study = open_study(search)
        self.space = distributions(search)
        self.environment = engine_environment(pipeline)
        self.summary = SearchSummary()
        self.owners: dict[int, FileLock] = {}
        self.running: dict[Future[int], RunningTrial] = {}
        self.ready: list[Proposal] = []
        """Trials promoted to their next rung, waiting for a worker."""
        self.handles: dict[int, Any] = {}
        """Trial number -> Optuna's `Trial` (to report at a rung and ask the pruner)."""
        self.started: dict[int, float] = {}
        self.ran: set[int] = set()
        """Trials of which an engine ran at least one rung in this driver."""
        self._plan: Plan | None = None
        self._planned = -1  # how many instances the plan was built for

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> SearchSummary:
        """Work until the study holds ``trials`` finished trials (or the sampler has no new point)."""
        self.restore_records()
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            try:
                while True:
                    selected = self.select()
                    for proposal in selected:
                        self.execute(proposal, pool)
                    if not self.running:
                        if selected or self.ready:
                            continue  # told from the records at once, or promoted: select again
                        if self.summary.finished >= self.trials or self.summary.exhausted or self.busy() == 0:
                            break
                        time.sleep(0.2)  # other drivers' trials are in flight
                        continue
                    done, _ = wait(list(self.running), timeout=1.0, return_when=FIRST_COMPLETED)
                    for future in done:
                        running = self.running.pop(future)
                        self.process(running.point, future.result())
            finally:
                for lock in self.owners.values():
                    lock.release()
        self.count_finished()
        return self.summary

    # -- select: the next work -----------------------------------------------------------

    def select(self) -> list[Proposal]:
        """The (trial, rung) pairs to take up now, owned: first the trials promoted to their next
        rung, then those a dead driver left, then new ones asked of Optuna."""
        chosen: list[Proposal] = []
        while self.ready and len(self.running) + len(chosen) < self.jobs:
            chosen.append(self.ready.pop(0))
        chosen.extend(self.adopt(len(chosen)))
        busy = self.busy()
        while (
            len(self.running) + len(chosen) < self.jobs and self.summary.finished + busy < self.trials
            and not self.summary.exhausted
        ):
            try:
                trial = self.study.ask(self.space)
            except RuntimeError:
                if self.search.sampler != "grid":
                    raise
                self.summary.exhausted = True  # the grid sampler has used up its grid
                break
            busy += 1
            if self.own(trial.number):  # else adopted by another driver already
                self.handles[trial.number] = trial
                chosen.append(Proposal(trial.number, dict(trial.params)))
        return chosen

    def adopt(self, chosen: int = 0) -> list[Proposal]:
        """Trials asked but not told whose owner died (``kill -9``), now owned by this driver.

        With a fidelity, an adopted trial starts again at its last reported rung (done: told from
        the records at once, then the pruner decides), or at the first rung when it reported none.
        """
        adopted: list[Proposal] = []
        for trial in self.trials_now():
            if len(self.running) + chosen + len(adopted) >= self.jobs:
                break
            if (
                trial_state(trial.state) is not TrialState.RUNNING
                or trial.number in self.owners
                or not _older_than(trial.datetime_start, ADOPTION_GRACE_S)
                or not self.own(trial.number)
            ):
                continue
            now = self.study.get_trials(deepcopy=False)[trial.number]
            if trial_state(now.state) is not TrialState.RUNNING:
                self.disown(trial.number)  # told between the listing and the lock
            elif now.params.keys() != self.space.keys():
                # asked before its point was sampled (killed inside ask): nothing ran
                self.study.tell(trial.number, state=self.optuna.trial.TrialState.FAIL, skip_if_finished=True)
                self.disown(trial.number)
            else:
                self.handles[trial.number] = self.optuna.trial.Trial(self.study, now._trial_id)
                adopted.append(Proposal(trial.number, dict(now.params), self.reported_rung(now)))
        return adopted

    def reported_rung(self, trial: FrozenTrial) -> int:
        """The index of the highest rung ``trial`` reported a value at (0 when none)."""
        if self.search.fidelity is None or not trial.intermediate_values:
            return 0
        highest = max(trial.intermediate_values)
        below = [index for index, step in enumerate(rung_steps(self.search)) if step <= highest]
        return below[-1] if below else 0

    # -- execute: a point through the engine -------------------------------------------------

    def execute(self, proposal: Proposal, pool: ThreadPoolExecutor) -> None:
        """Record the point, then tell it at once if today's verdicts find its jobs done, else run them."""
        point = self.point(proposal)
        if not jobs_to_run(point.plan, point.jobs):
            self.process(point, None)
            return
        future = pool.submit(self.run_point, point)
        self.running[future] = RunningTrial(point, future)

    def point(self, proposal: Proposal) -> Point:
        """The proposal's point at its rung, recorded (the engine, a new process, finds its instances
        there, with the lower rungs) and planned."""
        started = self.started.setdefault(proposal.number, time.monotonic())
        search = self.search
        params = search.normalize(proposal.params)
        budget = search.fidelity.rungs[proposal.rung] if search.fidelity is not None else None
        instances = search.trial_instances(params, budget)
        point_hash = search.trial_hash(params)
        record = write_point(search, TrialRecord(point_hash, params, budget))
        self.pipeline.add_instances(search.point_instances(record))
        jobs = tuple(trial_jobs(self.pipeline, instances))
        return Point(
            proposal.number, point_hash, params, tuple(instances), jobs, self.plan(), started, proposal.rung, budget
        )

    def plan(self) -> Plan:
        """The plan with every instance added so far (built again only when one was added)."""
        if self._plan is None or self._planned != len(self.pipeline.instances):
            self._plan = engine_plan(self.pipeline, self.environment)
            self._planned = len(self.pipeline.instances)
        return self._plan

    def run_point(self, point: Point) -> int:
        """Run the point's jobs through the engine under the point's run lock; the engine's exit status.

        Runs in the pool: a second trial of the same point waits for the lock, then finds its jobs done.
        """
        lock = FileLock(self.search.store.run_lock_path(point.hash))
        lock.acquire(blocking=True)
        try:
            if not jobs_to_run(point.plan, point.jobs):
                return 0  # another trial of this point ran it meanwhile
            with open(self.search.store.trial_log_path(point.number), "a", encoding="utf-8") as log:
                run = EngineJobs(
                    point.jobs, tuple(self.pipeline.record_path(step, key) for step, key in point.jobs), self.engine_args
                )
                return subprocess.call(
                    self.command(run),
                    stdout=log, stderr=subprocess.STDOUT, env=self.environment, stdin=subprocess.DEVNULL,
                )
        finally:
            lock.release()

    # -- process: the result, told to Optuna -------------------------------------------------

    def process(self, point: Point, exit_status: int | None) -> None:
        """Read the point's objective if today's verdicts find its jobs done, and tell Optuna.

        With a fidelity: report it at the rung, then tell the trial complete (top rung) or
        pruned (the pruner says stop), or queue its next rung. ``exit_status`` None: nothing
        ran (the jobs were done already).
        """
        if exit_status is not None:
            self.ran.add(point.number)
        done = exit_status in (None, 0) and not jobs_to_run(point.plan, point.jobs)
        objective = _objective(self.pipeline, self.search, point.instances) if done else None
        if objective is not None and not math.isfinite(objective):
            objective = None  # Optuna fails a NaN; an infinite objective says nothing either
        fidelity = self.search.fidelity
        if objective is None:
            self.tell(point, TrialState.FAILED, None)
            return
        if fidelity is None:
            self.tell(point, TrialState.COMPLETE, objective)
            return
        handle = self.handles[point.number]
        step = rung_steps(self.search)[point.rung]
        if step not in self.study.get_trials(deepcopy=False)[point.number].intermediate_values:
            handle.report(objective, step)
        if point.rung == len(fidelity.rungs) - 1:
            self.tell(point, TrialState.COMPLETE, objective)
        elif self.search.pruner is not None and handle.should_prune():
            self.tell(point, TrialState.PRUNED, objective)
        else:
            self.ready.append(Proposal(point.number, point.params, point.rung + 1))

    def tell(self, point: Point, state: TrialState, objective: float | None) -> None:
        """Tell Optuna the trial's end, release it, and report it."""
        states = self.optuna.trial.TrialState
        try:
            if state is TrialState.COMPLETE:
                self.study.tell(point.number, objective, skip_if_finished=True)
            elif state is TrialState.PRUNED:
                # Optuna tells a pruned trial its last reported value
                self.study.tell(point.number, state=states.PRUNED, skip_if_finished=True)
            else:
                self.study.tell(point.number, state=states.FAIL, skip_if_finished=True)
        except RuntimeError:
            # the grid sampler calls study.stop() after its last point, which raises
            # outside study.optimize; the trial is stored first (optuna's _tell, finally:)
            if self.search.sampler != "grid":
                raise
            self.summary.exhausted = True
        self.disown(point.number)
        self.handles.pop(point.number, None)
        source = Source.ENGINE if point.number in self.ran else Source.RECORDS
        self.ran.discard(point.number)
        started = self.started.pop(point.number, point.started)
        result = TrialResult(
            point.number, point.hash, point.params, state, objective, source, time.monotonic() - started, point.budget
        )
        self.summary.results.append(result)
        if self.report is not None:
            self.report(result)

    # -- the study and the owner locks ---------------------------------------------------------

    def trials_now(self) -> list[FrozenTrial]:
        """The study's trials now (every driver's), counting the finished ones."""
        listed = self.study.get_trials(deepcopy=False)
        self.summary.finished = sum(self.finished(trial) for trial in listed)
        return listed

    def count_finished(self) -> None:
        self.trials_now()

    def finished(self, trial: FrozenTrial) -> bool:
        """Told, with a point (a trial failed because its driver died inside ask was never a point)."""
        return trial_state(trial.state).finished and trial.params.keys() == self.space.keys()

    def busy(self) -> int:
        """Trials asked and not told, all drivers counted (the study's word, listed now)."""
        return sum(trial_state(trial.state) is TrialState.RUNNING for trial in self.trials_now())

    def own(self, number: int) -> bool:
        lock = FileLock(self.search.store.owner_lock_path(number))
        if not lock.acquire(blocking=False):
            return False
        self.owners[number] = lock
        return True

    def disown(self, number: int) -> None:
        self.owners.pop(number).release()

    def restore_records(self) -> None:
        """Write the record of every point in the study that has none (or a damaged one).

        The study owns the trials; a record only tells the engines a point's instances.
        A driver killed between ``ask`` and the record, or a damaged record, leaves a point
        without one: it is written again here from the trial's key values (with a fidelity,
        up to the highest rung its trials reported).
        """
        recorded = {record.hash for record in self.search.records()}
        for trial in self.study.get_trials(deepcopy=False):
            if trial.params.keys() != self.space.keys():
                continue
            try:
                params = self.search.normalize(dict(trial.params))
                point_hash = self.search.trial_hash(params)
            except PhyperError:
                continue  # a point of keys the class no longer has
            if point_hash not in recorded:
                fidelity = self.search.fidelity
                budget = fidelity.rungs[self.reported_rung(trial)] if fidelity is not None else None
                record = write_point(self.search, TrialRecord(point_hash, params, budget))
                self.pipeline.add_instances(self.search.point_instances(record))
                recorded.add(point_hash)


def write_point(search: Search, record: TrialRecord) -> TrialRecord:
    """Write a point's record under its record lock (several trials, in several drivers, may share it).

    With a fidelity the record keeps the highest rung any trial of the point started: the
    record written is ``record`` with the larger of its budget and the one already there.
    """
    lock = FileLock(search.store.record_lock_path(record.hash))
    lock.acquire(blocking=True)
    try:
        if record.budget is not None:
            try:
                existing = read_trial_record(search.record_path(record.hash))
            except (DamagedStateFile, PhyperError):
                existing = None  # written again below
            if existing is not None and existing.budget is not None and existing.budget > record.budget:
                record = replace(record, budget=existing.budget)
        search.write_record(record)
    finally:
        lock.release()
    return record


def drive(
    pipeline: Pipeline,
    search: Search,
    trials: int,
    *,
    engine: str = "snakemake",
    jobs: int = 1,
    engine_args: Sequence[str] = (),
    report: Callable[[TrialResult], None] | None = None,
) -> SearchSummary:
    """Run ``search`` until ``trials`` trials of its study are finished (complete or failed).

    A proposal is told from the completion records only when the pipeline's verdicts find
    its jobs done (today's code, upstream jobs done, records intact); else its jobs run,
    once, whoever else proposes the same point.

    Args:
        pipeline: the pipeline that lists ``search``.
        search: the search to drive.
        trials: how many trials the study should hold, finished, at the end.
        engine: a registered engine (`phyper._running.engines`: ``snakemake``, ``doit``), run as a
            subprocess in the current folder.
        jobs: how many trials run at once (one engine process each, one job at a time).
        engine_args: more arguments for the engine (``--profile profiles/slurm``).
        report: called with each trial as it is told.

    Raises:
        SearchDefinitionError: no metrics loader, an unknown engine, a bad count.
        MissingDependencyError: Optuna is not installed.
    """
    known = engines()
    if engine not in known:
        raise SearchDefinitionError(
            f"unknown engine {engine!r}{did_you_mean(engine, known)}: give one of {', '.join(known) or 'none'} "
            "(an engine comes with its backend: pip install phyper-snakemake or phyper-doit)"
        )
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise SearchDefinitionError(f"--trials {trials!r}: give a positive number of trials")
    if jobs < 1:
        raise SearchDefinitionError(f"-j {jobs!r}: give a positive number of jobs")
    rung_steps(search)  # fractional rungs: whole multiples of the first
    if pipeline.metrics_loader is None:
        raise SearchDefinitionError(
            f"search `{search.name}` optimises `{search.objective}`, but the pipeline names no metrics: "
            "declare them with @pipeline.metrics"
        )
    return Driver(
        pipeline, search, trials, engine=engine, jobs=jobs, engine_args=engine_args, report=report
    ).run()
