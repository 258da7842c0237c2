"""Running and checking batch jobs: many jobs of one step in one process.

A batch job (key ``batch-<i>-of-<n>``, see :mod:`phyper._batches`) runs its members one
after the other in the job process, so imports are paid once. Each member is an
ordinary job: it gets its own manifest, its own completion record as soon as it
finishes, and a member whose record is valid is skipped. A batch killed mid-way thus
reruns only its unfinished members. The batch's own record, written last, lists its
members; it is valid while every member's record is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from phyper._completion import JobStatus, check_job, read_record_checked, write_record
from phyper._errors import JobFailedError, PhyperError
from phyper._formats import remove_record
from phyper._plan import Job, OutputTemplates, step_templates

if TYPE_CHECKING:
    from phyper._pipeline import Pipeline, Step

__all__ = ["check_batch", "member_job", "run_batch"]


def member_job(pipeline: Pipeline, step: Step, key: str, batch: str | None = None) -> Job:
    """The job (``step``, ``key``) with its files, as the runner sees it."""
    subject = pipeline.subject(step, key)
    return Job(
        step.name,
        key,
        tuple(step.input_paths(subject)),
        tuple(step.output_paths(subject)),
        pipeline.record_path(step.name, key),
        (),
        batch=batch,
    )


def check_batch(batch: Job, members: Iterable[Job]) -> JobStatus:
    """Whether a batch job is complete: its record lists its members and each is complete.

    ``members`` (the jobs named by ``batch.members``) is consumed only when the batch
    record is there and lists them: a lazy iterable keeps a batch that never ran cheap.
    """
    record, problem = read_record_checked(batch.record, batch=True)
    if record is None:
        return JobStatus(False, problem or "no completion record")
    if record.get("members") != sorted(batch.members):
        return JobStatus(False, "the batch's members changed (grid or batch size)")
    for member in members:
        status = check_job(member)
        if not status.complete:
            return JobStatus(False, f"member {member.key}: {status.reason}")
    return JobStatus(True, "complete")


def run_batch(
    pipeline: Pipeline, step_name: str, key: str, *, engine: str | None = None, force: bool = False
) -> dict[str, Any] | None:
    """Run every incomplete member of batch ``key`` of ``step_name``, then write the batch record.

    Each member runs through :func:`phyper.run_job` (its lock, its record, its log line);
    members whose record is valid are skipped here without a log line, unless ``force``.

    A member that fails does not stop the others (their work is kept); the batch then
    raises after trying them all and writes no record, so the engine reruns it and only
    the failed members run again.

    Returns:
        The batch record, or None when the batch was already complete (nothing ran).

    Raises:
        UnknownStepError: no such step or batch.
        JobFailedError: at least one member failed.
    """
    from phyper._runner import run_job

    step = pipeline.step(step_name)
    members = [member_job(pipeline, step, member, key) for member in pipeline.batch_members(step, key)]
    # the plan built members only as far as it needed them: check every member's files now,
    # before any of them runs
    templates = OutputTemplates(step_templates(pipeline, step))
    for member in members:
        templates.check(step, member.key, list(member.outputs))
    batch = Job(step_name, key, (), (), pipeline.record_path(step_name, key), (), members=tuple(m.key for m in members))
    if not force and check_batch(batch, members).complete:
        print(f"phyper: {step_name}({key}): already complete; nothing to do", flush=True)
        return None
    # the batch record goes first: until the new one is written, the batch is not done
    remove_record(pipeline.record_path(step_name, key))
    started = time.time()
    ran: list[str] = []
    failures: list[tuple[str, PhyperError | Exception]] = []
    for member in members:
        if not force and check_job(member).complete:
            continue
        try:
            record = run_job(pipeline, step_name, member.key, engine=engine, force=force)
        except Exception as error:  # reported below, after the other members ran
            failures.append((member.key, error))
        else:
            if record is not None:  # None: another process completed it meanwhile
                ran.append(member.key)
    if failures:
        first_key, first_error = failures[0]
        raise JobFailedError(
            f"batch {step_name}:{key}: {len(failures)} of {len(members)} members failed "
            f"(first: {first_key}: {type(first_error).__name__}: {first_error}); the others are "
            "complete and will be skipped when the batch runs again"
        ) from first_error
    finished = time.time()
    extra = {
        "members": sorted(member.key for member in members),
        "ran": ran,
        "started": started,
        "finished": finished,
        "duration_s": round(finished - started, 6),
        "engine": engine,
        "host": os.uname().nodename,
        "pid": os.getpid(),
    }
    return write_record(batch, {}, extra)
