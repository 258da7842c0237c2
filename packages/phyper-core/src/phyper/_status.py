"""What ``phyper status`` prints: per-step counts, then the jobs to run and why.

The verdicts themselves come from :mod:`phyper._verdict` (the one module that decides);
the names it had here are kept for the command line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from phyper._code_store import CodeSummary
from phyper._verdict import (
    JobVerdict,
    JobVerdicts,
    StepCount,
    Summary,
    Verdicts,
    describe_changes,
    job_verdicts,
    last_attempts,
)

__all__ = [
    "JobVerdict", "job_verdicts", "last_attempts", "status_data", "status_lines", "status_summary", "summarise",
    "summary_lines",
]

_SHOWN = 20
"""Jobs to run listed without ``-v``."""


def summarise(verdicts: Iterable[JobVerdict], limit: int | None = _SHOWN) -> Summary:
    """The :class:`~phyper._verdict.Summary` of verdicts already made (see :meth:`Verdicts.summary`)."""
    steps: dict[str, StepCount] = {}
    pending: list[tuple[str, str]] = []
    pending_total = 0
    drifted: dict[str, list[str]] = {}
    code = CodeSummary()
    for verdict in verdicts:
        code.add_step(verdict.job.step, verdict.job.record)
        code.add(verdict)
        count = steps.setdefault(verdict.job.step, StepCount())
        count.total += 1
        if verdict.to_run:
            count.to_run += 1
            count.failed += verdict.failed
            pending_total += 1
            if limit is None or len(pending) < limit:
                pending.append((verdict.job.id, verdict.reason))
        if verdict.non_key_changes:
            drifted.setdefault(describe_changes(verdict.non_key_changes), []).append(verdict.job.id)
    return Summary(steps, pending, pending_total, drifted, code)


def status_summary(verdicts: Verdicts | Iterable[JobVerdict], verbose: bool = False) -> Summary:
    """The :class:`~phyper._verdict.Summary` ``phyper status`` prints (20 jobs to run listed, all with ``verbose``).

    Given a :class:`Verdicts` (or what :func:`job_verdicts` returns), only the jobs that
    have a completion record are built: a grid of a million counts in seconds.
    """
    limit = None if verbose else _SHOWN
    if isinstance(verdicts, JobVerdicts):
        verdicts = verdicts.verdicts
    return verdicts.summary(limit) if isinstance(verdicts, Verdicts) else summarise(verdicts, limit)


def status_data(summary: Summary, verbose: bool = False) -> dict[str, Any]:
    """What ``phyper status --json`` prints (the schema is in docs/cli.md)."""
    return {
        "steps": [
            {"step": step, "jobs": counts.total, "complete": counts.total - counts.to_run, "to_run": counts.to_run,
             "failed": counts.failed}
            for step, counts in summary.steps.items()
        ],
        "to_run": summary.pending_total,
        "listed": [{"job": job_id, "reason": reason} for job_id, reason in summary.pending],
        "drifted": [{"non_keys": values, "jobs": ids} for values, ids in summary.drifted.items()],
        "code": summary.code.lines(verbose),
    }


def status_lines(verdicts: Verdicts | Iterable[JobVerdict], verbose: bool = False) -> list[str]:
    """What ``phyper status`` prints: per step counts, then the jobs to run and why.

    Jobs to run are always listed with their reason when there are at most 20 of them
    (all of them with ``verbose``); complete jobs made with other non-key values are
    listed as a warning with the values.
    """
    return summary_lines(status_summary(verdicts, verbose), verbose)


def summary_lines(summary: Summary, verbose: bool = False) -> list[str]:
    """The lines of :func:`status_lines`, from a summary already made."""
    lines = []
    for step, counts in summary.steps.items():
        line = f"{step}: {counts.total - counts.to_run}/{counts.total} complete"
        if counts.to_run:
            line += f", {counts.to_run} to run"
        if counts.failed:
            line += f" ({counts.failed} failed)"
        lines.append(line)
    if summary.pending_total:
        lines.append(f"to run ({summary.pending_total}):")
        lines.extend(f"  {job_id}: {reason}" for job_id, reason in summary.pending)
        if len(summary.pending) < summary.pending_total:
            lines.append(
                f"  ... and {summary.pending_total - len(summary.pending)} more (phyper status -v lists them all)"
            )
    if summary.drifted:
        lines.append(
            f"warning: {sum(len(ids) for ids in summary.drifted.values())} job(s) made with non-key values other "
            "than the current ones (non-keys never trigger a rerun; see the README, 'Non-keys', to rerun them):"
        )
        for values, ids in summary.drifted.items():
            listed = ", ".join(ids if verbose or len(ids) <= 5 else [*ids[:5], f"... {len(ids) - 5} more"])
            lines.append(f"  {values}: {listed}")
    return lines + summary.code.lines(verbose)
