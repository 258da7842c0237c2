"""Reading the job log (``<state folder>/jobs.jsonl``), whatever a full disk or an editor left in it.

The runner appends one JSON object per line (see `phyper._formats.JOB_LOG_LINE`).
A line cut short, not JSON, or not a job entry is skipped, and so is a line in a newer
format; the skipped lines are counted in one warning line on stderr, once per log and
per command (`forget_warnings` starts a new command). A log that cannot be read at
all (a folder in its place) reads as empty, with the same kind of warning.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

from phyper._formats import DamagedStateFile, JobLogLines, open_state_file, parse_job_log
from phyper._keys import job_log_path

__all__ = ["forget_warnings", "iter_job_log", "read_job_log_entries"]

_warned: set[str] = set()
"""The logs already warned about in this command."""


def forget_warnings() -> None:
    """Warn again about logs already warned about (a new command starts)."""
    _warned.clear()


def _warn(path: str, message: str) -> None:
    if path not in _warned:
        _warned.add(path)
        print(message, file=sys.stderr, flush=True)


def iter_job_log(state_folder: str, parse: Callable[[bytes | str], bool] | None = None) -> Iterator[dict[str, Any]]:
    """Every valid entry of the job log of ``state_folder``, oldest first (see the module docstring).

    ``parse``: a cheap test of a line (bytes) before it is parsed; lines it rejects cannot
    matter to the caller and are only checked for being whole. The warning is printed once
    the log has been read to its end.
    """
    path = job_log_path(state_folder)
    try:
        handle = open_state_file(path)
    except FileNotFoundError:
        return
    except DamagedStateFile as error:
        _warn(path, f"phyper: warning: the job log {error.path} {error.what}; read as empty")
        return
    counts = JobLogLines()
    with handle:
        try:
            yield from parse_job_log(handle, path, counts, parse)
        except OSError as error:
            _warn(path, f"phyper: warning: the job log {path} cannot be read ({error.strerror}); read as empty")
            return
    warning = counts.warning(path)
    if warning is not None:
        _warn(path, warning)


def read_job_log_entries(state_folder: str) -> list[dict[str, Any]]:
    """Every valid entry of the job log of ``state_folder``, oldest first."""
    return list(iter_job_log(state_folder))
