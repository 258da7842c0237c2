"""What every file phyper reads from its state is allowed to hold, and how it is checked.

One description per file kind, with a format version (``docs/state-files.md`` is
the same description for people):

* completion records (``<state>/done/<step>/<key>.json``) and batch records (the
  record of a batch job: the same file, with ``members``);
* job-log lines (``<state>/jobs.jsonl``, one JSON object per line);
* lock files (``<state>/locks/<step>/<key>.lock``: who holds the lock, for messages);
* manifests (``<hashed folder>/phyper-manifest.json``, read by `phyper._model.manifest`);
* plan-cache entries (``<state>/plan-cache/*.marshal``, read by `phyper._planning.plan_cache`).

Each validator returns the valid object or raises:

* `DamagedStateFile` (internal, never shown as a traceback): the file cannot
  be read or does not have the described shape; each reader turns it into its
  file kind's rule (a job that is not complete, a skipped log line ...);
* `phyper.StateFormatError`: the file declares a format version newer than this
  phyper knows; every tool stops with it (nothing rerun, nothing deleted).

Unknown keys are allowed everywhere: a field added later (``code``, an input's SHA-256
...) does not make a file unreadable; required keys and the types of known keys are
checked, because the readers use them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from phyper._errors import JobFailedError, StateFormatError
from phyper._version import __version__

__all__ = [
    "BATCH_RECORD",
    "CompletionRecord",
    "RecordCode",
    "JOB_LOG_FORMAT_VERSION",
    "JOB_LOG_LINE",
    "LOCK",
    "LOCK_FORMAT_VERSION",
    "MANIFEST",
    "MANIFEST_FORMAT_VERSION",
    "TRIAL_RECORD",
    "TRIAL_RECORD_FORMAT_VERSION",
    "PLAN_CACHE_FORMAT_VERSION",
    "RECORD",
    "RECORD_FORMAT_VERSION",
    "DamagedStateFile",
    "Field",
    "FileFormat",
    "JobLogLines",
    "parse_job_log",
    "phyper_version",
    "open_state_file",
    "plan_cache_entry",
    "plan_cache_payload",
    "read_json_file",
    "read_record_file",
    "read_state_bytes",
    "remove_record",
]

RECORD_FORMAT_VERSION = 1
"""``phyper_record`` of the completion and batch records this phyper writes and reads."""
MANIFEST_FORMAT_VERSION = 1

TRIAL_RECORD_FORMAT_VERSION = 3
"""3: the point and, with a fidelity, the highest rung started (``budget``); 2: the point alone
(1 also held each Optuna trial's state, which the study owns); 1 and 2 are still read."""
"""``phyper_manifest`` of the manifests this phyper writes and reads (absent: 1)."""
JOB_LOG_FORMAT_VERSION = 1
"""The job-log lines' format: lines carry no version field; a later format adds ``phyper_log``."""
LOCK_FORMAT_VERSION = 1
"""The lock files' content (only ever used for a message: the lock is the ``fcntl`` lock)."""


class DamagedStateFile(ValueError):
    """A state file that cannot be read or does not have its kind's shape."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"{path}: {what}")
        self.path = path
        self.what = what


# -- checks of one value: each returns what is wrong with it, or None ----------------------


Check = Callable[[Any], "str | None"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(value: Any) -> str | None:
    return None if _is_int(value) else "not an integer"


def number(value: Any) -> str | None:
    # an int is finite (math.isfinite would overflow on a huge one)
    ok = _is_int(value) or (isinstance(value, float) and math.isfinite(value))
    return None if ok else "not a finite number"


def timestamp(value: Any) -> str | None:
    # what time.localtime() accepts: a time far in the future would make a listing fail
    problem = number(value)
    return problem if problem is not None else None if 0 <= value < 1e11 else "not a time (seconds since 1970)"


def text(value: Any) -> str | None:
    return None if isinstance(value, str) else "not a string"


def text_or_null(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "not a string or null"


def mapping(value: Any) -> str | None:
    return None if isinstance(value, dict) else "not an object"


def list_of_text(value: Any) -> str | None:
    ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    return None if ok else "not a list of strings"


def _fingerprint(value: Any, lengths: tuple[int, ...]) -> str | None:
    if not isinstance(value, list) or len(value) not in lengths:
        return f"not a list of {' or '.join(map(str, lengths))} items"
    if not (_is_int(value[0]) and value[0] >= 0 and _is_int(value[1])):
        return "size and modification time are not integers"
    if len(value) > 2 and not isinstance(value[2], str):
        return "its SHA-256 is not a string"
    return None


def files_of(entry: Check) -> Check:
    """A check of ``{path: entry}`` objects."""

    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return "not an object"
        for path, item in value.items():
            if not path or "\0" in path:
                return f"entry {path!r}: not a file path"
            problem = entry(item)
            if problem is not None:
                return f"entry {path!r}: {problem}"
        return None

    return check


output_files = files_of(lambda value: _fingerprint(value, (3,)))
"""``{path: [size, mtime_ns, sha256]}``."""
input_files = files_of(lambda value: _fingerprint(value, (2, 3)))
"""``{path: [size, mtime_ns]}`` or ``{path: [size, mtime_ns, sha256]}`` (a later format adds the SHA-256)."""


def anything(value: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Field:
    """One key of a JSON object: its check, whether it must be there, and what it means."""

    name: str
    check: Check
    required: bool
    meaning: str


@dataclass(frozen=True)
class FileFormat:
    """One kind of state file: a JSON object whose keys are described by ``fields``."""

    kind: str
    """What the file is, in words (used in messages)."""
    version_key: str | None
    """The key holding the format version (None: the kind has no version field yet)."""
    version: int
    """The newest format this phyper reads (and the one it writes)."""
    version_required: bool
    fields: tuple[Field, ...]

    def validate(self, data: Any, path: str) -> dict[str, Any]:
        """``data`` if it is an object of this format.

        Raises:
            StateFormatError: it declares a newer format version.
            DamagedStateFile: anything else that is wrong (the message says what).
        """
        if not isinstance(data, dict):
            raise DamagedStateFile(path, f"holds a JSON {_json_type(data)}, not a {self.kind} (an object)")
        if self.version_key is not None:
            if self.version_key not in data and self.version_required:
                raise DamagedStateFile(path, f"`{self.version_key}` (the format version) is missing")
            found: Any = data.get(self.version_key, self.version)
            if not _is_int(found):
                raise DamagedStateFile(path, f"`{self.version_key}` is {_shown(found)}, not a format version")
            if found > self.version:
                raise newer_format_error(self, path, found, data.get("phyper_version"))
            if found < 1:
                raise DamagedStateFile(path, f"`{self.version_key}` is {found}, not a format version")
        for field in self.fields:
            if field.name not in data:
                if field.required:
                    raise DamagedStateFile(path, f"`{field.name}` is missing")
                continue
            problem = field.check(data[field.name])
            if problem is not None:
                raise DamagedStateFile(path, f"`{field.name}` is {problem}")
        return data


def phyper_version() -> str:
    """This phyper's version (written into records, so that a later phyper can name it)."""
    return __version__


def newer_format_error(kind: FileFormat, path: str, found: int, written_by: Any) -> StateFormatError:
    """The named error for a file of ``kind`` in format ``found``, newer than this phyper reads."""
    by = f"phyper {written_by}" if isinstance(written_by, str) else "a newer phyper"
    return StateFormatError(
        f"{path} is a {kind.kind} in format {found}, written by {by}; this phyper ({phyper_version()}) "
        f"reads format {kind.version} at most. Upgrade phyper (pip install -U phyper-core) to use this "
        "project; nothing was run or deleted"
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}.get(type(value), "value")


def _shown(value: Any) -> str:
    shown = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else _json_type(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


# -- the formats ------------------------------------------------------------------------

_RUN_FIELDS = (
    Field("started", timestamp, False, "when the step started (seconds since the epoch)"),
    Field("finished", timestamp, False, "when it finished"),
    Field("duration_s", number, False, "finished - started"),
    Field("engine", text_or_null, False, "the engine that ran it (`snakemake`, `doit`, null by hand)"),
    Field("host", text, False, "the machine"),
    Field("pid", integer, False, "the process"),
    Field("phyper_version", text, False, "the phyper that wrote the file"),
)

RECORD = FileFormat(
    "completion record",
    "phyper_record",
    RECORD_FORMAT_VERSION,
    True,
    (
        Field("step", text, True, "the step's name"),
        Field("key", text, True, "the job's hash (`all` for an aggregate)"),
        Field("outputs", output_files, True, "each output: [size, mtime_ns, sha256]"),
        Field("inputs", input_files, True, "each input: [size, mtime_ns] (or [size, mtime_ns, sha256])"),
        *_RUN_FIELDS,
        Field("scheduler_job_id", text_or_null, False, "the cluster's job id (SLURM_JOB_ID)"),
        Field("non_keys", mapping, False, "the non-key values the job ran with (provenance only)"),
        Field("members", list_of_text, False, "a batch record: its members' keys"),
        Field("ran", list_of_text, False, "a batch record: the members that ran this time"),
        Field("migrated_from", text, False, "the hash the job had before `phyper migrate`"),
        Field("code", anything, False, "the fingerprint of the step's code (a later field)"),
        Field(
            "continued_from", mapping, False,
            "the lower rung the job continued from: its `record`, `key`, `continues` (the key) and `budget`",
        ),
    ),
)
"""A completion record: written last, atomically, by the runner once every output is written."""

BATCH_RECORD = FileFormat(
    "batch record",
    RECORD.version_key,
    RECORD.version,
    True,
    tuple(Field(f.name, f.check, True, f.meaning) if f.name == "members" else f for f in RECORD.fields),
)
"""The record of a batch job (``batch-<i>-of-<n>``): a completion record with ``members``."""

JOB_LOG_LINE = FileFormat(
    "job-log line",
    "phyper_log",
    JOB_LOG_FORMAT_VERSION,
    False,
    (
        Field("step", text, True, "the step's name"),
        Field("key", text, True, "the job's key"),
        Field("status", text, True, "`done`, `failed` or `skipped`"),
        Field("error", text, False, "a failed job: `ExceptionType: message`"),
        Field("time", timestamp, False, "a skipped job: when"),
        *_RUN_FIELDS,
        Field("scheduler_job_id", text_or_null, False, "the cluster's job id"),
        Field("label", text, False, "the job as people read it"),
        Field("non_keys", mapping, False, "the non-key values"),
        Field("devices", list_of_text, False, "the GPUs phyper gave the job (its CUDA_VISIBLE_DEVICES)"),
        Field("device_wait_s", number, False, "how long the job waited for them"),
    ),
)
"""One line of ``jobs.jsonl``: one outcome of one job, appended by the runner."""

LOCK = FileFormat(
    "lock file",
    None,
    LOCK_FORMAT_VERSION,
    False,
    (
        Field("pid", integer, True, "the process holding the lock"),
        Field("host", text, True, "its machine"),
        Field("since", timestamp, True, "when it took it"),
    ),
)
"""The content of a lock file: only for the message of a job that waits."""

MANIFEST = FileFormat(
    "manifest",
    "phyper_manifest",
    MANIFEST_FORMAT_VERSION,
    False,
    (
        Field("hash_format_version", integer, True, "the hash format (see HASHING.md)"),
        Field("resource", text, True, "`all` or the resource's name"),
        Field("hash", text, True, "the folder's hash"),
        Field("key_values", mapping, True, "the key values hashed (floats tagged {\"float\": ...})"),
    ),
)
"""A hashed folder's ``phyper-manifest.json`` (the hash of the key values is checked by the reader)."""

TRIAL_RECORD = FileFormat(
    "trial record",
    "format",
    TRIAL_RECORD_FORMAT_VERSION,
    True,
    (
        Field("hash", text, True, "the point's hash (the `group_by` resource's, or the full hash): the file's name"),
        Field("params", mapping, True, "the point's key values, as the sampler proposed them (normalised)"),
        Field("budget", anything, False,
              "format 3, a search with a fidelity: the highest rung a trial of the point has started, written "
              "before that rung's jobs run; the point's instances at every rung up to it are the pipeline's"),
        Field("phyper_version", text, False, "the phyper that wrote the file"),
        Field("trials", anything, False, "format 1 only: each Optuna trial's state (the study owns it now; ignored)"),
    ),
)
"""A search's ``trials/<hash>.json``: one point of the space, written before any of its jobs runs.

Which instances the engines must see (with a fidelity: the point at every rung up to
``budget``, so a rung's engine and `phyper.continued_from` see the lower rungs); the Optuna study owns trial numbers, states and
values (see ``docs/state-files.md``)."""


def _digests(value: Any) -> str | None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return f"{_shown(value)}, not an object of names and digests"
    return None


CODE_MANIFEST = FileFormat(
    "code manifest",
    None,
    1,
    False,
    (
        Field("digest", text, True, "the step's code digest (the file's name)"),
        Field("functions", _digests, True, "each function, method, class and value reached -> its digest"),
        Field("warnings", list_of_text, False, "what could not be followed"),
    ),
)
"""``code/steps/<digest>.json``: what a step's code reached, written once per distinct code."""


# -- reading -----------------------------------------------------------------------------


def _open_regular(path: str) -> tuple[int, int]:
    """``(descriptor, size)`` of a state file opened for reading, once it is known to be a regular file."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise DamagedStateFile(path, f"cannot be read ({error.strerror or error})") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise DamagedStateFile(
                path, "is a folder, not a file" if stat.S_ISDIR(info.st_mode) else "is not a regular file"
            )
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor, info.st_size


def open_state_file(path: str) -> BinaryIO:
    """A state file opened for reading in binary, once it is known to be a regular file.

    Raises:
        FileNotFoundError: there is no such file.
        DamagedStateFile: it is something else than a regular file (a folder, a FIFO:
            opened without blocking, never waited on) or cannot be opened.
    """
    descriptor, _ = _open_regular(path)
    try:
        return open(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_state_bytes(path: str) -> bytes:
    """The bytes of a state file (see `open_state_file` for what it raises).

    Read with plain system calls: a report reads a hundred thousand records.
    """
    descriptor, size = _open_regular(path)
    try:
        chunks: list[bytes] = []
        while True:
            wanted = max(size + 1, 65536)
            chunk = os.read(descriptor, wanted)
            chunks.append(chunk)
            if len(chunk) < wanted:  # a regular file reads short only at its end: no second call
                return b"".join(chunks)
    except OSError as error:
        raise DamagedStateFile(path, f"cannot be read ({error.strerror or error})") from None
    finally:
        os.close(descriptor)


def parse_json(raw: bytes, path: str) -> Any:
    """The JSON value of ``raw`` (UTF-8), or `DamagedStateFile` saying why not."""
    if not raw.strip():
        raise DamagedStateFile(path, "is empty" if not raw else "holds only white space")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise DamagedStateFile(path, "is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise DamagedStateFile(path, f"is not valid JSON ({error.msg} at byte {error.pos})") from None
    except (ValueError, RecursionError) as error:
        raise DamagedStateFile(path, f"is not valid JSON ({error})") from None


def read_json_file(path: str, kind: FileFormat) -> dict[str, Any]:
    """The content of the JSON state file ``path``, validated as ``kind``.

    Raises:
        FileNotFoundError: there is no such file.
        DamagedStateFile: it cannot be read or has the wrong shape.
        StateFormatError: it is in a newer format.
    """
    return kind.validate(parse_json(read_state_bytes(path), path), path)


Fingerprint = tuple[int, int, str]
"""An output as a record lists it: ``(size, mtime_ns, sha256)``."""
InputFingerprint = tuple[int, int] | tuple[int, int, str]
"""An input as a record lists it: ``(size, mtime_ns)`` (an older record) or ``(size, mtime_ns, sha256)``."""


@dataclass(frozen=True)
class RecordCode:
    """A record's ``code`` field: the fingerprint of the code that made it (an object; anything else is ignored)."""

    digest: str | None
    """The step's code digest (None: not a string, taken as today's code)."""
    packages: dict[str, Any] | None
    """Distribution -> version the job ran with (None: absent or not an object)."""
    field: dict[str, Any]
    """The field as written."""


@dataclass(frozen=True)
class CompletionRecord:
    """A completion (or batch) record as read from disk, made by `CompletionRecord.of` once it is validated.

    The on-disk form is ``RECORD``'s (``docs/state-files.md``); `to_json` gives it back,
    unknown keys included.
    """

    step: str
    key: str
    outputs: dict[str, Fingerprint]
    inputs: dict[str, InputFingerprint]
    started: float | None = None
    finished: float | None = None
    duration_s: float | None = None
    engine: str | None = None
    host: str | None = None
    pid: int | None = None
    phyper_version: str | None = None
    scheduler_job_id: str | None = None
    non_keys: dict[str, Any] | None = None
    members: tuple[str, ...] | None = None
    """A batch record: its members' keys (None: not a batch record)."""
    ran: tuple[str, ...] | None = None
    migrated_from: str | None = None
    code: RecordCode | None = None
    """The code field (None: absent or not an object, as in a record of an older phyper)."""
    continued_from: dict[str, Any] | None = None
    """The lower rung the job continued from (``record``, ``key``, ``continues``, ``budget``); None: from scratch."""
    data: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)
    """The JSON object as read (unknown keys included)."""

    @classmethod
    def of(cls, data: dict[str, Any]) -> CompletionRecord:
        """The record of ``data``, a JSON object that `RECORD` (or `BATCH_RECORD`) validated."""
        code = data.get("code")
        members, ran = data.get("members"), data.get("ran")
        return cls(
            step=data["step"],
            key=data["key"],
            outputs={path: (entry[0], entry[1], entry[2]) for path, entry in data["outputs"].items()},
            inputs={path: tuple(entry) for path, entry in data["inputs"].items()},
            started=data.get("started"),
            finished=data.get("finished"),
            duration_s=data.get("duration_s"),
            engine=data.get("engine"),
            host=data.get("host"),
            pid=data.get("pid"),
            phyper_version=data.get("phyper_version"),
            scheduler_job_id=data.get("scheduler_job_id"),
            non_keys=data.get("non_keys"),
            members=tuple(members) if members is not None else None,
            ran=tuple(ran) if ran is not None else None,
            migrated_from=data.get("migrated_from"),
            continued_from=data.get("continued_from"),
            code=(
                RecordCode(
                    code["digest"] if isinstance(code.get("digest"), str) else None,
                    code["packages"] if type(code.get("packages")) is dict else None,
                    code,
                )
                if type(code) is dict else None
            ),
            data=data,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this record (a copy of the one read: the on-disk format)."""
        return dict(self.data)


def read_record_file(path: str, *, batch: bool = False) -> CompletionRecord | None:
    """The completion (or batch) record at ``path``; None if there is none.

    Raises:
        DamagedStateFile: the file cannot be read or has the wrong shape.
        StateFormatError: it is in a newer format.
    """
    try:
        return CompletionRecord.of(read_json_file(path, BATCH_RECORD if batch else RECORD))
    except FileNotFoundError:
        return None


@dataclass
class JobLogLines:
    """How many lines of a job log were usable, and how many were not."""

    entries: int = 0
    damaged: int = 0
    """Lines cut short, not JSON or not a job-log object: skipped."""
    newer: int = 0
    """Lines in a newer job-log format: skipped."""

    def warning(self, path: str) -> str | None:
        """The one-line warning about the skipped lines, or None if none was skipped."""
        if not (self.damaged or self.newer):
            return None
        parts = []
        if self.damaged:
            parts.append(f"{self.damaged} damaged line(s) (cut short, not JSON or not a job entry)")
        if self.newer:
            parts.append(f"{self.newer} line(s) in a newer format (upgrade phyper to read them)")
        return f"phyper: warning: the job log {path} has {' and '.join(parts)}; skipped them"


def parse_job_log(
    lines: Iterable[bytes | str], path: str, counts: JobLogLines, parse: Callable[[bytes | str], bool] | None = None
) -> Iterator[dict[str, Any]]:
    """Every valid entry of a job log's ``lines``, oldest first; ``counts`` counts the others.

    Empty lines are not counted. With ``parse``, a line it rejects is not parsed (it cannot
    matter to the caller) but still counted if it is plainly not a whole object.
    """
    for line in lines:
        if not line.strip():
            continue
        if parse is not None and not parse(line):
            whole = line.rstrip()
            if not (whole[:1] in (b"{", "{") and whole[-1:] in (b"}", "}")):
                counts.damaged += 1
            continue
        try:
            entry = JOB_LOG_LINE.validate(json.loads(line), path)
            if entry["status"] == "failed" and not isinstance(entry.get("error"), str):
                raise DamagedStateFile(path, "a failed job's line without its error")
        except StateFormatError:
            counts.newer += 1
        except (ValueError, RecursionError):
            # a line cut by a full disk, or edited: the rest of the log still counts
            counts.damaged += 1
        else:
            counts.entries += 1
            yield entry


PLAN_CACHE_FORMAT_VERSION = 3
"""The plan-cache entries' format (1: a marshalled ``(fingerprint, plan data)``, no check sum; 2: record
prefixes in the data)."""
_PLAN_CACHE_MAGIC = b"phyper-plan-cache"


def plan_cache_entry(fingerprint: str, payload: bytes) -> bytes:
    """A plan-cache entry: one header line (format, fingerprint, CRC-32 of the payload), then the payload."""
    header = b"%s %d %s %08x\n" % (_PLAN_CACHE_MAGIC, PLAN_CACHE_FORMAT_VERSION, fingerprint.encode(), zlib.crc32(payload))
    return header + payload


def plan_cache_payload(raw: bytes, path: str, fingerprint: str) -> memoryview:
    """The payload (a marshalled plan) of the entry ``raw`` stored for ``fingerprint``.

    The CRC-32 catches a file cut short or with flipped bytes: such a plan could
    otherwise name other files than the pipeline's.

    Raises:
        DamagedStateFile: not an entry of this format, of another fingerprint, or damaged
            (the rule for plan-cache entries: build the plan again).
    """
    end = raw.find(b"\n", 0, 200)
    parts = raw[:end].split(b" ") if end > 0 else []
    if len(parts) != 4 or parts[0] != _PLAN_CACHE_MAGIC:
        raise DamagedStateFile(path, "is not a plan-cache entry")
    if parts[1] != b"%d" % PLAN_CACHE_FORMAT_VERSION:
        raise DamagedStateFile(path, f"is a plan-cache entry of format {parts[1]!r}")
    if parts[2] != fingerprint.encode():
        raise DamagedStateFile(path, "is the plan of another pipeline state")
    payload = memoryview(raw)[end + 1 :]
    if parts[3] != b"%08x" % zlib.crc32(payload):
        raise DamagedStateFile(path, "is damaged (its check sum does not match)")
    return payload


def remove_record(path: str) -> None:
    """Remove the record at ``path`` before its job runs again, whatever is in its place.

    A damaged file is simply replaced; so is an empty folder (nothing is lost). A folder
    holding files is not phyper's to delete.

    Raises:
        JobFailedError: a folder holding files is where the record goes.
    """
    try:
        os.remove(path)
    except FileNotFoundError:
        return
    except IsADirectoryError:
        try:
            os.rmdir(path)
        except OSError as error:
            raise JobFailedError(
                f"{path} is a folder ({error.strerror}) where the job's completion record goes; "
                "move it out of the state folder, then run the job again"
            ) from None
