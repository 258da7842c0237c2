"""The plan: a pipeline's jobs, files and dependencies as plain data.

Backends translate a plan into engine rules or tasks; tests can inspect it with no
engine installed. Building it also checks the pipeline: every file has at most one
producer, the steps form no cycle, and the outputs of a hashed step follow one
template in which only the hash varies (what a Snakemake wildcard needs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from phyper._errors import PipelineDefinitionError, UnknownStepError
from phyper._pipeline import AGGREGATE_KEY

if TYPE_CHECKING:
    from phyper._completion import JobStatus
    from phyper._pipeline import Pipeline, Step

__all__ = ["HASH_PLACEHOLDER", "Job", "Plan", "PlannedStep", "build_plan"]

HASH_PLACEHOLDER = "{hash}"
"""Stands for the job key in :attr:`PlannedStep.output_templates` (``str.format`` style)."""


@dataclass(frozen=True)
class Job:
    """One job: a step applied to one hash (or to all instances, key ``all``)."""

    step: str
    key: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    record: str
    dependencies: tuple[str, ...]

    @property
    def id(self) -> str:
        """``<step>:<key>``, unique in a plan."""
        return f"{self.step}:{self.key}"


@dataclass(frozen=True)
class PlannedStep:
    """A step as the engines see it."""

    name: str
    kind: Literal["resource", "instance", "aggregate"]
    resource_name: str | None
    doc: str
    keys: tuple[str, ...]
    output_templates: tuple[str, ...]
    record_template: str
    upstream: tuple[str, ...]
    threads: int = 1
    """CPU cores one job uses (declared on the step)."""
    resources: dict[str, int] = field(default_factory=dict)
    """What one job needs besides threads, as declared: ``mem_mb``, ``runtime`` (minutes)."""

    @property
    def is_hashed(self) -> bool:
        """Whether the step has one job per hash (its templates hold ``{hash}``)."""
        return self.kind != "aggregate"


def _escape(path: str) -> str:
    return path.replace("{", "{{").replace("}", "}}")


def _template(step: Step, key: str, path: str) -> str:
    if not step.kind == "aggregate" and key not in path:
        raise PipelineDefinitionError(
            f"step `{step.name}`: output {path} does not contain the job's hash {key}; the "
            f"outputs of a {step.kind} step must live under instance.get_resources_path("
            f"{step.resource_name!r}) so each job writes its own files"
        )
    return _escape(path).replace(key, HASH_PLACEHOLDER) if step.kind != "aggregate" else _escape(path)


class Plan:
    """All jobs of a pipeline, in a topological order of their steps."""

    def __init__(self, steps: list[PlannedStep], jobs: dict[str, Job], state_folder: str) -> None:
        self.steps = tuple(steps)
        self.jobs = jobs
        self.state_folder = state_folder
        self._by_step: dict[str, list[Job]] = {step.name: [] for step in steps}
        for job in jobs.values():
            self._by_step[job.step].append(job)

    def step(self, name: str) -> PlannedStep:
        for step in self.steps:
            if step.name == name:
                return step
        raise UnknownStepError(f"the plan has no step `{name}` (steps: {', '.join(s.name for s in self.steps)})")

    def jobs_of(self, step_name: str) -> list[Job]:
        """The jobs of one step, in grid order."""
        self.step(step_name)
        return self._by_step[step_name]

    def job(self, step_name: str, key: str) -> Job:
        """The job (step, key); an :class:`UnknownStepError` if there is none."""
        try:
            return self.jobs[f"{step_name}:{key}"]
        except KeyError:
            self.step(step_name)
            raise UnknownStepError(f"step `{step_name}` has no job `{key}`") from None

    def __iter__(self) -> Iterator[Job]:
        for step in self.steps:
            yield from self._by_step[step.name]

    def __len__(self) -> int:
        return len(self.jobs)

    def targets(self) -> list[str]:
        """Every output of every job, completion records included: 'build everything'."""
        return [path for job in self for path in (*job.outputs, job.record)]

    def status(self, job: Job) -> JobStatus:
        """Whether ``job`` is complete according to its completion record."""
        from phyper._completion import check_job

        return check_job(job)

    def incomplete(self) -> list[tuple[Job, JobStatus]]:
        """The jobs that are not complete, with the reason, in order."""
        pending = []
        for job in self:
            status = self.status(job)
            if not status.complete:
                pending.append((job, status))
        return pending


def build_plan(pipeline: Pipeline) -> Plan:
    """Build the plan of a pipeline (see the module docstring for what is checked)."""
    producers: dict[str, str] = {}
    raw: list[tuple[Step, list[tuple[str, list[str], list[str]]]]] = []
    for step in pipeline.steps.values():
        jobs = []
        for key, subject in pipeline.job_subjects(step).items():
            outputs = step.output_paths(subject)
            for path in outputs:
                other = producers.setdefault(os.path.normpath(path), f"{step.name}:{key}")
                if other != f"{step.name}:{key}":
                    raise PipelineDefinitionError(
                        f"{path} is an output of both `{other}` and `{step.name}:{key}`; each file "
                        "must have one producer (do the outputs depend on keys the step is not per?)"
                    )
            jobs.append((key, step.input_paths(subject), outputs))
        raw.append((step, jobs))

    planned: dict[str, PlannedStep] = {}
    all_jobs: dict[str, Job] = {}
    upstream_of: dict[str, list[str]] = {}
    for step, jobs in raw:
        first_key, _, first_outputs = jobs[0]
        templates = tuple(_template(step, first_key, path) for path in first_outputs)
        upstream: list[str] = []
        for key, inputs, outputs in jobs:
            if step.kind != "aggregate":
                for template, path in zip(templates, outputs):
                    if template.format(hash=key) != path:
                        raise PipelineDefinitionError(
                            f"step `{step.name}`: output {path} of job {key} does not follow the "
                            f"template {template} of the step's first job; outputs may vary only by the hash"
                        )
            dependencies: dict[str, None] = {}  # ordered set: an aggregate has one per instance
            for path in inputs:
                producer = producers.get(os.path.normpath(path))
                if producer is None or producer in dependencies:
                    continue
                producer_step = producer.partition(":")[0]
                if producer_step == step.name:
                    raise PipelineDefinitionError(
                        f"step `{step.name}` reads {path}, which its own job `{producer}` writes"
                    )
                if producer_step not in upstream:
                    upstream.append(producer_step)
                dependencies[producer] = None
            job_id = f"{step.name}:{key}"
            all_jobs[job_id] = Job(
                step.name, key, tuple(inputs), tuple(outputs), pipeline.record_path(step.name, key), tuple(dependencies)
            )
        upstream_of[step.name] = upstream
        planned[step.name] = PlannedStep(
            name=step.name,
            kind=step.kind,
            resource_name=step.resource_name,
            doc=(step.function.__doc__ or "").strip().splitlines()[0] if step.function.__doc__ else step.name,
            keys=tuple(key for key, _, _ in jobs),
            output_templates=templates,
            record_template=_escape(pipeline.record_path(step.name, AGGREGATE_KEY))
            if step.kind == "aggregate"
            else os.path.join(_escape(os.path.dirname(pipeline.record_path(step.name, "x"))), HASH_PLACEHOLDER + ".json"),
            upstream=tuple(upstream),
            threads=step.threads,
            resources=step.resources,
        )

    order: list[str] = []
    remaining = dict(upstream_of)
    while remaining:
        ready = [name for name, ups in remaining.items() if all(up in order for up in ups)]
        if not ready:
            raise PipelineDefinitionError(
                f"the steps {', '.join(remaining)} depend on each other in a cycle through their files"
            )
        for name in ready:
            order.append(name)
            del remaining[name]
    return Plan([planned[name] for name in order], _ordered(all_jobs, order), pipeline.state_folder)


def _ordered(jobs: dict[str, Job], order: list[str]) -> dict[str, Job]:
    rank = {name: position for position, name in enumerate(order)}
    return dict(sorted(jobs.items(), key=lambda item: rank[item[1].step]))
