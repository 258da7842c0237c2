"""Running commands: ``run`` one job (what the engines call), ``status``, ``plan``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from phyper._cli._command import JSON, PIPELINE_SPEC, Command, option
from phyper._cli._output import Output
from phyper._device_status import waiting_lines
from phyper._pipeline import Pipeline
from phyper._runner import run_job
from phyper._status import job_verdicts, status_data, status_summary, summary_lines

__all__ = ["COMMANDS", "plan", "run", "status"]


def run(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper run [PIPELINE] STEP KEY``: run one job in this process.

    With ``--json``, what the job prints goes to stderr and stdout gets the new record.
    """
    if not arguments.json:
        run_job(pipeline, arguments.step, arguments.key, engine=arguments.engine, force=arguments.force)
        return Output()
    with contextlib.redirect_stdout(sys.stderr):
        record = run_job(pipeline, arguments.step, arguments.key, engine=arguments.engine, force=arguments.force)
    return Output(data={"step": arguments.step, "key": arguments.key, "ran": record is not None, "record": record})


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


def status(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper status [PIPELINE] [-v]``: complete jobs per step, and why the others are to run."""
    counted = status_summary(job_verdicts(pipeline, pipeline.plan(cache=True)), arguments.verbose)
    lines = summary_lines(counted, arguments.verbose)
    # -v: the jobs whose process waits for a GPU now (the machine's device pool)
    return Output(data=status_data(counted, arguments.verbose),
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


def plan(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper plan [PIPELINE]``: the plan as JSON."""
    built = pipeline.plan()
    document = {
        "steps": [step.__dict__ for step in built.steps],
        "jobs": [{**job.__dict__, "id": job.id} for job in built],
    }
    # the plan is JSON whatever the options: as text in the plan's own order, with --json sorted
    return Output(data=document, lines=[json.dumps(document, indent=1)])


PLAN = Command(
    "plan", plan, "print the plan (steps and jobs) as JSON",
    "Print the pipeline's plan as JSON: its steps and every job with inputs, outputs and dependencies.",
    (PIPELINE_SPEC, JSON),
)

COMMANDS = (RUN, STATUS, PLAN)
