"""The state folder: the one owner of every path under it, and of reading and writing its files.

A pipeline's state folder (``<hashed_resources_folder>/.phyper`` unless given) holds:

```text
    done/<step>/<key>.json        completion records (a batch job's record too)
    jobs.jsonl                    the job log: one JSON line per attempt
    locks/<step>/<key>.lock       per-job locks (see phyper._state.locks)
    code/steps/<digest>.json      the code that made results (see phyper._planning.code_store)
    code/sources/<digest>.py
    plan-cache/<fingerprint>.marshal
    search/<name>/journal.log     an adaptive search's Optuna study (see phyper._search.driver)
    search/<name>/trials/<hash>.json   the points it recorded, with their locks
    search/<name>/owners/<n>.lock the drivers' hold on the trials they asked
    search/<name>/logs/trial-<n>.log   each trial's engine output
```

Every module reaches these through a `StateStore`; `LocalStateFolder` is
the one on a local (or shared) filesystem. Another storage (an object store, say) would
stand behind the same interface: the other modules never join a state path themselves.
What a file may hold is `phyper._state.formats`' business.
"""

from __future__ import annotations

import enum
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from phyper._state.formats import DamagedStateFile, JobLogLines, open_state_file, parse_job_log
from phyper._state.locks import JobLock, hold_lock

__all__ = [
    "DEFAULT_STATE_FOLDER",
    "LocalStateFolder",
    "LogEntry",
    "Outcome",
    "SearchStore",
    "StateStore",
    "default_state_folder",
    "log_line",
    "read_job_log",
]

DEFAULT_STATE_FOLDER = ".phyper"
"""The state folder's name under the hashed resources folder, when none is given."""

_RECORDS = "done"
_RECORD_SUFFIX = ".json"
_JOB_LOG = "jobs.jsonl"
_LOCKS = "locks"
_LOCK_SUFFIX = ".lock"
_CODE = "code"
_PLAN_CACHE = "plan-cache"
_SEARCH = "search"
_JOURNAL = "journal.log"
_TRIALS = "trials"
_OWNERS = "owners"
_LOGS = "logs"


class Outcome(enum.Enum):
    """What one attempt of a job came to (a job-log line's ``status``)."""

    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class LogEntry:
    """One valid line of the job log (see `phyper._state.formats.JOB_LOG_LINE`), typed."""

    step: str
    key: str
    status: str
    """``done``, ``failed`` or ``skipped`` (`outcome`); another word is kept as written."""
    error: str | None
    started: float | None
    finished: float | None
    duration_s: float | None
    fields: Mapping[str, Any]
    """The whole line as written (what `read_job_log` hands out)."""

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> LogEntry:
        """The entry of a validated line (see `phyper._state.formats.parse_job_log`)."""
        return cls(
            str(fields["step"]), str(fields["key"]), str(fields["status"]), _text(fields.get("error")),
            _number(fields.get("started")), _number(fields.get("finished")), _number(fields.get("duration_s")),
            fields,
        )

    @property
    def id(self) -> str:
        """``<step>:<key>``."""
        return f"{self.step}:{self.key}"

    @property
    def outcome(self) -> Outcome | None:
        """The outcome, or None for a status this phyper does not know."""
        try:
            return Outcome(self.status)
        except ValueError:
            return None

    @property
    def attempted(self) -> bool:
        """Whether the job's step ran (done or failed), rather than being skipped."""
        return self.outcome in (Outcome.DONE, Outcome.FAILED)

    @property
    def duration(self) -> float | None:
        """``duration_s``, or ``finished - started`` where only those are known."""
        if self.duration_s is not None:
            return self.duration_s
        if self.started is not None and self.finished is not None:
            return self.finished - self.started
        return None

    def text(self, name: str) -> str | None:
        """A further field that holds text (``engine``, ``host``, ``scheduler_job_id`` ...), else None."""
        return _text(self.fields.get(name))


def log_line(step: str, key: str, outcome: Outcome, **fields: Any) -> dict[str, Any]:
    """A job-log line to append (see `LocalStateFolder.append_log`)."""
    return {"step": step, "key": key, "status": outcome.value, **fields}


def default_state_folder(hashed_resources_folder: str) -> str:
    """The state folder of a project whose hashed resources live in ``hashed_resources_folder``."""
    return os.path.join(hashed_resources_folder, DEFAULT_STATE_FOLDER)


class StateStore(Protocol):
    """What phyper asks of a state folder (see the module docstring for what it holds).

    Every module reaches the state through this interface; `LocalStateFolder` is
    the one on a filesystem. Paths it hands out are what records and engines name.
    """

    @property
    def root(self) -> str:
        """Where the state lives (a folder, or an address for another storage)."""
        ...

    def exists(self) -> bool:
        """Whether anything was ever written there."""
        ...

    # -- completion records -------------------------------------------------------------

    def record_path(self, step: str, key: str) -> str:
        """Where the completion record of job (``step``, ``key``) lives."""
        ...

    def record_template(self, step: str, placeholder: str) -> str:
        """A record path of ``step`` with ``placeholder`` standing for the key."""
        ...

    def record_names(self, step: str) -> frozenset[str]:
        """The keys that have a record file of ``step`` now (one listing)."""
        ...

    def record_steps(self) -> list[str]:
        """The steps that have a record folder, sorted."""
        ...

    def iter_records(self, step: str) -> Iterator[tuple[str, str]]:
        """``(key, path)`` of every file of ``step``'s record folder but hidden temporaries, sorted."""
        ...

    def is_record_file(self, path: str) -> bool:
        """Whether ``path`` is named like a completion record."""
        ...

    # -- the job log ---------------------------------------------------------------------

    def append_log(self, entry: dict[str, Any]) -> None:
        """Append one entry to the job log (one write: concurrent jobs never interleave)."""
        ...

    def iter_log(self, worth_parsing: Callable[[bytes | str], bool] | None = None) -> Iterator[LogEntry]:
        """Every valid entry of the job log, oldest first."""
        ...

    def forget_warnings(self) -> None:
        """Warn again about a damaged log already warned about (a new command starts)."""
        ...

    # -- locks, code, caches ---------------------------------------------------------------

    def lock(self, step: str, key: str, *, label: str | None = None) -> AbstractContextManager[JobLock]:
        """Hold the lock of job (``step``, ``key``) for a ``with`` block."""
        ...

    def code_manifest_path(self, digest: str) -> str:
        """Where the manifest of the code ``digest`` is stored."""
        ...

    def code_source_path(self, digest: str) -> str:
        """Where the normalised source ``digest`` is stored."""
        ...

    def plan_cache_folder(self) -> str:
        """Where cached plans are kept."""
        ...

    def search(self, name: str) -> SearchStore:
        """The store of the adaptive search ``name`` (its study, trial records, locks, logs)."""
        ...


class LocalStateFolder:
    """A state folder on a filesystem: every path under it is computed here.

    Args:
        root: the state folder.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)
        self._records = os.path.join(self.root, _RECORDS)
        self._prefixes: dict[str, str] = {}
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return f"LocalStateFolder({self.root!r})"

    def exists(self) -> bool:
        """Whether the state folder exists."""
        return os.path.isdir(self.root)

    # -- completion records -------------------------------------------------------------

    def record_folder(self, step: str) -> str:
        """The folder of ``step``'s completion records (with a trailing separator)."""
        return os.path.join(self._records, step, "")

    def record_path(self, step: str, key: str) -> str:
        """Where the completion record of job (``step``, ``key``) lives."""
        # asked once per job of the grid: one dictionary lookup, not a path join
        prefix = self._prefixes.get(step)
        if prefix is None:
            prefix = self._prefixes[step] = self.record_folder(step)
        return prefix + key + _RECORD_SUFFIX

    def record_template(self, step: str, placeholder: str) -> str:
        """A record path of ``step`` with ``placeholder`` (``{hash}``) standing for the key."""
        return os.path.join(self._records, step, placeholder + _RECORD_SUFFIX)

    def record_listing(self, step: str) -> frozenset[str]:
        """The file names in ``step``'s record folder now (none if it does not exist).

        One listing, not a failed open per job (`record_names` gives the keys).
        """
        try:
            return frozenset(os.listdir(os.path.join(self._records, step)))
        except OSError:
            return frozenset()

    def record_names(self, step: str) -> frozenset[str]:
        """The keys that have a record file of ``step`` now."""
        return frozenset(
            name[: -len(_RECORD_SUFFIX)] for name in self.record_listing(step) if name.endswith(_RECORD_SUFFIX)
        )

    def record_steps(self) -> list[str]:
        """The steps that have a record folder, sorted."""
        try:
            names = os.listdir(self._records)
        except OSError:
            return []
        return sorted(name for name in names if os.path.isdir(os.path.join(self._records, name)))

    def iter_records(self, step: str) -> Iterator[tuple[str, str]]:
        """``(key, path)`` of every file of ``step``'s record folder but hidden temporaries, sorted.

        Hidden files are records being written (atomic temporaries): a running job owns
        them, and the runner removes those a killed job left. A file not named
        ``<key>.json`` is listed too, with its whole name as key: a tool lists it as
        unreadable rather than pass over it.
        """
        folder = os.path.join(self._records, step)
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            return
        for entry in entries:
            if entry.startswith("."):
                continue
            key = entry[: -len(_RECORD_SUFFIX)] if entry.endswith(_RECORD_SUFFIX) else entry
            yield key, os.path.join(folder, entry)

    def is_record_file(self, path: str) -> bool:
        """Whether ``path`` is named like a completion record."""
        return path.endswith(_RECORD_SUFFIX)

    # -- the job log ---------------------------------------------------------------------

    @property
    def job_log_path(self) -> str:
        """The job log's path."""
        return os.path.join(self.root, _JOB_LOG)

    def append_log(self, entry: dict[str, Any]) -> None:
        """Append one entry to the job log; a failure is a warning (the log is for people)."""
        line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
        path = self.job_log_path
        try:
            os.makedirs(self.root, exist_ok=True)
            # one write on an O_APPEND descriptor: concurrent jobs never interleave a line
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, line)
            finally:
                os.close(descriptor)
        except OSError as error:
            # a full disk must not hide the job's own outcome
            print(f"phyper: warning: could not append to the job log {path}: {error.strerror}", file=sys.stderr)

    def iter_log(self, worth_parsing: Callable[[bytes | str], bool] | None = None) -> Iterator[LogEntry]:
        """Every valid entry of the job log, oldest first, whatever a full disk or an editor left in it.

        A line cut short, not JSON, not a job entry or in a newer format is skipped; the
        skipped lines are counted in one warning on stderr, once per handle (a command).
        A log that cannot be read at all (a folder in its place) reads as empty, with the
        same kind of warning. ``worth_parsing``: a cheap test of a line before it is
        parsed; lines it rejects are only checked for being whole.
        """
        path = self.job_log_path
        try:
            handle = open_state_file(path)
        except FileNotFoundError:
            return
        except DamagedStateFile as error:
            self._warn(path, f"phyper: warning: the job log {error.path} {error.what}; read as empty")
            return
        counts = JobLogLines()
        with handle:
            try:
                for fields in parse_job_log(handle, path, counts, worth_parsing):
                    yield LogEntry.of(fields)
            except OSError as error:
                self._warn(path, f"phyper: warning: the job log {path} cannot be read ({error.strerror}); read as empty")
                return
        warning = counts.warning(path)
        if warning is not None:
            self._warn(path, warning)

    def forget_warnings(self) -> None:
        """Warn again about a damaged log already warned about (a new command starts)."""
        self._warned.clear()

    def _warn(self, path: str, message: str) -> None:
        if path not in self._warned:
            self._warned.add(path)
            print(message, file=sys.stderr, flush=True)

    # -- locks, code, caches ---------------------------------------------------------------

    def lock_path(self, step: str, key: str) -> str:
        """Where the lock of job (``step``, ``key``) lives."""
        return os.path.join(self.root, _LOCKS, step, key + _LOCK_SUFFIX)

    def lock(self, step: str, key: str, *, label: str | None = None) -> AbstractContextManager[JobLock]:
        """Hold the lock of job (``step``, ``key``) for a ``with`` block (see `phyper._state.locks`)."""
        return hold_lock(self.lock_path(step, key), label or f"{step}:{key}")

    def code_manifest_path(self, digest: str) -> str:
        """Where the manifest of the code ``digest`` is stored."""
        return os.path.join(self.root, _CODE, "steps", os.path.basename(digest) + ".json")

    def code_source_path(self, digest: str) -> str:
        """Where the normalised source ``digest`` is stored."""
        return os.path.join(self.root, _CODE, "sources", os.path.basename(digest) + ".py")

    def plan_cache_folder(self) -> str:
        """Where cached plans are kept."""
        return os.path.join(self.root, _PLAN_CACHE)

    def search(self, name: str) -> SearchStore:
        """The store of the adaptive search ``name``, under ``<state>/search/<name>``."""
        return SearchStore(os.path.join(self.root, _SEARCH, name))


class SearchStore:
    """Every path of one adaptive search's store (``<state>/search/<name>/``).

    Args:
        folder: the search's folder in the state folder.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._trials = os.path.join(folder, _TRIALS)

    def __repr__(self) -> str:
        return f"SearchStore({self.folder!r})"

    def journal_path(self) -> str:
        """The Optuna journal of the study (its parent folder is made)."""
        os.makedirs(self.folder, exist_ok=True)
        return os.path.join(self.folder, _JOURNAL)

    def trial_record_path(self, point_hash: str) -> str:
        """Where the record of the point ``point_hash`` lives."""
        return os.path.join(self._trials, point_hash + _RECORD_SUFFIX)

    def iter_trial_records(self) -> Iterator[tuple[str, str]]:
        """``(point hash, path)`` of every trial record, hidden temporaries left out."""
        try:
            names = os.listdir(self._trials)
        except FileNotFoundError:
            return
        for name in sorted(names):
            # a write killed midway leaves a hidden temporary (.<hash>.phyper-tmp-<tag>.json): not a record
            if not name.startswith(".") and name.endswith(_RECORD_SUFFIX):
                yield name[: -len(_RECORD_SUFFIX)], os.path.join(self._trials, name)

    def record_lock_path(self, point_hash: str) -> str:
        """The lock held while the record of ``point_hash`` is rewritten."""
        return os.path.join(self._trials, point_hash + ".record" + _LOCK_SUFFIX)

    def run_lock_path(self, point_hash: str) -> str:
        """The lock held while the jobs of ``point_hash`` run."""
        return os.path.join(self._trials, point_hash + _LOCK_SUFFIX)

    def owner_lock_path(self, number: int) -> str:
        """The lock a driver holds on trial ``number`` while it lives."""
        return os.path.join(self.folder, _OWNERS, f"{number}{_LOCK_SUFFIX}")

    def trial_log_path(self, number: int) -> str:
        """Where the engine's output for trial ``number`` goes (its folder is made)."""
        path = os.path.join(self.folder, _LOGS, f"trial-{number}.log")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path


class _HasState(Protocol):
    @property
    def state(self) -> StateStore: ...


def read_job_log(pipeline: _HasState) -> list[dict[str, Any]]:
    """Every job outcome logged so far for ``pipeline``, oldest first (damaged lines skipped).

    Each is the line as written (a dict); see `LocalStateFolder.iter_log` for typed entries.
    """
    return [dict(entry.fields) for entry in pipeline.state.iter_log()]
