"""What ``phyper status`` prints: per-step counts, then the jobs to run and why.

The verdicts themselves come from `phyper._planning.verdict` (the one module that decides);
the names it had here are kept for the command line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from phyper._planning.verdict import EngineCount, JobVerdict, JobVerdicts, Summary, SummaryFold, Verdicts, job_verdicts

__all__ = [
    "EngineCount", "JobVerdict", "Status", "job_verdicts", "status_data", "status_lines", "status_summary", "summarise",
    "summary_lines",
]

_SHOWN = 20
"""Jobs to run listed without ``-v``."""


def summarise(verdicts: Iterable[JobVerdict], limit: int | None = _SHOWN) -> Summary:
    """The `phyper._planning.verdict.Summary` of verdicts already made (the fold `Verdicts.summary` uses)."""
    fold = SummaryFold(limit)
    for verdict in verdicts:
        fold.add_verdict(verdict)
    return fold.summary()


@dataclass(frozen=True)
class Status:
    """What ``phyper status`` prints: the verdicts' summary, and per step its engine jobs."""

    summary: Summary
    engine: dict[str, EngineCount]
    """Step -> engine jobs; empty when only verdicts were given (no plan to count them in)."""


def status_summary(verdicts: Verdicts | Iterable[JobVerdict], verbose: bool = False) -> Status:
    """The summary ``phyper status`` prints (20 jobs to run listed, all with ``verbose``).

    Given a `Verdicts` (or what `job_verdicts` returns), only the jobs that
    have a completion record are built: a grid of a million counts in seconds, and the
    engine jobs to run (``snakemake -n``, ``doit list --all --status``) are counted too.
    """
    limit = None if verbose else _SHOWN
    if isinstance(verdicts, JobVerdicts):
        verdicts = verdicts.verdicts
    if not isinstance(verdicts, Verdicts):
        return Status(summarise(verdicts, limit), {})
    summary = verdicts.summary(limit)
    return Status(summary, summary.engine)


def status_data(status: Status, verbose: bool = False) -> dict[str, Any]:
    """What ``phyper status --json`` prints (the schema is in docs/cli.md)."""
    summary = status.summary
    steps = []
    for step, counts in summary.steps.items():
        row: dict[str, Any] = {"step": step, "jobs": counts.total, "complete": counts.total - counts.to_run,
                               "to_run": counts.to_run, "failed": counts.failed}
        engine = status.engine.get(step)
        if engine is not None:
            row.update(engine_jobs=engine.jobs, engine_jobs_to_run=engine.to_run, batch_size=engine.batch_size)
        steps.append(row)
    return {
        "steps": steps,
        "to_run": summary.pending_total,
        "listed": [{"job": job_id, "reason": reason} for job_id, reason in summary.pending],
        "drifted": [{"non_keys": values, "jobs": ids} for values, ids in summary.drifted.items()],
        "code": summary.code.lines(verbose),
    }


def status_lines(verdicts: Verdicts | Iterable[JobVerdict], verbose: bool = False) -> list[str]:
    """What ``phyper status`` prints: per step counts, then the jobs to run and why.

    Jobs to run are always listed with their reason when there are at most 20 of them
    (all of them with ``verbose``); complete jobs made with other non-key values are
    listed as a warning with the values. A batched step with jobs to run says in how
    many of its batch jobs; then (in a pipeline with batches) one line counts the engine
    jobs to run, the number ``snakemake -n`` and ``doit list --all --status`` show.
    """
    return summary_lines(status_summary(verdicts, verbose), verbose)


def summary_lines(status: Status, verbose: bool = False) -> list[str]:
    """The lines of `status_lines`, from a status already made."""
    summary = status.summary
    lines = []
    for step, counts in summary.steps.items():
        line = f"{step}: {counts.total - counts.to_run}/{counts.total} complete"
        if counts.to_run:
            line += f", {counts.to_run} to run"
        engine = status.engine.get(step)
        if counts.to_run and engine is not None and engine.batch_size is not None:
            line += f" in {engine.to_run} of its {engine.jobs} batch jobs"
        if counts.failed:
            line += f" ({counts.failed} failed)"
        if counts.rerun_failed:
            line += f" ({counts.rerun_failed} complete whose last rerun failed)"
        lines.append(line)
    engine_to_run = sum(engine.to_run for engine in status.engine.values())
    # without batches, the engine jobs are the jobs: the counts above are the engines' already
    if engine_to_run and any(engine.batch_size is not None for engine in status.engine.values()):
        lines.append(
            f"engine jobs to run: {engine_to_run} of {sum(engine.jobs for engine in status.engine.values())} "
            "(batch jobs for batched steps: what snakemake -n counts, besides its rule all, and doit list "
            "--all --status marks R)"
        )
    if summary.pending_total:
        lines.append(f"to run ({summary.pending_total}):")
        lines.extend(f"  {job_id}: {reason}" for job_id, reason in summary.pending)
        if len(summary.pending) < summary.pending_total:
            lines.append(
                f"  ... and {summary.pending_total - len(summary.pending)} more (phyper status -v lists them all)"
            )
    if summary.rerun_failed:
        total = sum(counts.rerun_failed for counts in summary.steps.values())
        lines.append(f"last rerun failed, earlier result intact and current ({total}):")
        lines.extend(f"  {job_id}: {words}" for job_id, words in summary.rerun_failed)
        if len(summary.rerun_failed) < total:
            lines.append(f"  ... and {total - len(summary.rerun_failed)} more (phyper status -v lists them all)")
    if summary.drifted:
        lines.append(
            f"warning: {sum(len(ids) for ids in summary.drifted.values())} job(s) made with non-key values other "
            "than the current ones (non-keys never trigger a rerun; to rerun them, see 'Overriding non-keys for one run' in docs/concepts.md):"
        )
        for values, ids in summary.drifted.items():
            listed = ", ".join(ids if verbose or len(ids) <= 5 else [*ids[:5], f"... {len(ids) - 5} more"])
            lines.append(f"  {values}: {listed}")
    return lines + summary.code.lines(verbose)
