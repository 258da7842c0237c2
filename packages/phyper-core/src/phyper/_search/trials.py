"""A search's trials as people and scripts read them (``phyper search show``, the report),
and the jobs of a trial's instances with the verdicts on them.

`search_trials` is the one place that lists a search's trials, marks the stale ones and
computes the best so far (`SearchTrials`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from phyper._errors import PhyperError
from phyper._planning.batches import BATCH_ENVIRONMENT_VARIABLE
from phyper._planning.verdict import JobVerdict, Verdicts
from phyper._search.space import Search, SearchDefinitionError, TrialState
from phyper._search.study import load_study, rung_steps, trial_state

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from phyper._planning.pipeline import Pipeline
    from phyper._planning.plan import Plan

__all__ = [
    "SearchTrials",
    "TrialRow",
    "engine_environment",
    "engine_plan",
    "jobs_to_run",
    "search_trials",
    "trial_jobs",
]


# -- a trial's jobs and the verdicts on them ---------------------------------------------


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
        state = trial_state(trial.state)
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
    """The rung a reported step stands for (`rung_steps`: a fractional rung was reported in units of the first)."""
    if search.fidelity is None:
        return step
    try:
        steps = rung_steps(search)
    except SearchDefinitionError:
        return step
    for rung, rung_step in zip(search.fidelity.rungs, steps):
        if rung_step == step:
            return rung
    return step


def _point_done(pipeline: Pipeline, plan: Plan, verdicts: Verdicts, search: Search, params: dict[str, Any]) -> bool:
    """Whether today's verdicts find every job of the point done (False: a point the plan does not hold)."""
    try:
        jobs = trial_jobs(pipeline, search.trial_instances(params))
        return not any(verdicts.verdict(plan.job(step, key)).to_run for step, key in jobs)
    except PhyperError:
        return False  # its record is damaged or missing (not an instance of the pipeline now): not judged done
