"""Driving a `phyper.Search`: ask Optuna, record, run through an engine, tell.

``phyper search run`` calls `drive`. Optuna is optional (the ``search`` extra)
and imported here only, inside functions. Each point the sampler proposes becomes a
trial record (`phyper._search`) *before* anything runs, so the engine, started as a
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
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from phyper._batches import BATCH_ENVIRONMENT_VARIABLE
from phyper._completion import check_job
from phyper._errors import MetricsLoaderError, MissingDependencyError, did_you_mean
from phyper._locks import FileLock
from phyper._plan import job_for
from phyper._search import (
    Choice,
    IntRange,
    LogUniform,
    Search,
    SearchDefinitionError,
    TrialRecord,
    Uniform,
    read_trial_record,
)

if TYPE_CHECKING:
    from phyper._pipeline import Pipeline

__all__ = [
    "ENGINES",
    "INSTALL_HINT",
    "SearchSummary",
    "TrialResult",
    "distributions",
    "drive",
    "find_search",
    "import_optuna",
    "make_sampler",
    "open_study",
    "trial_jobs",
]

ENGINES = ("snakemake", "doit")
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


def distributions(search: Search) -> dict[str, Any]:
    """The space as Optuna distributions."""
    optuna = import_optuna()
    made: dict[str, Any] = {}
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


def make_sampler(search: Search, *, offset: int = 0) -> Any:
    """The Optuna sampler the search names, seeded with its seed (plus ``offset``, see `open_study`)."""
    optuna = import_optuna()
    samplers = optuna.samplers
    seed = None if search.seed is None else search.seed + offset
    if search.sampler == "tpe":
        return samplers.TPESampler(seed=seed)
    if search.sampler == "random":
        return samplers.RandomSampler(seed=seed)
    if search.sampler == "gp":
        return samplers.GPSampler(seed=seed)
    if search.sampler == "cmaes":
        import importlib.util

        if importlib.util.find_spec("cmaes") is None:  # what Optuna's CMA-ES sampler imports when it samples
            raise MissingDependencyError(f"the cmaes sampler needs the cmaes package: {INSTALL_HINT}")
        return samplers.CmaEsSampler(seed=seed)
    grid: dict[str, list[Any]] = {}
    for key, dimension in search.space.items():
        if isinstance(dimension, Choice):
            grid[key] = list(dimension.values)
        elif isinstance(dimension, IntRange):
            grid[key] = list(range(dimension.low, dimension.high + 1, dimension.step))
    return samplers.GridSampler(grid, seed=seed)


def open_study(search: Search) -> Any:
    """The search's Optuna study (created on first use), in the state folder or ``storage=``."""
    optuna = import_optuna()
    if search.storage is not None:
        storage: Any = search.storage
    else:
        journal = optuna.storages.journal
        path = search.store.journal_path()
        storage = journal.JournalStorage(journal.JournalFileBackend(path, lock_obj=journal.JournalFileOpenLock(path)))
    study = optuna.create_study(
        study_name=search.name,
        storage=storage,
        sampler=make_sampler(search),
        direction=search.direction,
        load_if_exists=True,
    )
    existing = len(study.get_trials(deepcopy=False))
    if existing:
        # a driver that continues a study must not replay the seeded sampler's first
        # draws (they would all be duplicates, told from the records but spending the
        # trial budget): its seed moves on by the trials already there
        study.sampler = make_sampler(search, offset=existing)
    return study


# -- locks -----------------------------------------------------------------------------


_FileLock = FileLock
"""phyper's one lock (`phyper._locks`): exclusive between processes and between this driver's threads,
released when the process dies (``kill -9`` too)."""


# -- a trial's jobs and objective -------------------------------------------------------


def trial_jobs(pipeline: Pipeline, instances: Sequence[Any]) -> list[tuple[str, str]]:
    """(step, key) of every per-resource and per-instance job of ``instances`` (aggregates left out)."""
    jobs: dict[tuple[str, str], None] = {}
    for step in pipeline.steps.values():
        if step.kind == "aggregate":
            continue
        for instance in instances:
            jobs[(step.name, instance.get_instance_hash(step.resource_name))] = None
    return list(jobs)


def _complete(pipeline: Pipeline, jobs: Sequence[tuple[str, str]]) -> bool:
    return all(check_job(job_for(pipeline, step, key)) for step, key in jobs)


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


@dataclass
class TrialResult:
    """What happened to one Optuna trial."""

    number: int
    hash: str
    params: dict[str, Any]
    state: str
    """``complete`` or ``failed``."""
    objective: float | None
    source: str
    """``records`` (told without running anything) or ``engine`` (an engine ran its jobs)."""
    seconds: float


@dataclass
class SearchSummary:
    """What one `drive` did."""

    results: list[TrialResult] = field(default_factory=list)
    finished: int = 0
    """Trials of the study that are complete or failed, all drivers counted."""
    exhausted: bool = False
    """The sampler had no new point to propose (a grid sampler used up)."""


def _update_record(search: Search, trial_hash: str, params: dict[str, Any], number: int, entry: dict[str, Any]) -> None:
    lock = _FileLock(search.store.record_lock_path(trial_hash))
    lock.acquire(blocking=True)
    try:
        record = read_trial_record(search.record_path(trial_hash)) or TrialRecord(trial_hash, params, {})
        trials = dict(record.trials)
        trials[number] = entry
        search.write_record(TrialRecord(trial_hash, record.params, trials))
    finally:
        lock.release()


def _engine_command(engine: str, jobs: Sequence[tuple[str, str]], pipeline: Pipeline, engine_args: Sequence[str]) -> list[str]:
    if engine == "snakemake":
        # --nolock: a search runs several Snakemake processes in one folder, whose
        # targets may share a job; phyper's per-job locks keep each job to one run
        targets = [pipeline.record_path(step, key) for step, key in jobs]
        return [sys.executable, "-m", "snakemake", "-j1", "--nolock", *engine_args, *targets]
    return [sys.executable, "-m", "doit", "run", *engine_args, *(f"{step}:{key}" for step, key in jobs)]


def _engine_environment(pipeline: Pipeline) -> dict[str, str]:
    environment = dict(os.environ)
    if not environment.get(BATCH_ENVIRONMENT_VARIABLE):
        # a trial's few jobs run as themselves, not in batches full of other instances
        batched = [step.name for step in pipeline.steps.values() if step.batch]
        if batched:
            environment[BATCH_ENVIRONMENT_VARIABLE] = ",".join(f"{name}=0" for name in batched)
    return environment


def _run_point(
    search: Search, pipeline: Pipeline, trial_hash: str, jobs: list[tuple[str, str]], number: int,
    engine: str, engine_args: Sequence[str], environment: dict[str, str],
) -> int:
    """Run one point's jobs through the engine under the point's run lock; the engine's exit status."""
    lock = _FileLock(search.store.run_lock_path(trial_hash))
    lock.acquire(blocking=True)
    try:
        if _complete(pipeline, jobs):
            return 0  # another trial of this point ran it meanwhile
        log_path = search.store.trial_log_path(number)
        with open(log_path, "w", encoding="utf-8") as log:
            return subprocess.call(
                _engine_command(engine, jobs, pipeline, engine_args),
                stdout=log, stderr=subprocess.STDOUT, env=environment, stdin=subprocess.DEVNULL,
            )
    finally:
        lock.release()


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

    Args:
        pipeline: the pipeline that lists ``search``.
        search: the search to drive.
        trials: how many trials the study should hold, finished, at the end.
        engine: ``snakemake`` or ``doit``, run as a subprocess in the current folder.
        jobs: how many trials run at once (one engine process each, one job at a time).
        engine_args: more arguments for the engine (``--profile profiles/slurm``).
        report: called with each trial as it is told.

    Raises:
        SearchDefinitionError: no metrics loader, an unknown engine, a bad count.
        MissingDependencyError: Optuna is not installed.
    """
    if engine not in ENGINES:
        raise SearchDefinitionError(f"unknown engine {engine!r}: give one of {', '.join(ENGINES)}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise SearchDefinitionError(f"--trials {trials!r}: give a positive number of trials")
    if jobs < 1:
        raise SearchDefinitionError(f"-j {jobs!r}: give a positive number of jobs")
    if pipeline.metrics_loader is None:
        raise SearchDefinitionError(
            f"search `{search.name}` optimises `{search.objective}`, but the pipeline names no metrics: "
            "declare them with @pipeline.metrics"
        )
    optuna = import_optuna()
    TrialState = optuna.trial.TrialState
    finished_states = (TrialState.COMPLETE, TrialState.FAIL)
    study = open_study(search)
    space = distributions(search)
    environment = _engine_environment(pipeline)
    summary = SearchSummary()
    owners: dict[int, _FileLock] = {}
    running: dict[Future[int], tuple[int, str, dict[str, Any], list[Any], list[tuple[str, str]], float]] = {}

    def finished(trial: Any) -> bool:
        # a trial failed because its driver died inside ask (no point yet) was never a point: not counted
        return trial.state in finished_states and trial.params.keys() == space.keys()

    def own(number: int) -> bool:
        lock = _FileLock(search.store.owner_lock_path(number))
        if not lock.acquire(blocking=False):
            return False
        owners[number] = lock
        return True

    def disown(number: int) -> None:
        owners.pop(number).release()

    def tell(number: int, trial_hash: str, params: dict[str, Any], objective: float | None, source: str, started: float) -> None:
        if objective is not None and not math.isfinite(objective):
            objective = None  # Optuna fails a NaN; an infinite objective says nothing either
        state = "complete" if objective is not None else "failed"
        try:
            if objective is not None:
                study.tell(number, objective, skip_if_finished=True)
            else:
                study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        except RuntimeError:
            # the grid sampler calls study.stop() after its last point, which raises
            # outside study.optimize; the trial is stored first (optuna's _tell, finally:)
            if search.sampler != "grid":
                raise
            summary.exhausted = True
        _update_record(search, trial_hash, params, number, {"state": state, "objective": objective})
        disown(number)
        result = TrialResult(number, trial_hash, params, state, objective, source, time.monotonic() - started)
        summary.results.append(result)
        if report is not None:
            report(result)

    def start(number: int, raw_params: dict[str, Any], pool: ThreadPoolExecutor) -> bool:
        """Take up an owned trial: told at once from the records, or submitted; True if submitted."""
        started = time.monotonic()
        params = search.normalize(raw_params)
        instances = search.trial_instances(params)
        trial_hash = str(instances[0].get_instance_hash(search.group_by))
        # the record comes first: the engine (a new process) finds the trial's instances in it
        _update_record(search, trial_hash, params, number, {"state": "running", "objective": None})
        pipeline.add_instances(instances)
        jobs_of_trial = trial_jobs(pipeline, instances)
        if _complete(pipeline, jobs_of_trial):
            tell(number, trial_hash, params, _objective(pipeline, search, instances), "records", started)
            return False
        future = pool.submit(
            _run_point, search, pipeline, trial_hash, jobs_of_trial, number, engine, engine_args, environment
        )
        running[future] = (number, trial_hash, params, instances, jobs_of_trial, started)
        return True

    def reconcile() -> None:
        """Records of trials told by a driver killed before it wrote them take the study's word."""
        entries = {number: (record, entry) for record in search.records() for number, entry in record.trials.items()}
        for trial in study.get_trials(deepcopy=False):
            if trial.state in finished_states and trial.number in entries:
                record, entry = entries[trial.number]
                state = "complete" if trial.state == TrialState.COMPLETE else "failed"
                if entry.get("state") != state:
                    objective = float(trial.value) if state == "complete" else None
                    _update_record(search, record.hash, record.params, trial.number, {"state": state, "objective": objective})

    def state_now(number: int) -> Any:
        return study.get_trials(deepcopy=False)[number].state

    reconcile()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            while True:
                all_trials = study.get_trials(deepcopy=False)
                summary.finished = sum(finished(trial) for trial in all_trials)
                # trials asked but not told whose owner died: adopt them first
                for trial in all_trials:
                    if len(running) >= jobs:
                        break
                    if (
                        trial.state == TrialState.RUNNING
                        and trial.number not in owners
                        and _older_than(trial.datetime_start, ADOPTION_GRACE_S)
                        and own(trial.number)
                    ):
                        if state_now(trial.number) != TrialState.RUNNING:
                            disown(trial.number)  # told between the listing and the lock
                            continue
                        if trial.params.keys() != space.keys():
                            # asked before its point was sampled (killed inside ask): nothing ran
                            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
                            disown(trial.number)
                            continue
                        start(trial.number, dict(trial.params), pool)
                all_trials = study.get_trials(deepcopy=False)
                summary.finished = sum(finished(trial) for trial in all_trials)
                busy = sum(trial.state == TrialState.RUNNING for trial in all_trials)
                while len(running) < jobs and summary.finished + busy < trials and not summary.exhausted:
                    try:
                        trial = study.ask(space)
                    except RuntimeError:
                        if search.sampler != "grid":
                            raise
                        summary.exhausted = True  # the grid sampler has used up its grid
                        break
                    busy += 1
                    if not own(trial.number):
                        continue  # adopted by another driver already
                    if not start(trial.number, dict(trial.params), pool):
                        busy -= 1
                        summary.finished += 1
                if not running:
                    if summary.finished >= trials or (summary.exhausted and busy == 0) or busy == 0:
                        break
                    time.sleep(0.2)  # other drivers' trials are in flight
                    continue
                done, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    number, trial_hash, params, instances, jobs_of_trial, started = running.pop(future)
                    status = future.result()
                    ok = status == 0 and _complete(pipeline, jobs_of_trial)
                    objective = _objective(pipeline, search, instances) if ok else None
                    tell(number, trial_hash, params, objective, "engine", started)
        finally:
            for lock in owners.values():
                lock.release()
    all_trials = study.get_trials(deepcopy=False)
    summary.finished = sum(finished(trial) for trial in all_trials)
    return summary
