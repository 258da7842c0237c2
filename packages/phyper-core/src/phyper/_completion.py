"""Completion records: the one truth about which jobs are done, whatever engine ran them.

After a job's outputs are fully written, the runner writes (atomically, last) a
record with each output's and each input's size, modification time and SHA-256
(an input's SHA-256 is taken from the record of the job that wrote it when that
record describes the file as it is, so a large data set read by many jobs is not
hashed by each of them). Paths are recorded as the plan names them (relative to
the project for a relative ``hashed_resources_folder``), so a project moved to
another folder keeps its records. A job is complete when its record exists and

* it lists exactly the job's outputs and inputs (a changed grid changes the inputs
  of an aggregate, so the aggregate reruns);
* every output and every input still has the recorded size and either the
  recorded modification time or, when that moved, the recorded content. Content
  is the truth when times lie: a copy that did not keep times (``cp -r``, a
  restore, a transfer from a cluster) or a ``touch`` changes nothing, and a normal
  check stays a ``stat`` (a file is hashed only when its time moved, once per
  process). An input whose time moved is told apart from a copy by the record of
  the job that writes it: after that job ran again, its record lists the input's
  new time, and the jobs downstream run again (whatever bytes it wrote, as in
  Snakemake); after a copy, it lists the old time, and content decides.

A record written before inputs carried a SHA-256 (``[size, mtime_ns]``) is still
valid while the input's time is unchanged; if the time moved, the input counts as
rewritten, as it did then.

Non-key values are recorded for provenance only: changing them completes nothing
and invalidates nothing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phyper._code_store import code_changes, older_code_reason
from phyper._formats import RECORD_FORMAT_VERSION, DamagedStateFile, phyper_version, read_record_file
from phyper._fs import atomic_write_text, file_sha256

if TYPE_CHECKING:
    from phyper._plan import Job

__all__ = [
    "RECORD_FORMAT_VERSION", "JobStatus", "check_job", "check_job_record", "input_fingerprints", "read_record",
    "read_record_checked", "write_record",
]


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
    """The valid record at ``path``, or None if it is missing or unreadable.

    What is wrong with an unreadable one: `read_record_checked`.

    Raises:
        StateFormatError: the record is in a newer format (see `phyper._formats`).
    """
    return read_record_checked(path)[0]


def read_record_checked(path: str, *, batch: bool = False) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)``, ``(None, None)`` if there is no record, or ``(None, why it is unusable)``.

    The reason reads ``unreadable completion record (<file>: <what>)``: the job is not
    complete, and its next run replaces the record (its outputs stay where they are).

    Raises:
        StateFormatError: the record is in a newer format: no tool may take its job for undone.
    """
    try:
        return read_record_file(path, batch=batch), None
    except DamagedStateFile as error:
        return None, f"unreadable completion record ({error})"


_SHA256_BY_STAT: dict[tuple[str, int, int], str] = {}
"""SHA-256 of files already hashed in this process, by (path, size, mtime_ns): after a
copy, the data set that every job reads is hashed once, not once per job checked."""


def _content_sha256(path: str, size: int, mtime_ns: int) -> str:
    key = (path, size, mtime_ns)
    digest = _SHA256_BY_STAT.get(key)
    if digest is None:
        digest = _SHA256_BY_STAT[key] = file_sha256(path)
    return digest


def _unchanged(path: str, recorded: list[Any], current: list[int]) -> bool:
    """Whether a file is as recorded: same size and time, or same size and content.

    ``recorded`` is ``[size, mtime_ns]`` or ``[size, mtime_ns, sha256]``; without a
    SHA-256 (a record of an older phyper) a moved time counts as a change.
    """
    if current[0] != recorded[0]:
        return False
    if current[1] == recorded[1]:
        return True
    return len(recorded) > 2 and _content_sha256(path, current[0], current[1]) == recorded[2]


_KEY_PART = re.compile(r"[0-9a-f]{32}")
"""A path component that may be a job key: the hash of a hashed folder."""


class _UpstreamRecords:
    """Finds the record of the job that wrote a file, by the file's path.

    A file of a hashed step lives under a folder named by its job's key, and that
    job's record is ``<state>/done/<step>/<key>.json``; an aggregate's key is
    ``all``. The steps are the folders of ``<state>/done``.
    """

    def __init__(self, done_folder: str) -> None:
        self.done_folder = done_folder
        try:
            self.steps = sorted(os.listdir(done_folder))
        except OSError:
            self.steps = []
        self.records: dict[str, dict[str, Any] | None] = {}

    def fingerprint(self, path: str) -> list[Any] | None:
        """``[size, mtime_ns, sha256]`` of ``path`` as the record of its writer lists it."""
        keys = [part for part in path.split(os.sep) if _KEY_PART.fullmatch(part)]
        for step in self.steps:
            for key in (*keys, "all"):
                record_path = os.path.join(self.done_folder, step, key + ".json")
                if record_path not in self.records:
                    self.records[record_path] = read_record(record_path)
                record = self.records[record_path]
                listed = record.get("outputs", {}).get(path) if record else None
                if isinstance(listed, list) and len(listed) == 3:
                    return listed
        return None


def input_fingerprints(job: Job, before: dict[str, list[int]]) -> dict[str, list[Any]]:
    """What a record notes about each input: ``[size, mtime_ns, sha256]``.

    ``before`` holds each input's ``[size, mtime_ns]`` when the job started. The
    SHA-256 comes from the record of the job that wrote the input when that record
    lists the same size and time (no hashing), else from hashing the file. An input
    that changed while the job ran keeps only ``[size, mtime_ns]`` of the start: its
    time has moved since, so the job reruns, as it should.
    """
    upstream = _UpstreamRecords(os.path.dirname(os.path.dirname(job.record)))
    fingerprints: dict[str, list[Any]] = {}
    for path, (size, mtime_ns) in before.items():
        try:
            current = stat_fingerprint(path)
        except OSError:
            current = None
        if current != [size, mtime_ns]:
            fingerprints[path] = [size, mtime_ns]
            continue
        listed = upstream.fingerprint(path)
        if listed is not None and listed[:2] == current:
            fingerprints[path] = [size, mtime_ns, listed[2]]
        else:
            fingerprints[path] = [size, mtime_ns, _content_sha256(path, size, mtime_ns)]
    return fingerprints


def write_record(job: Job, input_fingerprints_before: dict[str, list[int]], extra: dict[str, Any]) -> dict[str, Any]:
    """Fingerprint the outputs and inputs and write the record atomically; return it.

    ``input_fingerprints_before`` is each input's ``[size, mtime_ns]`` taken before the
    job's step ran (see `input_fingerprints`).
    """
    outputs = {path: [*stat_fingerprint(path), file_sha256(path)] for path in job.outputs}
    record = {
        "phyper_record": RECORD_FORMAT_VERSION,
        "phyper_version": phyper_version(),  # named by a later phyper that cannot read this format
        "step": job.step,
        "key": job.key,
        "outputs": outputs,
        "inputs": input_fingerprints(job, input_fingerprints_before),
        **extra,
    }
    atomic_write_text(job.record, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def check_job(job: Job) -> JobStatus:
    """Whether ``job`` is complete (see the module docstring)."""
    return check_job_record(job)[0]


def check_job_record(job: Job) -> tuple[JobStatus, dict[str, Any] | None]:
    """Whether ``job`` is complete, and its record (None if there is none)."""
    record, problem = read_record_checked(job.record)
    if record is None:
        return JobStatus(False, problem or "no completion record"), None
    status = _check(job, record)
    if status.complete:
        # the code last: a record made by other code is otherwise valid (phyper accept)
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
        if not _unchanged(path, [size, mtime_ns, sha256], current):
            return JobStatus(False, f"output {path} changed content")
    inputs: dict[str, list[Any]] = record.get("inputs", {})
    if sorted(inputs) != sorted(job.inputs):
        return JobStatus(False, "the job's inputs changed (grid or step definition)")
    upstream: _UpstreamRecords | None = None
    for path, fingerprint in inputs.items():
        try:
            current = stat_fingerprint(path)
        except OSError:
            return JobStatus(False, f"input {path} is missing")
        if current[0] == fingerprint[0] and current[1] != fingerprint[1] and len(fingerprint) > 2:
            # the time moved: a copy that lost times, or the job that writes the input ran
            # again. Its record tells which: after a rerun it lists the file's new time (and
            # what follows a rerun runs again, whatever bytes it wrote); a copy keeps the old.
            upstream = upstream or _UpstreamRecords(os.path.dirname(os.path.dirname(job.record)))
            listed = upstream.fingerprint(path)
            if listed is not None and listed[:2] == current:
                return JobStatus(False, f"input {path} was rewritten after the job ran")
        if not _unchanged(path, fingerprint, current):
            return JobStatus(False, f"input {path} was rewritten after the job ran")
    return JobStatus(True, "complete")
