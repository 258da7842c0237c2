"""Completion records: the one truth about which jobs are done, whatever engine ran them.

After a job's outputs are fully written, the runner writes (atomically, last) a
record with each output's size, modification time and SHA-256 and each input's
size and modification time. A job is complete when its record exists and

* it lists exactly the job's outputs and inputs (a changed grid changes the inputs
  of an aggregate, so the aggregate reruns);
* every output still exists with the recorded size and either the recorded
  modification time or, when that moved, the recorded content;
* every input still has the recorded size and modification time (an upstream job
  that ran again makes every job downstream of it run again, as in Snakemake).

Non-key values are recorded for provenance only: changing them completes nothing
and invalidates nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phyper._fs import atomic_write_text, file_sha256

if TYPE_CHECKING:
    from phyper._plan import Job

__all__ = ["RECORD_FORMAT_VERSION", "JobStatus", "check_job", "check_job_record", "read_record", "write_record"]

RECORD_FORMAT_VERSION = 1


@dataclass(frozen=True)
class JobStatus:
    """Whether a job is complete, and if not, why."""

    complete: bool
    reason: str

    def __bool__(self) -> bool:
        return self.complete


def stat_fingerprint(path: str) -> list[int]:
    """``[size, mtime_ns]`` of a file."""
    info = os.stat(path)
    return [info.st_size, info.st_mtime_ns]


def read_record(path: str) -> dict[str, Any] | None:
    """The record at ``path``, or None if it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("phyper_record") != RECORD_FORMAT_VERSION:
        return None
    return record


def write_record(job: Job, input_fingerprints: dict[str, list[int]], extra: dict[str, Any]) -> dict[str, Any]:
    """Fingerprint the outputs and write the record atomically; return it."""
    outputs = {path: [*stat_fingerprint(path), file_sha256(path)] for path in job.outputs}
    record = {
        "phyper_record": RECORD_FORMAT_VERSION,
        "step": job.step,
        "key": job.key,
        "outputs": outputs,
        "inputs": input_fingerprints,
        **extra,
    }
    atomic_write_text(job.record, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def check_job(job: Job) -> JobStatus:
    """Whether ``job`` is complete (see the module docstring)."""
    return check_job_record(job)[0]


def check_job_record(job: Job) -> tuple[JobStatus, dict[str, Any] | None]:
    """Whether ``job`` is complete, and its record (None if there is none)."""
    record = read_record(job.record)
    if record is None:
        return JobStatus(False, "no completion record"), None
    status = _check(job, record)
    if status.complete:
        # the code last: a record made by other code is otherwise valid (phyper accept)
        from phyper._code_store import code_changes, older_code_reason

        changes = code_changes(job.record, record)
        if changes is not None:
            return JobStatus(False, older_code_reason(changes)), record
    return status, record


def _check(job: Job, record: dict[str, Any]) -> JobStatus:
    outputs: dict[str, list[Any]] = record.get("outputs", {})
    if sorted(outputs) != sorted(job.outputs):
        return JobStatus(False, "the step's outputs changed since the job ran")
    for path, (size, mtime_ns, sha256) in outputs.items():
        try:
            current = stat_fingerprint(path)
        except OSError:
            return JobStatus(False, f"output {path} is missing")
        if current[0] != size:
            return JobStatus(False, f"output {path} changed size")
        if current[1] != mtime_ns and file_sha256(path) != sha256:
            return JobStatus(False, f"output {path} changed content")
    inputs: dict[str, list[int]] = record.get("inputs", {})
    if sorted(inputs) != sorted(job.inputs):
        return JobStatus(False, "the job's inputs changed (grid or step definition)")
    for path, fingerprint in inputs.items():
        try:
            current = stat_fingerprint(path)
        except OSError:
            return JobStatus(False, f"input {path} is missing")
        if current != fingerprint:
            return JobStatus(False, f"input {path} was rewritten after the job ran")
    return JobStatus(True, "complete")
