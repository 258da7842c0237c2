"""Driving a `phyper.Search`: ask Optuna, record, run through an engine, tell.

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
import fcntl
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from phyper._errors import DamagedStudyError, MetricsLoaderError, MissingDependencyError, PhyperError, did_you_mean
from phyper._planning.batches import BATCH_ENVIRONMENT_VARIABLE
from phyper._planning.verdict import JobVerdict, Verdicts
from phyper._running.engines import EngineJobs, engines
from phyper._search.space import (
    Choice,
    IntRange,
    LogUniform,
    Search,
    SearchDefinitionError,
    TrialRecord,
    TrialState,
    Uniform,
    read_trial_record,
)
from phyper._state.formats import DamagedStateFile

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.samplers import BaseSampler
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

INSTALL_HINT = "pip install 'phyper-core[search]'"
ADOPTION_GRACE_S = 5.0
"""A trial asked but not told is adopted only once it is this old: its owner takes the
owner lock within moments of asking, and a younger trial may be between the two."""


def _older_than(started: Any, seconds: float) -> bool:
    import datetime

    if started is None:
        return True
    return bool((datetime.datetime.now() - started).total_seconds() > seconds)


def import_optuna() -> Any:
    """Optuna, or a `MissingDependencyError` naming the install command."""
    import importlib

    try:
        # by name: phyper-core installs nothing, and its type check runs without Optuna
        optuna = importlib.import_module("optuna")
    except ImportError as error:
        raise MissingDependencyError(
            f"phyper search needs Optuna (the `search` extra), which is not installed: {INSTALL_HINT}"
        ) from error
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def find_search(pipeline: Pipeline, name: str | None) -> Search:
    """The pipeline's search called ``name``, or its only one when ``name`` is None."""
    if not pipeline.searches:
        raise SearchDefinitionError(
            "the pipeline declares no search: list one in phyper.Pipeline(instances, searches=[phyper.Search(...)])"
        )
    if name is None:
        if len(pipeline.searches) > 1:
            names = ", ".join(search.name for search in pipeline.searches)
            raise SearchDefinitionError(f"the pipeline declares several searches ({names}): name one with --search NAME")
        return pipeline.searches[0]
    for search in pipeline.searches:
        if search.name == name:
            return search
    known = [search.name for search in pipeline.searches]
    raise SearchDefinitionError(f"no search `{name}`{did_you_mean(name, known)} (searches: {', '.join(known)})")


def distributions(search: Search) -> dict[str, BaseDistribution]:
    """The space as Optuna distributions."""
    optuna = import_optuna()
    made: dict[str, BaseDistribution] = {}
    for key, dimension in search.space.items():
        if isinstance(dimension, Choice):
            made[key] = optuna.distributions.CategoricalDistribution(dimension.values)
        elif isinstance(dimension, IntRange):
            made[key] = optuna.distributions.IntDistribution(
                dimension.low, dimension.high, log=dimension.log, step=dimension.step
            )
        elif isinstance(dimension, Uniform):
            made[key] = optuna.distributions.FloatDistribution(dimension.low, dimension.high)
        elif isinstance(dimension, LogUniform):
            made[key] = optuna.distributions.FloatDistribution(dimension.low, dimension.high, log=True)
    return made


def make_sampler(search: Search, *, offset: int = 0) -> BaseSampler:
    """The Optuna sampler the search names, seeded with its seed (plus ``offset``, see `open_study`)."""
    optuna = import_optuna()
    samplers = optuna.samplers
    seed = None if search.seed is None else search.seed + offset
    made: BaseSampler
    if search.sampler == "tpe":
        made = samplers.TPESampler(seed=seed)
        return made
    if search.sampler == "random":
        made = samplers.RandomSampler(seed=seed)
        return made
    if search.sampler == "gp":
        made = samplers.GPSampler(seed=seed)
        return made
    if search.sampler == "cmaes":
        import importlib.util

        if importlib.util.find_spec("cmaes") is None:  # what Optuna's CMA-ES sampler imports when it samples
            raise MissingDependencyError(f"the cmaes sampler needs the cmaes package: {INSTALL_HINT}")
        made = samplers.CmaEsSampler(seed=seed)
        return made
    grid: dict[str, list[Any]] = {}
    for key, dimension in search.space.items():
        if isinstance(dimension, Choice):
            grid[key] = list(dimension.values)
        elif isinstance(dimension, IntRange):
            grid[key] = list(range(dimension.low, dimension.high + 1, dimension.step))
    made = samplers.GridSampler(grid, seed=seed)
    return made


def make_pruner(search: Search) -> Any:
    """Optuna's pruner for the search: built from its name and the budget's rungs, the object given, or none.

    ``'hyperband'``: ``HyperbandPruner(min_resource=low, max_resource=high, reduction_factor=factor)``;
    ``'successive_halving'``: ``SuccessiveHalvingPruner(min_resource=low, reduction_factor=factor)``;
    ``'median'``: ``MedianPruner()``; the factor is the ratio of the first two rungs. Without a pruner,
    Optuna's `NopPruner` (Optuna's own default would be the median pruner).
    """
    pruners = import_optuna().pruners
    pruner = search.pruner
    if pruner is None or search.fidelity is None:
        return pruners.NopPruner()
    if not isinstance(pruner, str):
        return pruner
    rungs = search.fidelity.rungs
    factor = max(2, round(rungs[1] / rungs[0])) if len(rungs) > 1 else 3
    if pruner == "hyperband":
        return pruners.HyperbandPruner(
            min_resource=int(rungs[0]), max_resource=int(rungs[-1]), reduction_factor=factor
        )
    if pruner == "successive_halving":
        return pruners.SuccessiveHalvingPruner(min_resource=int(rungs[0]), reduction_factor=factor)
    return pruners.MedianPruner()


def _storage(search: Search) -> Any:
    """The study's storage: ``storage=``, or the journal file in the search's folder."""
    if search.storage is not None:
        return search.storage
    journal = import_optuna().storages.journal
    path = search.store.journal_path()
    return journal.JournalStorage(journal.JournalFileBackend(path, lock_obj=journal.JournalFileOpenLock(path)))


def _damaged_study(search: Search, error: Exception) -> DamagedStudyError:
    where = search.storage or os.path.join(search.folder, "journal.log")
    return DamagedStudyError(
        f"the study of search `{search.name}` in {where} cannot be read ({type(error).__name__}: {error}): a line of "
        "its journal is damaged. Move the file away to start the study anew (the trial records and every result are "
        "kept: points already done are told from the records, with no job), or restore it from a backup"
    )


def open_study(search: Search) -> Study:
    """The search's Optuna study (created on first use), in the state folder or ``storage=``.

    Raises:
        DamagedStudyError: Optuna cannot read the journal.
    """
    optuna = import_optuna()
    try:
        study: Study = optuna.create_study(
            study_name=search.name,
            storage=_storage(search),
            sampler=make_sampler(search),
            pruner=make_pruner(search),
            direction=search.direction,
            load_if_exists=True,
        )
        existing = len(study.get_trials(deepcopy=False))
    except (ValueError, TypeError, AttributeError, OSError) as error:  # a damaged line (one cut short is skipped), a folder
        raise _damaged_study(search, error) from error
    if existing:
        # a driver that continues a study must not replay the seeded sampler's first
        # draws (they would all be duplicates, told from the records but spending the
        # trial budget): its seed moves on by the trials already there
        study.sampler = make_sampler(search, offset=existing)
    return study


# -- locks -----------------------------------------------------------------------------


class _FileLock:
    """An exclusive ``flock`` on a file, released when the process dies (``kill -9`` too)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._descriptor: int | None = None

    def acquire(self, *, blocking: bool) -> bool:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._descriptor = descriptor
        return True

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the descriptor drops the lock
            self._descriptor = None


# -- a trial's jobs, the verdicts on them, its objective --------------------------------


def trial_jobs(pipeline: Pipeline, instances: Sequence[Any]) -> list[tuple[str, str]]:
    """(step, key) of every per-resource and per-instance job of ``instances`` (aggregates left out)."""
    jobs: dict[tuple[str, str], None] = {}
    for step in pipeline.steps.values():
        if step.kind == "aggregate":
            continue
        for instance in instances:
            jobs[(step.name, instance.get_instance_hash(step.resource_name))] = None
    return list(jobs)


def engine_environment(pipeline: Pipeline) -> dict[str, str]:
    """The environment a trial's engine runs in: a trial's few jobs run as themselves, not in batches."""
    environment = dict(os.environ)
    if not environment.get(BATCH_ENVIRONMENT_VARIABLE):
        batched = [step.name for step in pipeline.steps.values() if step.batch]
        if batched:
            environment[BATCH_ENVIRONMENT_VARIABLE] = ",".join(f"{name}=0" for name in batched)
    return environment


def engine_plan(pipeline: Pipeline, environment: Mapping[str, str]) -> Plan:
    """The pipeline's plan as the trial's engine sees it (its batches: ``environment``'s ``PHYPER_BATCH``).

    Built in the driver's main thread only (it sets the variable for the time of the build).
    """
    saved = os.environ.get(BATCH_ENVIRONMENT_VARIABLE)
    wanted = environment.get(BATCH_ENVIRONMENT_VARIABLE)
    try:
        if wanted is None:
            os.environ.pop(BATCH_ENVIRONMENT_VARIABLE, None)
        else:
            os.environ[BATCH_ENVIRONMENT_VARIABLE] = wanted
        return pipeline.plan()
    finally:
        if saved is None:
            os.environ.pop(BATCH_ENVIRONMENT_VARIABLE, None)
        else:
            os.environ[BATCH_ENVIRONMENT_VARIABLE] = saved


def jobs_to_run(plan: Plan, jobs: Sequence[tuple[str, str]]) -> list[JobVerdict]:
    """The verdicts (code, upstream jobs, forcing, records: `phyper.Verdicts`) on the jobs of ``jobs`` to run.

    A fresh `Verdicts` each time: records are read when first asked, so jobs an engine ran since count.
    """
    verdicts = Verdicts(plan)
    return [verdict for step, key in jobs if (verdict := verdicts.verdict(plan.job(step, key))).to_run]


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


def _trial_state(state: Any) -> TrialState:
    """Optuna's state of a trial as phyper names it."""
    return TrialState[{"FAIL": "FAILED"}.get(state.name, state.name)]


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
        self.owners: dict[int, _FileLock] = {}
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
                _trial_state(trial.state) is not TrialState.RUNNING
                or trial.number in self.owners
                or not _older_than(trial.datetime_start, ADOPTION_GRACE_S)
                or not self.own(trial.number)
            ):
                continue
            now = self.study.get_trials(deepcopy=False)[trial.number]
            if _trial_state(now.state) is not TrialState.RUNNING:
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
        below = [index for index, rung in enumerate(self.search.fidelity.rungs) if rung <= highest]
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
        lock = _FileLock(self.search.store.run_lock_path(point.hash))
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
        step = int(point.budget)
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
        return _trial_state(trial.state).finished and trial.params.keys() == self.space.keys()

    def busy(self) -> int:
        """Trials asked and not told, all drivers counted (the study's word, listed now)."""
        return sum(_trial_state(trial.state) is TrialState.RUNNING for trial in self.trials_now())

    def own(self, number: int) -> bool:
        lock = _FileLock(self.search.store.owner_lock_path(number))
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
    lock = _FileLock(search.store.record_lock_path(record.hash))
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
    if search.fidelity is not None and not all(float(rung).is_integer() for rung in search.fidelity.rungs):
        raise SearchDefinitionError(
            f"search `{search.name}`: the rungs of its fidelity ({search.fidelity.describe()}) must be whole "
            "numbers: Optuna takes a trial's reports at whole steps; give a budget in whole units (epochs, samples)"
        )
    if pipeline.metrics_loader is None:
        raise SearchDefinitionError(
            f"search `{search.name}` optimises `{search.objective}`, but the pipeline names no metrics: "
            "declare them with @pipeline.metrics"
        )
    return Driver(
        pipeline, search, trials, engine=engine, jobs=jobs, engine_args=engine_args, report=report
    ).run()


# -- the trials as people and scripts read them ---------------------------------------------


@dataclass(frozen=True)
class TrialRow:
    """One Optuna trial of a search, as ``phyper search show`` lists it."""

    number: int
    params: dict[str, Any]
    hash: str
    state: TrialState
    objective: float | None
    stale: bool
    """Complete, but its objective came from results made by older code (or since remade):
    its point's jobs are not done by today's verdicts, or a later trial of the point told another value."""
    budget: Any = None
    """With a fidelity: the highest rung the trial reported a value at (None: none yet, or no fidelity)."""
    values: tuple[tuple[Any, float], ...] = ()
    """With a fidelity: (rung, objective) of each rung it reported, increasing (its learning curve)."""

    def to_json(self) -> dict[str, Any]:
        """The trial as ``--json`` lists it (``docs/cli.md``): the key values beside the fixed fields."""
        return {"number": self.number, **self.params, "hash": self.hash, "state": self.state.value,
                "objective": self.objective, "budget": self.budget,
                "rungs": [{"budget": budget, "objective": value} for budget, value in self.values],
                "stale": self.stale}


@dataclass(frozen=True)
class SearchTrials:
    """A search's trials in number order, and its best so far: the one place that computes it."""

    name: str
    objective: str
    direction: str
    keys: tuple[str, ...]
    trials: tuple[TrialRow, ...]

    @property
    def best(self) -> TrialRow | None:
        """The complete trial with the best objective (the first of equals), stale or not."""
        return self._best(stale=True)

    @property
    def best_current(self) -> TrialRow | None:
        """The best complete trial whose results today's code made."""
        return self._best(stale=False)

    def best_so_far(self) -> list[float | None]:
        """After each trial in number order, the best objective told so far (stale trials included)."""
        best: float | None = None
        values: list[float | None] = []
        for row in self.trials:
            if row.state is TrialState.COMPLETE and row.objective is not None and (
                best is None or self._better(row.objective, best)
            ):
                best = row.objective
            values.append(best)
        return values

    def _better(self, value: float, than: float) -> bool:
        return value > than if self.direction == "maximize" else value < than

    def _best(self, *, stale: bool) -> TrialRow | None:
        complete = [
            row for row in self.trials
            if row.state is TrialState.COMPLETE and row.objective is not None and (stale or not row.stale)
        ]
        if not complete:
            return None
        sign = -1.0 if self.direction == "maximize" else 1.0
        return min(complete, key=lambda row: (sign * float(row.objective or 0.0), row.number))

    def to_json(self) -> dict[str, Any]:
        """What ``phyper search show --json`` prints (``docs/cli.md``)."""
        best, current = self.best, self.best_current
        return {
            "search": self.name, "objective": self.objective, "direction": self.direction,
            "trials": [row.to_json() for row in self.trials],
            "best": best.to_json() if best is not None else None,
            "best_current": current.to_json() if current is not None else None,
        }


def load_study(search: Search) -> Study | None:
    """The search's study as it is, or None when it has none yet (then Optuna is not needed).

    Raises:
        DamagedStudyError: Optuna cannot read the journal.
    """
    if search.storage is None and not os.path.lexists(os.path.join(search.folder, "journal.log")):
        return None
    optuna = import_optuna()
    try:
        study: Study = optuna.load_study(study_name=search.name, storage=_storage(search))
        study.get_trials(deepcopy=False)
    except KeyError:
        return None  # the storage holds no study of this name yet
    except (ValueError, TypeError, AttributeError, OSError) as error:
        raise _damaged_study(search, error) from error
    return study


def search_trials(pipeline: Pipeline, search: Search) -> SearchTrials:
    """The search's trials (the study's), each marked stale or not by today's verdicts."""
    study = load_study(search)
    listed = study.get_trials(deepcopy=False) if study is not None else []
    keys = tuple(search.space)
    points: list[tuple[FrozenTrial, dict[str, Any], str]] = []
    for trial in listed:
        if trial.params.keys() != set(keys):
            continue  # never a point (its driver died inside ask)
        try:
            params = search.normalize(dict(trial.params))
            point_hash = search.trial_hash(params)
        except PhyperError:
            # a point of keys or values the class no longer has: listed, never judged current
            params, point_hash = dict(trial.params), f"not-a-point-{trial.number}"
        points.append((trial, params, point_hash))
    plan = engine_plan(pipeline, engine_environment(pipeline)) if points else None
    verdicts = Verdicts(plan) if plan is not None else None
    done: dict[str, bool] = {}
    rows: list[TrialRow] = []
    for trial, params, point_hash in points:
        state = _trial_state(trial.state)
        if point_hash not in done and plan is not None and verdicts is not None:
            done[point_hash] = _point_done(pipeline, plan, verdicts, search, params)
        told = state in (TrialState.COMPLETE, TrialState.PRUNED) and trial.value is not None
        value = float(trial.value) if told and trial.value is not None else None
        reported = tuple(sorted((step, float(value)) for step, value in trial.intermediate_values.items()))
        budget = _budget_value(search, reported[-1][0]) if reported and search.fidelity is not None else None
        rows.append(TrialRow(
            trial.number, params, point_hash, state, value, False, budget,
            tuple((_budget_value(search, step), value) for step, value in reported),
        ))
    # a complete trial is current when its point's jobs are done and no later told value of the point differs
    latest: dict[str, float | None] = {}
    for row in rows:
        if row.state is TrialState.COMPLETE:
            latest[row.hash] = row.objective
    marked = [
        replace(row, stale=row.state is TrialState.COMPLETE and (not done[row.hash] or latest[row.hash] != row.objective))
        for row in rows
    ]
    marked.sort(key=lambda row: row.number)
    lost = {record.hash for record in search.records()} - {row.hash for row in marked}
    if lost:
        print(
            f"phyper: warning: the study of search `{search.name}` has no trial for {len(lost)} recorded point(s) "
            f"({', '.join(sorted(point[:12] for point in lost))}): its journal was cut or replaced; their results are "
            "kept, and `phyper search run` tells them from the records when the sampler proposes them again",
            file=sys.stderr,
        )
    return SearchTrials(search.name, search.objective, search.direction, keys, tuple(marked))


def _budget_value(search: Search, step: int) -> Any:
    """The rung a reported step stands for (a float key's rung is a float)."""
    assert search.fidelity is not None
    for rung in search.fidelity.rungs:
        if rung == step:
            return rung
    return step


def _point_done(pipeline: Pipeline, plan: Plan, verdicts: Verdicts, search: Search, params: dict[str, Any]) -> bool:
    """Whether today's verdicts find every job of the point done (False: a point the plan does not hold)."""
    try:
        jobs = trial_jobs(pipeline, search.trial_instances(params))
        return not any(verdicts.verdict(plan.job(step, key)).to_run for step, key in jobs)
    except PhyperError:
        return False  # its record is damaged or missing (not an instance of the pipeline now): not judged done
