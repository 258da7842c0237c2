"""The verdict on every job: what the engines will run, and why.

A job is *to run* when its completion record is not valid (see
:mod:`phyper._completion`) or when any job it depends on is to run; this is what
Snakemake and doit decide too, because both read the same records. Each verdict
says why in words a person can act on:

* ``no completion record`` (never ran, or was deleted),
* ``failed: ValueError: boom`` (the last attempt raised; the line comes from the job log),
* ``output ... is missing`` / ``changed content`` / ``input ... was rewritten`` ...,
* ``upstream job train_model:3f2a... is to run``.

Complete jobs whose record was made with non-key values other than the current ones
are listed too: non-keys never make a job run again, but results made with, say,
``n_epochs=20`` should not pass unnoticed for results made with 2000.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from phyper._code_store import code_status_lines, code_verdict
from phyper._completion import check_job_record

if TYPE_CHECKING:
    from phyper._pipeline import Pipeline
    from phyper._plan import Job, Plan

__all__ = ["JobVerdict", "job_verdicts", "last_attempts", "status_lines"]


@dataclass(frozen=True)
class JobVerdict:
    """What an engine will do with one job, and why."""

    job: Job
    to_run: bool
    reason: str
    failed: bool = False
    non_key_changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    code_changes: tuple[str, ...] | None = None
    """None: made by today's code (or not tracked); else what changed since (see :mod:`phyper._code_store`)."""
    package_changes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """Distribution -> (version the record was made with, today's), where they differ."""


def last_attempts(state_folder: str) -> dict[str, dict[str, Any]]:
    """The last job-log entry of each job id (``step:key``) that ran or failed."""
    path = os.path.join(state_folder, "jobs.jsonl")
    attempts: dict[str, dict[str, Any]] = {}
    try:
        handle = open(path, encoding="utf-8")
    except FileNotFoundError:
        return attempts
    with handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut by a full disk: the rest of the log still counts
            if entry.get("status", "done") in ("done", "failed"):
                attempts[f"{entry.get('step')}:{entry.get('key')}"] = entry
    return attempts


def job_verdicts(pipeline: Pipeline, plan: Plan | None = None) -> list[JobVerdict]:
    """The verdict on every job of the pipeline, in plan (topological) order."""
    plan = plan if plan is not None else pipeline.plan()
    attempts = last_attempts(plan.state_folder)
    first = pipeline.instances[0]
    current = first.to_dict()
    current_non_keys = {name: current[name] for name in first.non_key_names()}
    to_run: set[str] = set()
    verdicts: list[JobVerdict] = []
    for job in plan:
        status, record = check_job_record(job)
        code: dict[str, Any] = code_verdict(job.record, record) if record is not None else {}
        if not status.complete:
            attempt = attempts.get(job.id)
            failed = attempt is not None and attempt.get("status") == "failed"
            if failed and status.reason == "no completion record":
                reason = f"failed: {attempt['error']}" if attempt else status.reason
            else:
                reason = status.reason
            _mark_to_run(to_run, job)
            verdicts.append(JobVerdict(job, True, reason, failed, **code))
            continue
        upstream = next((dependency for dependency in job.dependencies if dependency in to_run), None)
        changes = _non_key_changes(record, current_non_keys)
        if upstream is not None:
            _mark_to_run(to_run, job)
            verdicts.append(JobVerdict(job, True, f"upstream job {upstream} is to run", False, changes, **code))
        else:
            verdicts.append(JobVerdict(job, False, "complete", False, changes, **code))
    return verdicts


def _mark_to_run(to_run: set[str], job: Job) -> None:
    to_run.add(job.id)
    if job.batch is not None:  # dependencies downstream name the batch job
        to_run.add(f"{job.step}:{job.batch}")


def _non_key_changes(record: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    recorded = record.get("non_keys", {}) if record else {}
    return {
        name: (recorded[name], value)
        for name, value in current.items()
        if name in recorded and recorded[name] != value
    }


def status_lines(verdicts: list[JobVerdict], verbose: bool = False) -> list[str]:
    """What ``phyper status`` prints: per step counts, then the jobs to run and why.

    Jobs to run are always listed with their reason when there are at most 20 of them
    (all of them with ``verbose``); complete jobs made with other non-key values are
    listed as a warning with the values.
    """
    steps: dict[str, Counter[str]] = {}
    for verdict in verdicts:
        counts = steps.setdefault(verdict.job.step, Counter())
        counts["total"] += 1
        counts["to_run"] += verdict.to_run
        counts["failed"] += verdict.failed
    lines = []
    for step, counts in steps.items():
        done = counts["total"] - counts["to_run"]
        line = f"{step}: {done}/{counts['total']} complete"
        if counts["to_run"]:
            line += f", {counts['to_run']} to run"
        if counts["failed"]:
            line += f" ({counts['failed']} failed)"
        lines.append(line)
    pending = [verdict for verdict in verdicts if verdict.to_run]
    shown = pending if verbose or len(pending) <= 20 else pending[:20]
    if pending:
        lines.append(f"to run ({len(pending)}):")
        lines.extend(f"  {verdict.job.id}: {verdict.reason}" for verdict in shown)
        if len(shown) < len(pending):
            lines.append(f"  ... and {len(pending) - len(shown)} more (phyper status -v lists them all)")
    drifted = [verdict for verdict in verdicts if verdict.non_key_changes]
    if drifted:
        lines.append(
            f"warning: {len(drifted)} job(s) made with non-key values other than the current ones "
            "(non-keys never trigger a rerun; see the README, 'Non-keys', to rerun them):"
        )
        groups: dict[str, list[str]] = {}
        for verdict in drifted:
            values = ", ".join(
                f"{name}={old!r} (now {new!r})" for name, (old, new) in sorted(verdict.non_key_changes.items())
            )
            groups.setdefault(values, []).append(verdict.job.id)
        for values, ids in groups.items():
            listed = ", ".join(ids if verbose or len(ids) <= 5 else [*ids[:5], f"... {len(ids) - 5} more"])
            lines.append(f"  {values}: {listed}")
    return lines + code_status_lines(verdicts, verbose)
