"""Continuing from a lower budget: a step that trains to ``n_epochs=90`` starts from the result at 30.

A step declares that it can continue (``continues='n_epochs'`` on ``per_instance``,
``per_resource`` or ``add_step``: a key of the step's subject). While one of its jobs
runs, [`continued_from`][phyper.continued_from] gives the same configuration at the largest lower
value of that key whose job is done by the verdicts (`phyper.Verdicts`: today's code,
its upstream jobs, its files), or None; the step reads that instance's checkpoint
through its own path functions and trains only the epochs in between.

Which lower values are candidates:

* the values of the key among the pipeline's instances with the same other key
  values (a grid ``n_epochs: [10, 30, 90]``; a search's recorded trials are among the
  pipeline's instances too);
* the values the step passes as ``budgets=`` (the rungs of a budget it knows, say),
  whose results need not be in the grid.

The lower rung is an **optional input**: it is not among the job's inputs, so
deleting it, or rerunning it, reruns nothing; a lower rung made by older code is not
done by the verdicts and is never continued from (the step then trains from scratch).
The record of the lower rung a result continued from is named in the result's
completion record (``continued_from``; see ``docs/state-files.md``).

The engines order a rung after its lower one when both are to run: the plan makes
each job of a continuing step depend on the job at the next lower value in the grid
(`phyper._planning.plan.rung_dependencies`); such a dependency on a job of the same step
orders and never invalidates (`phyper._planning.verdict`).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from phyper._errors import PipelineDefinitionError
from phyper._planning.plan import Job, Plan, StepJobs, rung_dependencies
from phyper._planning.plan_cache import cached_plan
from phyper._planning.verdict import Verdicts
from phyper._state.records import note_continued_from

if TYPE_CHECKING:
    from phyper._planning.declaration import PipelineDeclaration, Step

__all__ = ["RUNNING_JOB_VARIABLE", "continued_from", "running_pipeline"]

RUNNING_JOB_VARIABLE = "PHYPER_JOB"
"""The environment variable that names the job running in this process (``step:key``), set by the runner."""

_PIPELINE: contextvars.ContextVar[PipelineDeclaration | None] = contextvars.ContextVar("phyper_pipeline", default=None)
"""The pipeline whose job runs in this process (set by the runner around its jobs: `running_pipeline`)."""

_LADDERS: weakref.WeakKeyDictionary[Any, dict[str, tuple[Any, Plan, dict[str, str]]]] = weakref.WeakKeyDictionary()
"""Pipeline -> step -> (the grid it was made for, the plan, the lower rungs): see `_ladder`."""



@contextlib.contextmanager
def running_pipeline(pipeline: PipelineDeclaration) -> Iterator[None]:
    """``pipeline`` is the one whose jobs run inside (where `continued_from` finds the running step)."""
    token = _PIPELINE.set(pipeline)
    try:
        yield
    finally:
        _PIPELINE.reset(token)


def _running(instance: Any) -> tuple[PipelineDeclaration, Step, str]:
    """The pipeline, step and job key of the job running ``instance`` in this process."""
    running = os.environ.get(RUNNING_JOB_VARIABLE, "")
    step_name, _, key = running.partition(":")
    pipeline = _PIPELINE.get()
    if not key or pipeline is None:
        raise PipelineDefinitionError(
            "phyper.continued_from() is called inside a running step (a job run by an engine, "
            "`phyper run` or phyper.run_job), not from other code"
        )
    step = pipeline.steps[step_name]
    if step.continues is None:
        raise PipelineDefinitionError(
            f"phyper.continued_from(): step `{step_name}` declares no continues=; declare the key "
            "it continues along (for example continues='n_epochs')"
        )
    if (
        getattr(instance, "_phyper_shared", None) is not pipeline.instances[0]._phyper_shared
        or step.kind == "aggregate"
        or instance.get_instance_hash(step.resource_name) != key
    ):
        raise PipelineDefinitionError(
            f"phyper.continued_from() is given another instance than the one job {running} runs; "
            "pass the instance the step received"
        )
    return pipeline, step, key


def continued_from(instance: Any, *, budgets: Iterable[Any] = ()) -> Any | None:
    """The same configuration at the largest lower budget whose job is done, or None.

    Called inside a running step declared with ``continues='n_epochs'``, with the
    instance the step received: among the lower values of ``n_epochs`` (those of the
    pipeline's instances of the same configuration, and ``budgets``), the largest
    whose job of this step is done by the verdicts (today's code included). The step
    then finds that instance's outputs (its checkpoint) through its own path functions.
    The record of the job continued from is named in this job's completion record.

    Args:
        instance: the instance the step received.
        budgets: more lower values to consider (a search's rungs).

    Returns:
        The lower instance (same keys but the budget), or None: train from scratch.

    Raises:
        PipelineDefinitionError: called outside a running step, by a step that declares
            no ``continues=``, or with another instance than the job's.
    """
    pipeline, step, key = _running(instance)
    budget_key = str(step.continues)
    current = instance.get_key_values(step.resource_name)[budget_key]
    candidates: dict[str, tuple[Any, Any]] = {}  # job key -> (budget, instance)
    subjects = pipeline.job_subjects(step)
    plan, lower = _ladder(pipeline, step)
    found = lower.get(key)
    while found is not None:  # the grid's lower rungs of this configuration, each once
        subject = subjects[found]
        candidates[found] = (subject.get_key_values(step.resource_name)[budget_key], subject)
        found = lower.get(found)
    for budget in budgets:
        other = instance.replace(**{budget_key: budget})
        value = other.get_key_values(step.resource_name)[budget_key]
        if value < current:
            candidates.setdefault(other.get_instance_hash(step.resource_name), (value, other))
    if not candidates:
        return None
    verdicts = Verdicts(plan)  # new each time: the records change as jobs finish
    for job_key, (budget, subject) in sorted(candidates.items(), key=lambda item: item[1][0], reverse=True):
        job = _job(plan, pipeline, step, job_key, subject)
        if not verdicts.verdict(job).to_run:
            note_continued_from(
                f"{step.name}:{key}", {"record": job.record, "key": job_key, "continues": budget_key, "budget": budget}
            )
            return subject
    return None


def _ladder(pipeline: PipelineDeclaration, step: Step) -> tuple[Plan, dict[str, str]]:
    """The plan and ``step``'s lower rungs (`rung_dependencies`), made once per grid of ``pipeline``.

    A batch job runs many members in one process: each asks, the grid is the same.
    """
    memo = _LADDERS.setdefault(pipeline, {})
    found = memo.get(step.name)
    if found is None or found[0] is not pipeline.instances:
        found = memo[step.name] = (
            pipeline.instances, cached_plan(pipeline), rung_dependencies(step, pipeline.job_subjects(step))
        )
    return found[1], found[2]


def _job(plan: Plan, pipeline: PipelineDeclaration, step: Step, key: str, subject: Any) -> Job:
    """Job ``key`` of ``step``: the plan's, or (a budget outside the grid) built from the path functions."""
    job_id = f"{step.name}:{key}"
    if job_id in plan.jobs:
        return plan.jobs[job_id]
    return StepJobs(step.name, pipeline.state).job(key, step.input_paths(subject), step.output_paths(subject))
