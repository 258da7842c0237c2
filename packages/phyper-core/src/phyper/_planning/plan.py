"""The plan: a pipeline's jobs, files and dependencies as plain data.

The plan never reads a completion record: whether a job is done is
`phyper._planning.verdict`'s business. It sees the pipeline only through
`phyper._planning.declaration.PipelineDeclaration`, so it never imports it.

Backends translate a plan into engine rules or tasks; tests can inspect it with no
engine installed. Building it also checks the pipeline: every file has at most one
producer, the steps form no cycle, and the outputs of a hashed step follow one
template in which only the hash varies (what a Snakemake wildcard needs).

A batched step (see `phyper._planning.batches`) is planned as its batch jobs only: the
engines never see its jobs, and a grid of a million instances must plan in seconds
and in a few hundred megabytes. Its jobs (the *members*) are built when asked for
(`Plan.jobs` is a mapping that makes them on lookup and iteration), and the
files they write are recognised by their step's output templates instead of a
table of every path. What the plan checks for them:

* each member's inputs are read when the plan is built (the batch jobs' dependencies
  are the union of their members'), so a member reading its own step's output is
  refused then;
* that a member's outputs follow its step's templates is checked when the member is
  built (by the job that runs it, ``phyper status``, a batch's verdict),
  before anything of it runs;
* a file written by an unbatched job and matching a batched step's template for one
  of its keys, or two batched steps with the same template and a shared key, is a
  file with two producers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from phyper._errors import PhyperError, PipelineDefinitionError, UnknownStepError
from phyper._model.hashing import HASH_HEX_DIGITS
from phyper._planning.batches import batch_sizes
from phyper._planning.keys import AGGREGATE_KEY, batch_finder, group_into_batches, is_batch_key, parse_batch_key

if TYPE_CHECKING:
    from phyper._planning.code_store import StepCodes
    from phyper._planning.declaration import PipelineDeclaration, Step
    from phyper._state.store import StateStore

__all__ = [
    "HASH_PLACEHOLDER", "Job", "JobTable", "JobToRun", "Plan", "PlannedStep", "StepJobs", "batch_for", "build_plan",
    "is_rung_dependency", "job_for", "jobs_to_run", "rung_dependencies",
]

HASH_PLACEHOLDER = "{hash}"
"""Stands for the job key in `PlannedStep.output_templates` (``str.format`` style)."""


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

    @cached_property
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


class StepJobs:
    """The one builder of one step's `Job` objects: planning, batches, the plan cache and a job process.

    Args:
        step: the step's name.
        state: the state folder (where each job's record lives).
    """

    def __init__(self, step: str, state: StateStore) -> None:
        self.step = step
        self._record_path = state.record_path

    def record(self, key: str) -> str:
        """Where job ``key``'s completion record lives."""
        return self._record_path(self.step, key)

    def job(
        self, key: str, inputs: Sequence[str], outputs: Sequence[str], dependencies: Sequence[str] = (),
        batch: str | None = None,
    ) -> Job:
        """Job ``key`` (``batch``: the key of the batch job that runs it, for a batched step)."""
        return Job(
            self.step, key, tuple(inputs), tuple(outputs), self._record_path(self.step, key), tuple(dependencies),
            batch=batch,
        )

    def batch(self, key: str, members: Sequence[str], dependencies: Sequence[str] = ()) -> Job:
        """Batch job ``key``, running ``members`` (their keys, in grid order)."""
        return Job(
            self.step, key, (), (), self._record_path(self.step, key), tuple(dependencies), members=tuple(members)
        )

    def stored(
        self, key: str, inputs: tuple[str, ...], outputs: tuple[str, ...], record: str, dependencies: tuple[str, ...]
    ) -> Job:
        """Job ``key`` from trusted stored data (the plan cache), as `job` made it.

        A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``;
        filling the instance dictionary at once is several times faster, and a cached plan
        makes one per job of the grid at every engine start.
        """
        job = object.__new__(Job)
        job.__dict__.update(
            step=self.step, key=key, inputs=inputs, outputs=outputs, record=record, dependencies=dependencies,
            members=(), batch=None,
        )
        return job


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


def _literal_parts(template: str) -> tuple[str, ...]:
    """The literal text around ``{hash}`` in an output template: ``key.join(parts)`` is a path."""
    return tuple(part.replace("{{", "{").replace("}}", "}") for part in template.split(HASH_PLACEHOLDER))


def step_templates(pipeline: PipelineDeclaration, step: Step) -> tuple[str, ...]:
    """The output templates of a hashed step: its first job's outputs with ``{hash}`` for the key."""
    first_key, first_subject = next(iter(pipeline.job_subjects(step).items()))
    return tuple(_template(step, first_key, path) for path in step.output_paths(first_subject))


class OutputTemplates:
    """A hashed step's output templates, split once around ``{hash}`` for the per-job check."""

    def __init__(self, templates: tuple[str, ...]) -> None:
        self.templates = templates
        self.parts = tuple(_literal_parts(template) for template in templates)

    def check(self, step: Step, key: str, outputs: list[str]) -> None:
        """Raise a `PipelineDefinitionError` unless job ``key``'s outputs follow the templates."""
        for parts, template, path in zip(self.parts, self.templates, outputs):
            if key.join(parts) != path:
                raise PipelineDefinitionError(
                    f"step `{step.name}`: output {path} of job {key} does not follow the template "
                    f"{template} of the step's first job; outputs may vary only by the hash"
                )


def _normalised(path: str) -> str:
    # os.path.normpath costs more than the rest of a job's bookkeeping; most paths are
    # already normal, and anything that might not be goes through it
    if "//" in path or "/." in path or path.startswith(".") or path.endswith("/"):
        return os.path.normpath(path)
    return path


class _BatchedStep:
    """What the plan keeps of a batched step: its templates, its batch size; its keys and batches on demand.

    ``batches`` (batch key -> members), when known (a plan read back from its cache),
    saves grouping the step's keys again.
    """

    def __init__(
        self, pipeline: PipelineDeclaration, step: Step, size: int, templates: tuple[str, ...],
        batches: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.step = step
        self.size = size
        self._batches = batches
        self._find: Callable[[str], str] | None = None
        self.outputs = OutputTemplates(templates)
        # the same templates on normalised paths, to recognise files named either way
        sample = "f" * HASH_HEX_DIGITS
        self.normal_parts = tuple(tuple(_normalised(sample.join(parts)).split(sample)) for parts in self.outputs.parts)
        self.jobs = StepJobs(step.name, pipeline.state)

    @property
    def subjects(self) -> dict[str, Any]:
        """Key -> what the job's function receives, for every job of the step (grid order)."""
        return self.pipeline.job_subjects(self.step)  # cached by the instance list

    @property
    def batches(self) -> Mapping[str, Sequence[str]]:
        """Batch key -> member keys in grid order (see `phyper._planning.keys.group_into_batches`)."""
        if self._batches is None:
            self._batches = group_into_batches(self.subjects, self.size)
        return self._batches

    def batch_of(self, key: str) -> str:
        """The key of the batch job that runs job ``key``."""
        find = self._find
        if find is None:  # one key per batch kept: the aggregate over a grid asks a million times
            find = self._find = batch_finder(self.batches)
        return find(key)

    def writer_of(self, path: str) -> str | None:
        """The key of the job of this step that writes ``path`` (normalised), if any."""
        for parts in self.normal_parts:
            start = len(parts[0])
            if path.startswith(parts[0]):
                key = path[start : start + HASH_HEX_DIGITS]
                if key.join(parts) == path and key in self.subjects:
                    return key
        return None

    def member(self, key: str, producers: _Producers | None) -> Job:
        """Job ``key`` of this step, built from the user's path functions and checked.

        Without ``producers`` (a job process, which runs what the engine says) the job
        has no dependencies.
        """
        step = self.step
        subject = self.subjects[key]
        outputs = step.output_paths(subject)
        self.outputs.check(step, key, outputs)
        inputs = step.input_paths(subject)
        dependencies: dict[str, None] = {}
        if producers is not None:
            producers.resolve(step.name, inputs, dependencies, None)
        return self.jobs.job(key, inputs, outputs, tuple(dependencies), batch=self.batch_of(key))


class _Producers:
    """Which job writes a file: a table of paths for unbatched steps, templates for batched ones."""

    def __init__(self, batched: list[_BatchedStep], stored: dict[str, dict[str, Job]] | None = None) -> None:
        self._paths: dict[str, str] | None = None if stored is not None else {}
        self._stored = stored
        self.batched = batched
        for index, one in enumerate(batched):
            for other in batched[index + 1 :]:
                shared = set(one.normal_parts) & set(other.normal_parts)
                if shared and not one.subjects.keys().isdisjoint(other.subjects):
                    key = next(key for key in one.subjects if key in other.subjects)
                    path = key.join(next(iter(shared)))
                    raise PipelineDefinitionError(
                        f"{path} is an output of both `{one.step.name}:{key}` and `{other.step.name}:{key}`; "
                        "each file must have one producer (do the outputs depend on keys the step is not per?)"
                    )

    @property
    def paths(self) -> dict[str, str]:
        """Normalised path -> id of the (unbatched) job that writes it."""
        if self._paths is None:  # a plan read from the cache: made when a member is first built
            self._paths = {
                _normalised(path): job_id
                for jobs in (self._stored or {}).values()
                for job_id, job in jobs.items()
                for path in job.outputs
            }
        return self._paths

    def _batched_writer(self, path: str) -> tuple[_BatchedStep, str] | None:
        for batched in self.batched:
            key = batched.writer_of(path)
            if key is not None:
                return batched, key
        return None

    def add(self, path: str, job_id: str) -> None:
        """Record that unbatched job ``job_id`` writes ``path``; a second producer is an error."""
        normal = _normalised(path)
        other = self.paths.setdefault(normal, job_id)
        if other == job_id and self.batched:
            found = self._batched_writer(normal)
            if found is not None:
                other = f"{found[0].step.name}:{found[1]}"
        if other != job_id:
            raise PipelineDefinitionError(
                f"{path} is an output of both `{other}` and `{job_id}`; each file "
                "must have one producer (do the outputs depend on keys the step is not per?)"
            )

    def resolve(self, step_name: str, inputs: list[str], into: dict[str, None], upstream: list[str] | None) -> None:
        """Add to ``into`` the engine jobs (batch jobs for batched steps) writing ``inputs``.

        Raises:
            PipelineDefinitionError: a job of ``step_name`` reads a file its own step writes.
        """
        paths = self.paths
        for path in inputs:
            # a path equal to a (normalised) key is normal: normalise only on a miss
            producer = paths.get(path)
            if producer is None:
                normal = _normalised(path)
                producer = paths.get(normal) if normal != path else None
            if producer is None:
                found = self._batched_writer(normal) if self.batched else None
                if found is None:
                    continue  # a file no job writes: the user provides it
                batched, key = found
                producer = f"{batched.step.name}:{batched.batch_of(key)}"
            if producer in into:
                continue
            producer_step = producer.partition(":")[0]
            if producer_step == step_name:
                raise PipelineDefinitionError(f"step `{step_name}` reads {path}, which its own job `{producer}` writes")
            if upstream is not None and producer_step not in upstream:
                upstream.append(producer_step)
            into[producer] = None


class JobTable(Mapping[str, Job]):
    """Every job of a plan by id (``<step>:<key>``), in step order then grid order.

    The jobs of unbatched steps are stored; those of batched steps are built on each
    lookup (see the module docstring), so iterating over a million of them costs time,
    not memory.
    """

    def __init__(
        self, order: list[str], stored: dict[str, dict[str, Job]], batched: dict[str, _BatchedStep], producers: _Producers
    ) -> None:
        self._order = order
        self._stored = stored
        self._batched = batched
        self._producers = producers

    def __getitem__(self, job_id: str) -> Job:
        step, _, key = job_id.partition(":")
        stored = self._stored.get(step)
        if stored is not None:
            return stored[job_id]
        batched = self._batched.get(step)
        if batched is None or key not in batched.subjects:
            raise KeyError(job_id)
        return batched.member(key, self._producers)

    def __contains__(self, job_id: object) -> bool:
        if not isinstance(job_id, str):
            return False
        step, _, key = job_id.partition(":")
        stored = self._stored.get(step)
        if stored is not None:
            return job_id in stored
        batched = self._batched.get(step)
        return batched is not None and key in batched.subjects

    def __iter__(self) -> Iterator[str]:
        for step in self._order:
            stored = self._stored.get(step)
            if stored is not None:
                yield from stored
            else:
                yield from (f"{step}:{key}" for key in self._batched[step].subjects)

    def __len__(self) -> int:
        return sum(len(self._stored[step]) if step in self._stored else len(self._batched[step].subjects) for step in self._order)

    def of_step(self, step: str) -> Iterator[Job]:
        """The jobs of one step, in grid order (built one by one for a batched step)."""
        stored = self._stored.get(step)
        if stored is not None:
            yield from stored.values()
        else:
            batched = self._batched[step]
            for key in batched.subjects:
                yield batched.member(key, self._producers)

    def resolve(self, step: str, inputs: list[str], into: dict[str, None]) -> None:
        """Add to ``into`` the engine jobs that write ``inputs`` (a job of ``step`` reads them)."""
        self._producers.resolve(step, inputs, into, None)

    def batch_of(self, step: str, key: str) -> str:
        """The key of the batch job that runs job ``key`` of the batched ``step`` (nothing is built)."""
        return self._batched[step].batch_of(key)

    def keys_of(self, step: str) -> Iterator[str]:
        """The keys of one step's jobs, in grid order (nothing is built)."""
        stored = self._stored.get(step)
        if stored is not None:
            yield from (job.key for job in stored.values())
        else:
            yield from self._batched[step].subjects

    def records_of(self, step: str) -> Iterator[str]:
        """The completion record path of every job of one step (nothing is built)."""
        stored = self._stored.get(step)
        if stored is not None:
            yield from (job.record for job in stored.values())
        else:
            record = self._batched[step].jobs.record
            yield from (record(key) for key in self._batched[step].subjects)


class Plan:
    """All jobs of a pipeline, in a topological order of their steps."""

    def __init__(
        self,
        steps: list[PlannedStep],
        jobs: JobTable,
        state: StateStore,
        batches: dict[str, Job],
        non_keys: dict[str, Any] | None = None,
        codes: StepCodes | None = None,
    ) -> None:
        self.steps = tuple(steps)
        self.jobs = jobs
        """Every job by id; a batched step's jobs are built on lookup (see `JobTable`)."""
        self.batches = batches
        """Batch jobs by id (``<step>:batch-<i>-of-<n>``); their members are in `jobs`."""
        self.state = state
        """The state folder's owner (see `phyper._state.store`)."""
        self.state_folder = state.root
        self.codes = codes
        """The code each step is expected to have (None: code is left out of the verdicts)."""
        self.non_keys = non_keys or {}
        """The grid's current non-key values (records made with others are reported, never rerun)."""
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
        return list(self.jobs.of_step(step_name))

    def engine_jobs_of(self, step_name: str) -> list[Job]:
        """What an engine runs for one step: its batch jobs if it is batched, else its jobs."""
        self.step(step_name)
        return self._batches_by_step.get(step_name) or list(self.jobs.of_step(step_name))

    def engine_jobs(self) -> Iterator[Job]:
        """Every job an engine runs (batch jobs stand for their members), in step order."""
        for step in self.steps:
            yield from self._batches_by_step.get(step.name) or self.jobs.of_step(step.name)

    def members(self, batch: Job) -> list[Job]:
        """The jobs a batch job runs, in grid order."""
        return [self.jobs[f"{batch.step}:{key}"] for key in batch.members]

    def job(self, step_name: str, key: str) -> Job:
        """The job (step, key), a batch job included; an `UnknownStepError` if there is none."""
        job_id = f"{step_name}:{key}"
        batch = self.batches.get(job_id)
        if batch is not None:
            return batch
        try:
            return self.jobs[job_id]
        except KeyError:
            self.step(step_name)
            raise UnknownStepError(f"step `{step_name}` has no job `{key}`") from None

    def __iter__(self) -> Iterator[Job]:
        for step in self.steps:
            yield from self.jobs.of_step(step.name)

    def __len__(self) -> int:
        return len(self.jobs)

    def record_paths(self) -> Iterator[str]:
        """The completion record of every job and every batch job (no job is built)."""
        for step in self.steps:
            yield from self.jobs.records_of(step.name)
            yield from (batch.record for batch in self._batches_by_step.get(step.name, ()))

    def targets(self) -> list[str]:
        """Every output of every engine job, completion records included: 'build everything'.

        A batched step contributes its batch records (its jobs' files are the batch's business).
        """
        return [path for job in self.engine_jobs() for path in (*job.outputs, job.record)]


def build_plan(pipeline: PipelineDeclaration) -> Plan:
    """Build the plan of a pipeline (see the module docstring for what is checked)."""
    sizes = batch_sizes(pipeline.steps)
    steps = list(pipeline.steps.values())
    subjects_of = {step.name: pipeline.job_subjects(step) for step in steps}
    templates_of: dict[str, tuple[str, ...]] = {}
    state = pipeline.state
    batched: dict[str, _BatchedStep] = {}
    for step in steps:
        subjects = subjects_of[step.name]
        templates_of[step.name] = step_templates(pipeline, step)
        if step.name in sizes:
            batched[step.name] = _BatchedStep(pipeline, step, sizes[step.name], templates_of[step.name])
    producers = _Producers(list(batched.values()))

    # every file of every unbatched job, each checked against its step's templates
    outputs_of: dict[str, list[list[str]]] = {}
    for step in steps:
        if step.name in batched:
            continue
        outputs_of[step.name] = step_outputs = []
        templates = OutputTemplates(templates_of[step.name])
        for key, subject in subjects_of[step.name].items():
            outputs = step.output_paths(subject)
            job_id = f"{step.name}:{key}"
            if step.kind != "aggregate":
                templates.check(step, key, outputs)
            for path in outputs:
                producers.add(path, job_id)
            step_outputs.append(outputs)

    planned: dict[str, PlannedStep] = {}
    stored: dict[str, dict[str, Job]] = {}
    batches_by_step: dict[str, dict[str, Job]] = {}
    upstream_of: dict[str, list[str]] = {}
    for step in steps:
        subjects = subjects_of[step.name]
        upstream: list[str] = []
        batched_step = batched.get(step.name)
        builder = StepJobs(step.name, state)
        if batched_step is None:
            step_jobs: dict[str, Job] = {}
            lower = rung_dependencies(step, subjects) if step.continues is not None else {}
            for (key, subject), outputs in zip(subjects.items(), outputs_of[step.name]):
                inputs = step.input_paths(subject)
                dependencies: dict[str, None] = {}  # ordered set: an aggregate has one per instance
                producers.resolve(step.name, inputs, dependencies, upstream)
                if key in lower:  # after the lower rung when both run; it orders, never invalidates
                    dependencies[f"{step.name}:{lower[key]}"] = None
                step_jobs[f"{step.name}:{key}"] = builder.job(key, inputs, outputs, tuple(dependencies))
            stored[step.name] = step_jobs
        else:
            # one batch job per non-empty batch: its dependencies are its members'
            step_batches: dict[str, Job] = {}
            for batch, members in batched_step.batches.items():
                batch_dependencies: dict[str, None] = {}
                for member in members:
                    producers.resolve(step.name, step.input_paths(subjects[member]), batch_dependencies, upstream)
                step_batches[f"{step.name}:{batch}"] = builder.batch(batch, members, tuple(batch_dependencies))
            batches_by_step[step.name] = step_batches
        upstream_of[step.name] = upstream
        planned[step.name] = PlannedStep(
            name=step.name,
            kind=step.kind,
            resource_name=step.resource_name,
            doc=(step.function.__doc__ or "").strip().splitlines()[0] if step.function.__doc__ else step.name,
            keys=tuple(subjects),
            output_templates=templates_of[step.name],
            record_template=_escape(state.record_path(step.name, AGGREGATE_KEY))
            if step.kind == "aggregate"
            else _escape(state.record_template(step.name, "\0")).replace("\0", HASH_PLACEHOLDER),
            upstream=tuple(upstream),
            threads=step.threads,
            resources=step.resources,
            batch_size=sizes.get(step.name),
            batch_keys=tuple(job.key for job in batches_by_step.get(step.name, {}).values()),
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
    all_batches: dict[str, Job] = {}
    for name in order:  # topological order of the steps, grid order inside each
        all_batches.update(batches_by_step.get(name, {}))
    return Plan(
        [planned[name] for name in order],
        JobTable(order, stored, batched, producers),
        state,
        all_batches,
        current_non_keys(pipeline),
        pipeline.codes,
    )


def rung_dependencies(step: Step, subjects: Mapping[str, Any]) -> dict[str, str]:
    """Job key -> the key of the job at the next lower budget of the same configuration.

    For a step declared with ``continues='n_epochs'`` over ``subjects`` (job key ->
    instance): the jobs whose other key values (of the step's resource) are equal form
    a ladder by ``n_epochs``; each rung but the lowest gets the one below it. Jobs of
    other steps never have one.

    Raises:
        PipelineDefinitionError: the budgets of one configuration cannot be ordered.
    """
    budget_key = step.continues
    if budget_key is None:
        return {}
    ladders: dict[str, list[tuple[Any, str]]] = {}
    for key, subject in subjects.items():
        values = subject.get_key_values(step.resource_name)
        budget = values.pop(budget_key)
        ladders.setdefault(repr(sorted(values.items())), []).append((budget, key))
    lower: dict[str, str] = {}
    for ladder in ladders.values():
        try:
            ladder.sort(key=lambda rung: rung[0])
        except TypeError:
            raise PipelineDefinitionError(
                f"step `{step.name}` continues along `{budget_key}`, whose values "
                f"({', '.join(repr(budget) for budget, _ in ladder)}) cannot be ordered; a budget is a number"
            ) from None
        for (_, below), (_, key) in zip(ladder, ladder[1:]):
            lower[key] = below
    return lower


def is_rung_dependency(job: Job, dependency: str) -> bool:
    """Whether ``dependency`` of ``job`` is its lower rung (a job of its own step: see `rung_dependencies`).

    Such a dependency orders the two jobs when both run; it never makes ``job`` run.
    A job never reads a file its own step writes (the plan refuses it), so a dependency
    on a job of the same step is always a rung.
    """
    return dependency.startswith(job.step) and dependency[len(job.step) : len(job.step) + 1] == ":"


def current_non_keys(pipeline: PipelineDeclaration) -> dict[str, Any]:
    """The grid's non-key values now (one value each: non-keys are the same for every instance)."""
    first = pipeline.instances[0]
    values = first.to_dict()
    return {name: values[name] for name in first.non_key_names()}


# -- one job without the plan: what a job process runs ---------------------------------


def job_for(pipeline: PipelineDeclaration, step_name: str, key: str) -> Job:
    """Job (``step_name``, ``key``) built from the path functions alone, without the rest of the plan.

    What a job process runs: its files and its record; no dependencies (the engine ran
    them first, and the runner only checks that the inputs exist).

    Raises:
        UnknownStepError, UnknownHashError: no such step, or no such hash in the grid.
    """
    step = pipeline.step(step_name)
    subject = pipeline.subject(step, key)
    return StepJobs(step.name, pipeline.state).job(key, step.input_paths(subject), step.output_paths(subject))


def batch_for(pipeline: PipelineDeclaration, step_name: str, key: str) -> tuple[Job, list[Job]]:
    """Batch job ``key`` of ``step_name`` and its members (in grid order), without the rest of the plan.

    The members are those the key names (see `phyper._planning.batches`): their files are
    checked against the step's output templates here, before any of them runs.

    Raises:
        UnknownStepError: no such step, ``key`` is not a well-formed batch key, or no job is in it.
        PipelineDefinitionError: a member's outputs do not follow the step's templates.
    """
    step = pipeline.step(step_name)
    parsed = parse_batch_key(key)
    if parsed is None or step.kind == "aggregate":
        raise UnknownStepError(
            f"step `{step.name}` has no job `{key}`: a batch key looks like batch-03-of-16 "
            "(see the plan's batch jobs)"
        )
    size = batch_sizes(pipeline.steps).get(step.name)
    if size is None:
        raise UnknownStepError(
            f"step `{step.name}` runs in no batches now (no batch= nor PHYPER_BATCH): `{key}` is from another plan; "
            "start the engine again"
        )
    batched = _BatchedStep(pipeline, step, size, step_templates(pipeline, step))
    if parsed[1] != len(batched.batches):
        raise UnknownStepError(
            f"step `{step.name}` has {len(batched.batches)} batches of at most {size} now, so `{key}` is from "
            "another plan (another grid or batch size); start the engine again"
        )
    members = [batched.member(member, None) for member in batched.batches[key]]
    return batched.jobs.batch(key, [member.key for member in members]), members


@dataclass(frozen=True)
class JobToRun:
    """A job as a job process runs it: the job, its step, what its function receives, its name for people."""

    job: Job
    step: Step
    subject: Any
    label: str


def jobs_to_run(pipeline: PipelineDeclaration, step_name: str, key: str) -> tuple[Job | None, list[JobToRun]]:
    """What ``phyper run STEP KEY`` runs: ``(None, [the job])``, or for a batch key ``(the batch, its members)``.

    Raises:
        UnknownStepError, UnknownHashError: no such step, or no such job.
        PipelineDefinitionError: a member's outputs do not follow the step's templates.
    """
    batch, jobs = batch_for(pipeline, step_name, key) if is_batch_key(key) else (None, [job_for(pipeline, step_name, key)])
    step = pipeline.step(step_name)
    return batch, [JobToRun(job, step, pipeline.subject(step, job.key), _label(pipeline, job)) for job in jobs]


def _label(pipeline: PipelineDeclaration, job: Job) -> str:
    try:
        return pipeline.job_label(job.step, job.key)
    except PhyperError:
        return job.id


# -- plain data for the plan cache (see phyper._planning.plan_cache) ----------------------------

_STEP_FIELDS = (
    "name", "kind", "resource_name", "doc", "keys", "output_templates", "record_template", "upstream",
    "threads", "resources", "batch_size", "batch_keys",
)


def plan_data(plan: Plan) -> tuple[Any, ...]:
    """The plan as nested tuples, lists, dicts and strings (what ``marshal`` can store)."""
    jobs = plan.jobs
    stored = {
        step: [(job.key, job.inputs, job.outputs, job.record, job.dependencies) for job in step_jobs.values()]
        for step, step_jobs in jobs._stored.items()
    }
    batches: dict[str, list[tuple[Any, ...]]] = {}
    for batch in plan.batches.values():
        batches.setdefault(batch.step, []).append((batch.key, batch.record, batch.dependencies, batch.members))
    batched = {name: (one.size, one.outputs.templates) for name, one in jobs._batched.items()}
    steps = [tuple(getattr(step, name) for name in _STEP_FIELDS) for step in plan.steps]
    return (steps, jobs._order, stored, batches, batched)


def plan_from_data(pipeline: PipelineDeclaration, data: tuple[Any, ...]) -> Plan:
    """The plan `plan_data` stored, for ``pipeline`` (whose steps build the members)."""
    steps_data, order, stored_data, batches_data, batched_data = data
    steps = [PlannedStep(**dict(zip(_STEP_FIELDS, fields))) for fields in steps_data]
    stored = {
        step: {
            f"{step}:{key}": builder.stored(key, inputs, outputs, record, dependencies)
            for builder in [StepJobs(step, pipeline.state)]
            for key, inputs, outputs, record, dependencies in jobs
        }
        for step, jobs in stored_data.items()
    }
    batches = {
        f"{step}:{key}": builder.batch(key, members, dependencies)
        for step in order
        for builder in [StepJobs(step, pipeline.state)]
        for key, _, dependencies, members in batches_data.get(step, ())
    }
    batched = {
        name: _BatchedStep(
            pipeline, pipeline.step(name), size, tuple(templates),
            {key: members for key, _, _, members in batches_data.get(name, ())},
        )
        for name, (size, templates) in batched_data.items()
    }
    producers = _Producers(list(batched.values()), stored)
    return Plan(
        steps, JobTable(list(order), stored, batched, producers), pipeline.state, batches, current_non_keys(pipeline),
        pipeline.codes,
    )
