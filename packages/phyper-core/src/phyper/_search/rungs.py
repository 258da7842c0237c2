"""A budgeted search's epochs: what phyper trained against what a from-scratch search would have.

Counted once here, for ``phyper search show`` and the report (`phyper._results.report`),
from the rungs each trial reached (its learning curve, the study's intermediate
values: `phyper._search.driver.TrialRow.values`) and the completion records:

* the **epochs trained** come from the completion records of the jobs of the steps
  that continue along the budget (``continues='n_epochs'``): a job trained ``budget``
  epochs, or ``budget - lower`` when its record names the lower rung it continued
  from (``continued_from``, `phyper._state.formats.CompletionRecord`). Each job counts
  once, however many trials reached it;
* against them, a **from-scratch** search: every rung a trial reached trained from
  zero, trial by trial (the sum of the rungs reached by each trial), and **one run
  per trial**: Optuna's usual loop, which trains each trial once, continuously, to its
  highest rung and shares nothing between trials.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phyper._errors import PhyperError
from phyper._state.records import read_record

if TYPE_CHECKING:
    from phyper._planning.pipeline import Pipeline
    from phyper._search.space import Search

__all__ = ["EpochCount", "count_epochs"]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class EpochCount:
    """Epochs trained by a budgeted search, against what training every rung from zero would take."""

    steps: tuple[str, ...]
    """The steps counted: those that continue along the budget key (``continues='n_epochs'``)."""
    trained: float
    """Epochs phyper trained: each job of a rung reached once, only the difference when it continued."""
    from_scratch: float
    """Every rung each trial reached trained from zero: the sum over trials of the rungs they reached."""
    one_run_per_trial: float
    """Each trial trained once, continuously, to its highest rung, nothing shared between trials."""
    jobs: int
    """Distinct jobs of the rungs reached that have a completion record."""
    continued: int
    """Of those, the jobs that continued from a lower rung."""
    missing: int
    """Jobs of the rungs reached with no readable completion record (deleted since, or still running): not counted."""

    def to_json(self) -> dict[str, Any]:
        """The count as ``phyper search show --json`` and the report give it."""
        return {"steps": list(self.steps), "trained": _number(self.trained), "from_scratch": _number(self.from_scratch),
                "one_run_per_trial": _number(self.one_run_per_trial), "jobs": self.jobs,
                "continued": self.continued, "missing": self.missing}


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def count_epochs(
    pipeline: Pipeline, search: Search, trials: Iterable[tuple[Mapping[str, Any], Sequence[int | float]]]
) -> EpochCount | None:
    """The epochs ``trials`` took, each given as (its key values, the rungs it reached).

    None when the search has no budget or no step of the pipeline continues along its
    key (then phyper cannot tell which step trains epochs).
    """
    fidelity = search.fidelity
    if fidelity is None:
        return None
    steps = [step for step in pipeline.steps.values() if step.continues == fidelity.key and step.kind != "aggregate"]
    if not steps:
        return None
    budget_of: dict[tuple[str, str], float] = {}
    from_scratch = one_run = 0.0
    for params, reached in trials:
        if not reached:
            continue
        for rung in reached:
            for step, key in _rung_jobs(search, steps, params, rung):
                budget_of[(step, key)] = float(rung)
                from_scratch += float(rung)
        one_run += float(max(reached)) * len(_rung_jobs(search, steps, params, max(reached)))
    trained = 0.0
    continued = missing = 0
    for (step, key), rung in budget_of.items():
        record = read_record(pipeline.record_path(step, key))
        if record is None:
            missing += 1
            continue
        lower = record.continued_from
        start: Any = lower.get("budget") if isinstance(lower, dict) else None
        if _finite(start) and 0 <= start < rung:
            trained += rung - start
            continued += 1
        else:
            trained += rung
    return EpochCount(tuple(step.name for step in steps), trained, from_scratch, one_run, len(budget_of) - missing,
                      continued, missing)


def _rung_jobs(
    search: Search, steps: Sequence[Any], params: Mapping[str, Any], rung: int | float
) -> list[tuple[str, str]]:
    """(step, key) of each distinct job of ``steps`` for the point ``params`` at ``rung`` ([] for a point no longer valid)."""
    try:
        instances = search.trial_instances(params, rung)
    except PhyperError:
        return []
    jobs: dict[tuple[str, str], None] = {}
    for step in steps:
        for instance in instances:
            jobs[(step.name, str(instance.get_instance_hash(step.resource_name)))] = None
    return list(jobs)
