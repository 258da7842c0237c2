"""What an engine says about phyper's jobs while it runs them, in a person's words.

The backends announce each job they start with [`job_announcement`][phyper.job_announcement]
(the step, its key values or its batch and member count, and why it runs) and end a
run with [`closing_line`][phyper.closing_line]. No completion-record path appears in
either: records are phyper's bookkeeping, ``phyper status -v`` gives the detail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phyper._state.records import Reason

if TYPE_CHECKING:
    from phyper._planning.pipeline import Pipeline
    from phyper._planning.plan import Job
    from phyper._planning.verdict import JobVerdict

__all__ = ["STATUS_COMMAND", "closing_line", "engine_job_label", "job_announcement", "reason_in_words"]

STATUS_COMMAND = "phyper status"
"""The command that shows what is left to run and why (``-v``: every job)."""

_WORDS: dict[Reason, str] = {
    Reason.NO_RECORD: "new",
    Reason.UPSTREAM: "inputs changed upstream",
    Reason.OLDER_CODE: "code changed",
    Reason.FORCED: "forced",
    Reason.FAILED: "failed last time",
    Reason.UNREADABLE: "its completion record is damaged",
    Reason.COMPLETE: "complete",
}


def reason_in_words(verdict: JobVerdict) -> str:
    """Why a job runs, as a person says it: ``new``, ``inputs changed upstream``,
    ``code changed (train)``, ``forced``, ``failed last time``, ``its outputs changed``.

    Never a path: a batch job's reason is its first member's kind of reason.
    """
    if verdict.kind is Reason.FILES_CHANGED:
        return "inputs changed upstream" if _about_inputs(verdict.reason) else "its outputs changed"
    words = _WORDS.get(verdict.kind, str(verdict.kind.value))
    if verdict.kind is Reason.OLDER_CODE and verdict.code_changes:
        words += f" ({', '.join(verdict.code_changes)})"
    return words


def _about_inputs(reason: str) -> bool:
    """Whether a files-changed reason (`phyper._state.records`'s words) is about the job's inputs."""
    if reason.startswith("member "):  # a batch job: its first member's reason
        reason = reason.partition(": ")[2]
    return reason.startswith(("input ", "the job's inputs"))


def engine_job_label(pipeline: Pipeline, job: Job) -> str:
    """A job named for people: ``train_model(cv_fold=3 ...) 3f2a1c9e``, or for a batch job
    ``train_model(batch 2 of 7: 13 jobs)``."""
    if job.is_batch:
        index, _, count = job.key.removeprefix("batch-").partition("-of-")
        number = int(index) + 1 if index.isdigit() else index
        return f"{job.step}(batch {number} of {count}: {len(job.members)} jobs)"
    return pipeline.job_label(job.step, job.key)


def job_announcement(pipeline: Pipeline, verdict: JobVerdict | None, job: Job, *, forced: bool = False) -> str:
    """``<job label> · <reason in words>``: how an engine announces a job it starts.

    Args:
        pipeline: the job's pipeline (for its key values).
        verdict: phyper's verdict on the job; None: the label alone (the verdict is unknown).
        job: an engine job (a batch job for a batched step).
        forced: the engine forces the job (its reason is then ``forced``).
    """
    label = engine_job_label(pipeline, job)
    if forced:
        return f"{label} · forced"
    return label if verdict is None else f"{label} · {reason_in_words(verdict)}"


def closing_line(ran: int, already_done: int, failed: int, not_started: int = 0, *, dry_run: bool = False) -> str:
    """The one line a run ends with: what ran, what was already done, what failed, and
    the command that shows why.

    Args:
        ran: engine jobs that ran to completion in this run.
        already_done: engine jobs phyper found complete (nothing to do).
        failed: engine jobs that failed.
        not_started: jobs to run that the engine never started (it stopped at a failure).
        dry_run: nothing ran; ``ran`` counts the jobs that would run.
    """
    if dry_run:
        return f"phyper: {ran} jobs to run, {already_done} already done (dry run; `{STATUS_COMMAND}` says why)"
    parts = [f"{ran} jobs ran", f"{already_done} already done", f"{failed} failed"]
    if not_started:
        parts.append(f"{not_started} not started")
    why = f"`{STATUS_COMMAND}` shows why" if failed or not_started else f"`{STATUS_COMMAND}` shows the state"
    return f"phyper: {', '.join(parts)}; {why}"
