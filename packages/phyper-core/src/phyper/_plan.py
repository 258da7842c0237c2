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

from phyper._batches import batch_count, group_into_batches
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
    members: tuple[str, ...] = ()
    """For a batch job (key ``batch-<i>-of-<n>``): the keys of the jobs it runs."""
    batch: str | None = None
    """For a job of a batched step: the key of the batch job that runs it."""

    @property
    def is_batch(self) -> bool:
        """Whether this is a batch job (one engine job running many jobs of a step)."""
        return bool(self.members)

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
    batch_size: int | None = None
    """Jobs per engine job when the step runs in batches (``batch=`` or ``PHYPER_BATCH``)."""
    batch_keys: tuple[str, ...] = ()
    """The keys of the step's batch jobs (what the engines run) when it is batched."""

    @property
    def is_batched(self) -> bool:
        """Whether the engines see this step's batch jobs instead of its jobs."""
        return bool(self.batch_keys)

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

    def __init__(
        self, steps: list[PlannedStep], jobs: dict[str, Job], state_folder: str, batches: dict[str, Job] | None = None
    ) -> None:
        self.steps = tuple(steps)
        self.jobs = jobs
        self.batches: dict[str, Job] = batches or {}
        """Batch jobs by id (``<step>:batch-<i>-of-<n>``); their members are in :attr:`jobs`."""
        self.state_folder = state_folder
        self._by_step: dict[str, list[Job]] = {step.name: [] for step in steps}
        for job in jobs.values():
            self._by_step[job.step].append(job)
        self._batches_by_step: dict[str, list[Job]] = {}
        for job in self.batches.values():
            self._batches_by_step.setdefault(job.step, []).append(job)

    def step(self, name: str) -> PlannedStep:
        for step in self.steps:
            if step.name == name:
                return step
        raise UnknownStepError(f"the plan has no step `{name}` (steps: {', '.join(s.name for s in self.steps)})")

    def jobs_of(self, step_name: str) -> list[Job]:
        """The jobs of one step, in grid order."""
        self.step(step_name)
        return self._by_step[step_name]

    def engine_jobs_of(self, step_name: str) -> list[Job]:
        """What an engine runs for one step: its batch jobs if it is batched, else its jobs."""
        self.step(step_name)
        return self._batches_by_step.get(step_name) or self._by_step[step_name]

    def engine_jobs(self) -> Iterator[Job]:
        """Every job an engine runs (batch jobs stand for their members), in step order."""
        for step in self.steps:
            yield from self.engine_jobs_of(step.name)

    def members(self, batch: Job) -> list[Job]:
        """The jobs a batch job runs, in grid order."""
        return [self.jobs[f"{batch.step}:{key}"] for key in batch.members]

    def job(self, step_name: str, key: str) -> Job:
        """The job (step, key), a batch job included; an :class:`UnknownStepError` if there is none."""
        try:
            job_id = f"{step_name}:{key}"
            return self.jobs[job_id] if job_id in self.jobs else self.batches[job_id]
        except KeyError:
            self.step(step_name)
            raise UnknownStepError(f"step `{step_name}` has no job `{key}`") from None

    def __iter__(self) -> Iterator[Job]:
        for step in self.steps:
            yield from self._by_step[step.name]

    def __len__(self) -> int:
        return len(self.jobs)

    def targets(self) -> list[str]:
        """Every output of every engine job, completion records included: 'build everything'.

        A batched step contributes its batch records (its jobs' files are the batch's business).
        """
        return [path for job in self.engine_jobs() for path in (*job.outputs, job.record)]

    def status(self, job: Job) -> JobStatus:
        """Whether ``job`` is complete according to its completion record (a batch: every member's)."""
        from phyper._completion import check_job

        if job.is_batch:
            from phyper._batch_jobs import check_batch

            return check_batch(job, self.members(job))
        return check_job(job)

    def incomplete(self) -> list[tuple[Job, JobStatus]]:
        """The jobs that are not complete, with the reason, in order."""
        pending = []
        for job in self:
            status = self.status(job)
            if not status.complete:
                pending.append((job, status))
        return pending


def _normalised(path: str) -> str:
    # os.path.normpath costs more than the rest of a job's bookkeeping; most paths are
    # already normal, and anything that might not be goes through it
    if "//" in path or "/." in path or path.startswith(".") or path.endswith("/"):
        return os.path.normpath(path)
    return path


def build_plan(pipeline: Pipeline) -> Plan:
    """Build the plan of a pipeline (see the module docstring for what is checked)."""
    producers: dict[str, str] = {}
    raw: list[tuple[Step, list[tuple[str, list[str], list[str]]]]] = []
    for step in pipeline.steps.values():
        jobs = []
        for key, subject in pipeline.job_subjects(step).items():
            outputs = step.output_paths(subject)
            job_id = f"{step.name}:{key}"
            for path in outputs:
                other = producers.setdefault(_normalised(path), job_id)
                if other != job_id:
                    raise PipelineDefinitionError(
                        f"{path} is an output of both `{other}` and `{job_id}`; each file "
                        "must have one producer (do the outputs depend on keys the step is not per?)"
                    )
            jobs.append((key, step.input_paths(subject), outputs))
        raw.append((step, jobs))

    # batched steps: the engines see batch jobs, so dependencies on their jobs name the batch
    sizes = pipeline.batch_sizes()
    groups_of: dict[str, dict[str, list[str]]] = {}
    engine_id: dict[str, str] = {}  # job id -> batch job id, for the jobs of batched steps
    batch_of: dict[str, str] = {}  # job id -> batch key
    for step, jobs in raw:
        if step.name in sizes:
            count = batch_count(len(jobs), sizes[step.name])
            groups = groups_of[step.name] = group_into_batches((key for key, _, _ in jobs), count)
            for batch, members in groups.items():
                batch_id = f"{step.name}:{batch}"
                for member in members:
                    member_id = f"{step.name}:{member}"
                    engine_id[member_id] = batch_id
                    batch_of[member_id] = batch

    planned: dict[str, PlannedStep] = {}
    jobs_by_step: dict[str, dict[str, Job]] = {}
    batches_by_step: dict[str, dict[str, Job]] = {}
    upstream_of: dict[str, list[str]] = {}
    for step, jobs in raw:
        first_key, _, first_outputs = jobs[0]
        templates = tuple(_template(step, first_key, path) for path in first_outputs)
        # a path follows its template when joining the template's literal parts with the
        # key gives it back (cheaper than str.format for every job)
        literal_parts = [
            [part.replace("{{", "{").replace("}}", "}") for part in template.split(HASH_PLACEHOLDER)]
            for template in templates
        ]
        record_prefix = pipeline.record_path(step.name, "")[: -len(".json")]
        upstream: list[str] = []
        step_jobs: dict[str, Job] = {}
        for key, inputs, outputs in jobs:
            if step.kind != "aggregate":
                for parts, template, path in zip(literal_parts, templates, outputs):
                    if key.join(parts) != path:
                        raise PipelineDefinitionError(
                            f"step `{step.name}`: output {path} of job {key} does not follow the "
                            f"template {template} of the step's first job; outputs may vary only by the hash"
                        )
            dependencies: dict[str, None] = {}  # ordered set: an aggregate has one per instance
            for path in inputs:
                producer = producers.get(_normalised(path))
                if producer is None:
                    continue
                producer = engine_id.get(producer, producer)
                if producer in dependencies:
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
            step_jobs[job_id] = Job(
                step.name,
                key,
                tuple(inputs),
                tuple(outputs),
                record_prefix + key + ".json",
                tuple(dependencies),
                batch=batch_of.get(job_id),
            )
        jobs_by_step[step.name] = step_jobs
        groups = groups_of.get(step.name, {})
        step_batches: dict[str, Job] = {}
        for batch, members in groups.items():
            batch_inputs: dict[str, None] = {}
            batch_dependencies: dict[str, None] = {}
            for member in members:
                member_job = step_jobs[f"{step.name}:{member}"]
                batch_inputs.update(dict.fromkeys(member_job.inputs))
                batch_dependencies.update(dict.fromkeys(member_job.dependencies))
            step_batches[f"{step.name}:{batch}"] = Job(
                step.name,
                batch,
                tuple(batch_inputs),
                (),
                record_prefix + batch + ".json",
                tuple(batch_dependencies),
                members=tuple(members),
            )
        batches_by_step[step.name] = step_batches
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
            batch_size=sizes.get(step.name),
            batch_keys=tuple(groups),
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
    all_jobs: dict[str, Job] = {}
    all_batches: dict[str, Job] = {}
    for name in order:  # topological order of the steps, grid order inside each
        all_jobs.update(jobs_by_step[name])
        all_batches.update(batches_by_step[name])
    return Plan([planned[name] for name in order], all_jobs, pipeline.state_folder, all_batches)
