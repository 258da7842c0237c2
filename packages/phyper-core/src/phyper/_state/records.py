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

A job that runs again (forced, or because its record no longer checks out) keeps its
earlier record until the new one replaces it, atomically, once every output is written.
A failed or killed rerun therefore leaves the earlier result as it was: complete, if its
files are still as the record lists them (the step failed before touching them, or
rewrote the same bytes), else to run (an output replaced or damaged no longer matches
the record's size and content). No engine takes a half-written result for done, and
every engine agrees with the others: Snakemake restores the record of a failed job it
was updating, doit leaves it where it is, and both are the same record.

A record written before inputs carried a SHA-256 (``[size, mtime_ns]``) is still
valid while the input's time is unchanged; if the time moved, the input counts as
rewritten, as it did then.

Non-key values are recorded for provenance only: changing them completes nothing
and invalidates nothing.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from phyper._errors import JobFailedError
from phyper._fs import atomic_write_text, file_sha256, leftover_temporaries
from phyper._state.formats import (
    RECORD_FORMAT_VERSION,
    CompletionRecord,
    DamagedStateFile,
    phyper_version,
    read_record_file,
    remove_record,
)

if TYPE_CHECKING:
    from phyper._planning.code_store import StepCodes
    from phyper._planning.plan import Job
    from phyper._state.store import StateStore

__all__ = [
    "RECORD_FORMAT_VERSION", "JobRecords", "JobStatus", "Reason", "Records", "RunInfo", "Started", "read_record",
    "read_record_checked", "timing",
]


class Reason(enum.Enum):
    """What kind of reason a `JobStatus` (and a verdict) gives; the words are in its ``reason``."""

    COMPLETE = "complete"
    NO_RECORD = "no record"
    UNREADABLE = "unreadable record"
    FILES_CHANGED = "files changed"
    OLDER_CODE = "older code"
    FAILED = "failed"
    FORCED = "forced"
    UPSTREAM = "upstream"
    MEMBER = "member"


@dataclass(frozen=True)
class JobStatus:
    """Whether a job is complete, and if not, why (``kind``: what kind of reason, for code to branch on)."""

    complete: bool
    reason: str
    kind: Reason = field(default=Reason.COMPLETE, compare=False, repr=False)

    def __bool__(self) -> bool:
        return self.complete

    def __str__(self) -> str:
        return self.reason


COMPLETE = JobStatus(True, "complete", Reason.COMPLETE)
NO_RECORD = JobStatus(False, "no completion record", Reason.NO_RECORD)
OLDER_CODE = "made by older code"


def older_code(changes: tuple[str, ...]) -> JobStatus:
    """The status of a record made by older code (``changes``: what changed, if known)."""
    return JobStatus(False, f"{OLDER_CODE} ({', '.join(changes)} changed)" if changes else OLDER_CODE, Reason.OLDER_CODE)


def _changed(reason: str) -> JobStatus:
    return JobStatus(False, reason, Reason.FILES_CHANGED)


def stat_fingerprint(path: str) -> list[int]:
    """``[size, mtime_ns]`` of a file."""
    info = os.stat(path)
    return [info.st_size, info.st_mtime_ns]


def read_record(path: str) -> CompletionRecord | None:
    """The valid record at ``path``, or None if it is missing or unreadable.

    What is wrong with an unreadable one: `read_record_checked`.

    Raises:
        StateFormatError: the record is in a newer format (see `phyper._state.formats`).
    """
    return read_record_checked(path)[0]


def read_record_checked(path: str, *, batch: bool = False) -> tuple[CompletionRecord | None, str | None]:
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


def _unchanged(path: str, recorded: tuple[int, int] | tuple[int, int, str], current: list[int], hashes: _ContentHashes) -> bool:
    """Whether a file is as recorded: same size and time, or same size and content.

    ``recorded`` is ``[size, mtime_ns]`` or ``[size, mtime_ns, sha256]``; without a
    SHA-256 (a record of an older phyper) a moved time counts as a change.
    """
    if current[0] != recorded[0]:
        return False
    if current[1] == recorded[1]:
        return True
    return len(recorded) > 2 and hashes.sha256(path, current[0], current[1]) == recorded[2]


class _ContentHashes:
    """SHA-256 of files already hashed by one `Records`, by (path, size, mtime_ns): after a
    copy, the data set that every job reads is hashed once, not once per job checked."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, int], str] = {}

    def sha256(self, path: str, size: int, mtime_ns: int) -> str:
        key = (path, size, mtime_ns)
        digest = self._known.get(key)
        if digest is None:
            digest = self._known[key] = file_sha256(path)
        return digest


_KEY_PART = re.compile(r"[0-9a-f]{32}")
"""A path component that may be a job key: the hash of a hashed folder."""


class _UpstreamRecords:
    """Finds the record of the job that wrote a file, by the file's path.

    A file of a hashed step lives under a folder named by its job's key, and that
    job's record is the state's record of (step, key); an aggregate's key is ``all``.
    The steps are those with a record folder.
    """

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self.steps = state.record_steps()
        self.records: dict[str, CompletionRecord | None] = {}

    def fingerprint(self, path: str) -> tuple[int, int, str] | None:
        """``[size, mtime_ns, sha256]`` of ``path`` as the record of its writer lists it."""
        keys = [part for part in path.split(os.sep) if _KEY_PART.fullmatch(part)]
        for step in self.steps:
            for key in (*keys, "all"):
                record_path = self.state.record_path(step, key)
                if record_path not in self.records:
                    self.records[record_path] = read_record(record_path)
                record = self.records[record_path]
                listed = record.outputs.get(path) if record else None
                if listed is not None:
                    return listed
        return None


@dataclass(frozen=True)
class Started:
    """What `Records.begin` noted before a job's step ran."""

    identities: dict[str, tuple[int, int, int] | None]
    inputs: dict[str, list[int]]


def _file_identity(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _make_room(record: str) -> None:
    """Remove a folder found where a record goes (an empty one; one holding files is a named error).

    A record, valid or damaged, stays: the new one replaces it atomically.

    Raises:
        JobFailedError: a folder holding files is where the record goes.
    """
    if os.path.isdir(record):
        remove_record(record)


def remove_leftovers(paths: Iterable[str]) -> None:
    """Remove the hidden temporaries a killed writer of ``paths`` left (see `phyper._fs`)."""
    for path in paths:
        for leftover in leftover_temporaries(path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


@dataclass(frozen=True)
class RunInfo:
    """Where and how a job runs: built once per job, written into its record and its log lines."""

    label: str
    engine: str | None
    non_keys: dict[str, Any]
    host: str = field(default_factory=lambda: os.uname().nodename)
    pid: int = field(default_factory=os.getpid)
    scheduler_job_id: str | None = field(default_factory=lambda: os.environ.get("SLURM_JOB_ID"))
    """A cluster's id for the job (SLURM), else None."""
    devices: tuple[str, ...] = ()
    """The GPUs phyper gave the job (its ``CUDA_VISIBLE_DEVICES``; see `phyper._running.devices`), if any."""
    device_wait_s: float = 0.0
    """How long the job waited for them."""

    def on_devices(self, devices: tuple[str, ...], waited_s: float) -> RunInfo:
        """This run, holding ``devices`` after waiting ``waited_s`` for them."""
        return replace(self, devices=devices, device_wait_s=waited_s)

    def record_fields(self) -> dict[str, Any]:
        """What a completion record says of the run (besides its times)."""
        return {
            "engine": self.engine, "host": self.host, "pid": self.pid,
            "scheduler_job_id": self.scheduler_job_id, "non_keys": self.non_keys,
        }

    def log_fields(self) -> dict[str, Any]:
        """What every job-log line of the run says."""
        devices = {"devices": list(self.devices)} if self.devices else {}
        waited = {"device_wait_s": self.device_wait_s} if self.device_wait_s else {}
        return {**self.record_fields(), "label": self.label, **devices, **waited}


def timing(started: float, finished: float) -> dict[str, Any]:
    """``started``, ``finished`` and ``duration_s``, as records and log lines hold them."""
    return {"started": started, "finished": finished, "duration_s": round(finished - started, 6)}


class JobRecords(Protocol):
    """What the runner asks of the completion records (`Records` on a state folder)."""

    def check(self, job: Job) -> tuple[JobStatus, CompletionRecord | None]:
        """Whether ``job``'s record checks out, and the record."""
        ...

    def check_batch(self, batch: Job, members: Iterable[Job]) -> JobStatus:
        """Whether every current member of ``batch`` is complete."""
        ...

    def batch_record_is_current(self, batch: Job) -> bool:
        """Whether the batch record lists the batch's current members."""
        ...

    def begin(self, job: Job, run: RunInfo) -> Started:
        """Make ``job`` ready to run (its earlier record stays until `finish` replaces it)."""
        ...

    def finish(self, job: Job, started: Started, run: RunInfo, times: dict[str, Any]) -> dict[str, Any]:
        """Write ``job``'s record once the step wrote every output."""
        ...

    def finish_batch(self, batch: Job, ran: Sequence[str], times: dict[str, Any], engine: str | None) -> dict[str, Any]:
        """Write the record of ``batch``."""
        ...


_CONTINUED: dict[str, dict[str, Any]] = {}
"""Job id -> the lower rung it continued from, noted by `phyper.continued_from` while the job runs."""


def note_continued_from(job_id: str, lower: dict[str, Any]) -> None:
    """Name ``lower`` (its record, key, budget) in the record of job ``job_id``, now running in this process."""
    _CONTINUED[job_id] = lower


class Records:
    """The completion records of one state folder: checked, begun, written.

    One object per command (or job process): it keeps the content hashes it computed.

    Args:
        state: the state folder.
        codes: the code each step is expected to have (None: code is not compared).
        keep: keep every record read (each is then read from disk once for this object's life).
    """

    def __init__(self, state: StateStore, codes: StepCodes | None = None, *, keep: bool = False) -> None:
        self.state = state
        self.codes = codes
        self._hashes = _ContentHashes()
        self._kept: dict[str, tuple[CompletionRecord | None, str | None]] | None = {} if keep else None

    def read(self, path: str) -> tuple[CompletionRecord | None, str | None]:
        """The record at ``path`` and what is wrong with it (see `read_record_checked`)."""
        kept = self._kept
        if kept is None:
            return read_record_checked(path)
        found = kept.get(path)
        if found is None:
            found = kept[path] = read_record_checked(path)
        return found

    # -- checking -----------------------------------------------------------------------

    def check(self, job: Job) -> tuple[JobStatus, CompletionRecord | None]:
        """Whether ``job`` is complete (see the module docstring), and its record (None if there is none)."""
        record, problem = self.read(job.record)
        if record is None:
            return (JobStatus(False, problem, Reason.UNREADABLE) if problem else NO_RECORD), None
        status = self._check_files(job, record)
        if status.complete and self.codes is not None:
            # the code last: a record made by other code is otherwise valid (phyper accept)
            changes = self.codes.changes(job.step, record)
            if changes is not None:
                return older_code(changes), record
        return status, record

    def check_batch(self, batch: Job, members: Iterable[Job]) -> JobStatus:
        """Whether a batch job is complete: every one of its current members is (the first incomplete decides)."""
        for member in members:
            status = self.check(member)[0]
            if not status.complete:
                return JobStatus(False, f"member {member.key}: {status.reason}", status.kind)
        return COMPLETE

    def batch_record_is_current(self, batch: Job) -> bool:
        """Whether the batch record exists and lists the batch's current members."""
        record = read_record(batch.record)
        return record is not None and record.members is not None and list(record.members) == sorted(batch.members)

    def _check_files(self, job: Job, record: CompletionRecord) -> JobStatus:
        outputs = record.outputs
        if sorted(outputs) != sorted(job.outputs):
            return _changed("the step's outputs changed since the job ran")
        for path, (size, mtime_ns, sha256) in outputs.items():
            try:
                current = stat_fingerprint(path)
            except OSError:
                return _changed(f"output {path} is missing")
            if current[0] != size:
                return _changed(f"output {path} changed size")
            if not _unchanged(path, (size, mtime_ns, sha256), current, self._hashes):
                return _changed(f"output {path} changed content")
        inputs = record.inputs
        if sorted(inputs) != sorted(job.inputs):
            return _changed("the job's inputs changed (grid or step definition)")
        upstream: _UpstreamRecords | None = None
        for path, fingerprint in inputs.items():
            try:
                current = stat_fingerprint(path)
            except OSError:
                return _changed(f"input {path} is missing")
            if current[0] == fingerprint[0] and current[1] != fingerprint[1] and len(fingerprint) > 2:
                # the time moved: a copy that lost times, or the job that writes the input ran
                # again. Its record tells which: after a rerun it lists the file's new time (and
                # what follows a rerun runs again, whatever bytes it wrote); a copy keeps the old.
                upstream = upstream or _UpstreamRecords(self.state)
                listed = upstream.fingerprint(path)
                if listed is not None and list(listed[:2]) == current:
                    return _changed(f"input {path} was rewritten after the job ran")
            if not _unchanged(path, fingerprint, current, self._hashes):
                return _changed(f"input {path} was rewritten after the job ran")
        return COMPLETE

    # -- writing --------------------------------------------------------------------------

    def remove_leftovers(self, job: Job) -> None:
        """Remove what a killed writer of ``job``'s record or outputs left (hidden temporaries)."""
        remove_leftovers((job.record, *job.outputs))

    def begin(self, job: Job, run: RunInfo) -> Started:
        """Make ``job`` ready to run: its inputs exist, its folders are made; its earlier record stays.

        The earlier record is replaced (atomically) only by `finish`, once the step wrote
        every output: a run that fails or is killed leaves the earlier result as it was.
        That result is complete only while its files are as its record lists them; a run
        that replaced or damaged an output before failing makes the record's fingerprints
        no longer match, and the job is to run (see the module docstring).

        Raises:
            JobFailedError: an input is missing.
        """
        missing = [path for path in job.inputs if not os.path.exists(path)]
        if missing:
            raise JobFailedError(
                f"job {run.label} cannot start: input {missing[0]} does not exist"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + "; run the steps upstream of it first (an engine does this for you)"
            )
        self.remove_leftovers(job)
        _make_room(job.record)
        _CONTINUED.pop(job.id, None)  # what an earlier attempt in this process continued from
        for path in job.outputs:
            folder = os.path.dirname(path)
            if folder:
                os.makedirs(folder, exist_ok=True)
        return Started(
            {path: _file_identity(path) for path in job.outputs},
            {path: stat_fingerprint(path) for path in job.inputs},
        )

    def finish(self, job: Job, started: Started, run: RunInfo, times: dict[str, Any]) -> dict[str, Any]:
        """Check that the step wrote every output, then write ``job``'s record (last, atomically); return it.

        ``times``: when the step ran (see `timing`).

        Raises:
            JobFailedError: an output was not written.
        """
        not_written = [path for path in job.outputs if not os.path.isfile(path)]
        unchanged = [
            path for path in job.outputs if path not in not_written and _file_identity(path) == started.identities[path]
        ]
        if not_written or unchanged:
            raise JobFailedError(
                f"job {run.label} finished without writing {', '.join(not_written + unchanged)}; step "
                f"`{job.step}` declares it as an output"
            )
        extra = {**times, **run.record_fields()}
        code = self.codes.today_field(job.step) if self.codes is not None else None
        if code is not None:
            extra["code"] = code
        continued = _CONTINUED.pop(job.id, None)
        if continued is not None:
            extra["continued_from"] = continued
        return self._write(job, self.input_fingerprints(started.inputs), extra)

    def finish_batch(self, batch: Job, ran: Sequence[str], times: dict[str, Any], engine: str | None) -> dict[str, Any]:
        """Write the record of ``batch`` (its members, those that ran, when, where); return it."""
        _make_room(batch.record)
        return self._write(batch, {}, {
            "members": sorted(batch.members), "ran": list(ran), **times,
            "engine": engine, "host": os.uname().nodename, "pid": os.getpid(),
        })

    def write(self, job: Job, inputs_before: dict[str, list[int]], extra: dict[str, Any]) -> dict[str, Any]:
        """Write ``job``'s record from its files as they are (what `finish` writes, without checks).

        ``inputs_before``: each input's ``[size, mtime_ns]`` when the step started.
        """
        return self._write(job, self.input_fingerprints(inputs_before), extra)

    def input_fingerprints(self, before: dict[str, list[int]]) -> dict[str, list[Any]]:
        """What a record notes about each input: ``[size, mtime_ns, sha256]``.

        ``before`` holds each input's ``[size, mtime_ns]`` when the job started. The
        SHA-256 comes from the record of the job that wrote the input when that record
        lists the same size and time (no hashing), else from hashing the file. An input
        that changed while the job ran keeps only ``[size, mtime_ns]`` of the start: its
        time has moved since, so the job reruns, as it should.
        """
        upstream = _UpstreamRecords(self.state)
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
            if listed is not None and list(listed[:2]) == current:
                fingerprints[path] = [size, mtime_ns, listed[2]]
            else:
                fingerprints[path] = [size, mtime_ns, self._hashes.sha256(path, size, mtime_ns)]
        return fingerprints

    def _write(self, job: Job, inputs: dict[str, list[Any]], extra: dict[str, Any]) -> dict[str, Any]:
        outputs = {path: [*stat_fingerprint(path), file_sha256(path)] for path in job.outputs}
        record = {
            "phyper_record": RECORD_FORMAT_VERSION,
            "phyper_version": phyper_version(),  # named by a later phyper that cannot read this format
            "step": job.step,
            "key": job.key,
            "outputs": outputs,
            "inputs": inputs,
            **extra,
        }
        atomic_write_text(job.record, json.dumps(record, indent=1, sort_keys=True) + "\n")
        return record
