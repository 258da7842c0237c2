"""Running commands: ``run`` one job (what the engines call), ``status``, ``plan``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import dataclass
from typing import Any

from phyper._cli._command import JSON, PIPELINE_SPEC, Command, option
from phyper._cli._output import JsonObject, Output
from phyper._planning.pipeline import Pipeline
from phyper._planning.plan import Job, PlannedStep
from phyper._results.device_status import waiting_lines
from phyper._results.status import Status, job_verdicts, status_summary, summary_lines
from phyper._running.runner import run_job

__all__ = [
    "COMMANDS", "JobToRun", "NonKeyDrift", "PlanJob", "PlanResult", "PlanStep", "RunResult", "StatusResult",
    "StepStatus", "plan", "run", "status",
]


@dataclass(frozen=True)
class RunResult(JsonObject):
    """``phyper run --json``: the job, whether it ran, and its new completion record."""

    step: str
    key: str
    ran: bool
    record: dict[str, Any] | None
    """The completion record as written (its format: docs/state-files.md); None: already complete."""


def run(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper run [PIPELINE] STEP KEY``: run one job in this process.

    With ``--json``, what the job prints goes to stderr and stdout gets the new record.
    """
    if not arguments.json:
        run_job(pipeline, arguments.step, arguments.key, engine=arguments.engine, force=arguments.force)
        return Output()
    with contextlib.redirect_stdout(sys.stderr):
        record = run_job(pipeline, arguments.step, arguments.key, engine=arguments.engine, force=arguments.force)
    return Output(data=RunResult(arguments.step, arguments.key, record is not None, record))


RUN = Command(
    "run", run, "run one job (what the engines call)",
    "Run one job in this process: look the instance up by hash, write the folder's manifest, "
    "run the step and, once every output is written, its completion record.",
    (
        PIPELINE_SPEC,
        option("step", help="the step's name (see `phyper ls`)"),
        option("key", help="the job's hash, or `all` for an aggregate step"),
        option("--engine", default=None, help="name of the engine running the job, kept in the completion record"),
        option("--force", action="store_true", help="run even if the job's completion record is valid (a manual rerun)"),
        JSON,
    ),
)


@dataclass(frozen=True)
class StepStatus(JsonObject):
    """One step of ``phyper status --json``: its jobs, and the engine jobs they make."""

    step: str
    jobs: int
    complete: int
    to_run: int
    failed: int
    engine_jobs: int
    """What ``snakemake -n`` and ``doit list`` count: ``jobs`` for a step without batches."""
    engine_jobs_to_run: int
    batch_size: int | None


@dataclass(frozen=True)
class JobToRun(JsonObject):
    """A job to run and why (``step:key``)."""

    job: str
    reason: str


@dataclass(frozen=True)
class NonKeyDrift(JsonObject):
    """Complete jobs made with other non-key values (``n_epochs=5 (now 7)``)."""

    non_keys: str
    jobs: list[str]


@dataclass(frozen=True)
class StatusResult(JsonObject):
    """``phyper status --json``."""

    steps: list[StepStatus]
    to_run: int
    listed: list[JobToRun]
    """The first 20 jobs to run (all of them with ``-v``)."""
    drifted: list[NonKeyDrift]
    code: list[str]
    """The lines about results made by older code, as the text prints them."""

    @classmethod
    def of(cls, status: Status, verbose: bool) -> StatusResult:
        """The result of counted verdicts."""
        summary = status.summary
        steps = []
        for step, counts in summary.steps.items():
            engine = status.engine.get(step)
            steps.append(StepStatus(
                step=step, jobs=counts.total, complete=counts.total - counts.to_run, to_run=counts.to_run,
                failed=counts.failed,
                # no batches: one engine job per job
                engine_jobs=engine.jobs if engine is not None else counts.total,
                engine_jobs_to_run=engine.to_run if engine is not None else counts.to_run,
                batch_size=engine.batch_size if engine is not None else None,
            ))
        return cls(
            steps=steps,
            to_run=summary.pending_total,
            listed=[JobToRun(job_id, reason) for job_id, reason in summary.pending],
            drifted=[NonKeyDrift(values, list(ids)) for values, ids in summary.drifted.items()],
            code=list(summary.code.lines(verbose)),
        )


def status(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper status [PIPELINE] [-v]``: complete jobs per step, and why the others are to run."""
    counted = status_summary(job_verdicts(pipeline, pipeline.plan(cache=True)), arguments.verbose)
    lines = summary_lines(counted, arguments.verbose)
    # -v: the jobs whose process waits for a GPU now (the machine's device pool)
    return Output(data=StatusResult.of(counted, arguments.verbose),
                  lines=lines + waiting_lines(pipeline.state.root) if arguments.verbose else lines)


STATUS = Command(
    "status", status, "how many jobs of each step are complete",
    "For each step, how many of its jobs are complete according to their completion records, how "
    "many are to run and, for a batched step, in how many batch jobs; then the engine jobs to run "
    "(what snakemake -n and doit list --all --status count).",
    (
        PIPELINE_SPEC,
        option("-v", "--verbose", action="store_true", help="list every job to run and why (at most 20 are listed otherwise)"),
        JSON,
    ),
)


@dataclass(frozen=True)
class PlanStep(JsonObject):
    """A step of ``phyper plan``: as the engines see it (`phyper.PlannedStep`)."""

    name: str
    kind: str
    resource_name: str | None
    doc: str
    keys: list[str]
    output_templates: list[str]
    record_template: str
    upstream: list[str]
    threads: int
    resources: dict[str, int]
    batch_size: int | None
    batch_keys: list[str]
    gpus: float | None
    """GPUs one job holds (``gpus=``, then ``PHYPER_STEP_GPUS``), None for none."""

    @classmethod
    def of(cls, step: PlannedStep) -> PlanStep:
        """The step's fields, by name (a new field of the plan is not in the JSON until declared here)."""
        return cls(
            step.name, step.kind, step.resource_name, step.doc, list(step.keys), list(step.output_templates),
            step.record_template, list(step.upstream), step.threads, dict(step.resources), step.batch_size,
            list(step.batch_keys), step.gpus,
        )


@dataclass(frozen=True)
class PlanJob(JsonObject):
    """A job of ``phyper plan`` (`phyper.Job`)."""

    id: str
    step: str
    key: str
    inputs: list[str]
    outputs: list[str]
    record: str
    dependencies: list[str]
    members: list[str]
    batch: str | None

    @classmethod
    def of(cls, job: Job) -> PlanJob:
        """The job's fields, by name."""
        return cls(job.id, job.step, job.key, list(job.inputs), list(job.outputs), job.record,
                   list(job.dependencies), list(job.members), job.batch)


@dataclass(frozen=True)
class PlanResult(JsonObject):
    """``phyper plan``: the steps and every job."""

    steps: list[PlanStep]
    jobs: list[PlanJob]


def plan(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper plan [PIPELINE]``: the plan as JSON."""
    built = pipeline.plan()
    document = PlanResult([PlanStep.of(step) for step in built.steps], [PlanJob.of(job) for job in built])
    # the plan is JSON whatever the options: as text in the plan's own order, with --json sorted
    return Output(data=document, lines=[json.dumps(document.to_json(), indent=1)])


PLAN = Command(
    "plan", plan, "print the plan (steps and jobs) as JSON",
    "Print the pipeline's plan as JSON: its steps and every job with inputs, outputs and dependencies.",
    (PIPELINE_SPEC, JSON),
)

COMMANDS = (RUN, STATUS, PLAN)
