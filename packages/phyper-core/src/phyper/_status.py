"""What ``phyper status`` prints: per-step counts, then the jobs to run and why.

The verdicts themselves come from `phyper._verdict` (the one module that decides);
the names it had here are kept for the command line.
"""

from __future__ import annotations

from collections.abc import Iterable

from phyper._verdict import JobVerdict, JobVerdicts, Summary, SummaryFold, Verdicts, job_verdicts, last_attempts

__all__ = ["JobVerdict", "job_verdicts", "last_attempts", "status_lines", "summarise"]

_SHOWN = 20
"""Jobs to run listed without ``-v``."""


def summarise(verdicts: Iterable[JobVerdict], limit: int | None = _SHOWN) -> Summary:
    """The `phyper._verdict.Summary` of verdicts already made (the fold `Verdicts.summary` uses)."""
    fold = SummaryFold(limit)
    for verdict in verdicts:
        fold.add_verdict(verdict)
    return fold.summary()


def status_lines(verdicts: Verdicts | Iterable[JobVerdict], verbose: bool = False) -> list[str]:
    """What ``phyper status`` prints: per step counts, then the jobs to run and why.

    Jobs to run are always listed with their reason when there are at most 20 of them
    (all of them with ``verbose``); complete jobs made with other non-key values are
    listed as a warning with the values.

    Given a `Verdicts` (or what `job_verdicts` returns), only the jobs that
    have a completion record are built: a grid of a million counts in seconds.
    """
    limit = None if verbose else _SHOWN
    if isinstance(verdicts, JobVerdicts):
        verdicts = verdicts.verdicts
    summary = verdicts.summary(limit) if isinstance(verdicts, Verdicts) else summarise(verdicts, limit)
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
            "than the current ones (non-keys never trigger a rerun; to rerun them, see 'Overriding non-keys for one run' in docs/concepts.md):"
        )
        for values, ids in summary.drifted.items():
            listed = ", ".join(ids if verbose or len(ids) <= 5 else [*ids[:5], f"... {len(ids) - 5} more"])
            lines.append(f"  {values}: {listed}")
    return lines + summary.code.lines(verbose)
