"""Reading the job log (``<state folder>/jobs.jsonl``), whatever a full disk or an editor left in it.

The runner appends one JSON object per line (see :data:`phyper._formats.JOB_LOG_LINE`).
A line cut short, not JSON, or not a job entry is skipped, and so is a line in a newer
format; the skipped lines are counted in one warning line on stderr, once per log and
per command (:func:`forget_warnings` starts a new command). A log that cannot be read at
all (a folder in its place) reads as empty, with the same kind of warning.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from phyper._formats import DamagedStateFile, open_state_file, parse_job_log

__all__ = ["JOB_LOG_NAME", "forget_warnings", "job_log_path", "read_job_log_entries"]

JOB_LOG_NAME = "jobs.jsonl"

_warned: set[str] = set()
"""The logs already warned about in this command."""


def job_log_path(state_folder: str) -> str:
    """Where the job log of ``state_folder`` is."""
    return os.path.join(state_folder, JOB_LOG_NAME)


def forget_warnings() -> None:
    """Warn again about logs already warned about (a new command starts)."""
    _warned.clear()


def _warn(path: str, message: str) -> None:
    if path not in _warned:
        _warned.add(path)
        print(message, file=sys.stderr, flush=True)


def read_job_log_entries(state_folder: str) -> list[dict[str, Any]]:
    """Every valid entry of the job log of ``state_folder``, oldest first (see the module docstring)."""
    path = job_log_path(state_folder)
    try:
        handle = open_state_file(path)
    except FileNotFoundError:
        return []
    except DamagedStateFile as error:
        _warn(path, f"phyper: warning: the job log {error.path} {error.what}; read as empty")
        return []
    with handle:
        try:
            lines = parse_job_log(handle, path)
        except OSError as error:
            _warn(path, f"phyper: warning: the job log {path} cannot be read ({error.strerror}); read as empty")
            return []
    warning = lines.warning(path)
    if warning is not None:
        _warn(path, warning)
    return lines.entries
