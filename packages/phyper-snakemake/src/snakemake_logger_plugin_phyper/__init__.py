"""Snakemake logger plugin ``phyper``: a run of a phyper pipeline as a person reads it.

Turn it on with ``snakemake --logger phyper`` or, once for a project, in its workflow
profile (``profiles/default/config.yaml``):

```yaml
logger: phyper
```

Snakemake then prints each job as one line, the rule's ``message:`` that
[`phyper_snakemake`][phyper_snakemake] gives every job: its step, key values (or batch
and member count) and why it runs (``new``, ``inputs changed upstream``,
``code changed``, ``forced``, ...), with no completion-record path: Snakemake's own
``Reason:`` line, the file lists of a job and the input list of ``rule all`` (records
all) are left out, and so are the block of run metadata Snakemake starts with and
Snakemake's messages about a record (``Restored previous version of <record>``, when
a job that had a record fails: ``phyper status`` says what is to run). A failed job is
one line too. The run ends with phyper's closing
line (jobs ran, already done, failed, and ``phyper status`` to see why).

What a step prints itself goes straight to the terminal, as without the plugin.
Snakemake's other messages (the job table, progress, errors of the workflow) are
printed as Snakemake formats them. ``snakemake --verbose`` shows everything as
Snakemake prints it, record paths included (``phyper status -v`` gives every job to
run and why).

The plugin is a Snakemake logger plugin (``snakemake-interface-logger-plugins``):
Snakemake finds it by its module name, ``snakemake_logger_plugin_phyper``, shipped with
the phyper-snakemake package.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

__all__ = ["LogHandler"]

_SHORTENED = (LogEvent.JOB_INFO, LogEvent.JOB_FINISHED, LogEvent.JOB_ERROR, LogEvent.WORKFLOW_STARTED)
"""What the plugin writes its own way unless ``--verbose``; the rest as Snakemake does."""

_RECORDS = os.path.join(".phyper", "done", "")
"""What every completion record's path holds (``derived_data/.phyper/done/<step>/<key>.json``)."""

_DEFAULT_TARGET = "all"
"""The default target rule of a phyper Snakefile: it runs nothing, its input is records."""


class LogHandler(LogHandlerBase):
    """Writes Snakemake's log to stderr (``--stdout``: stdout), phyper's jobs one line each."""

    def __post_init__(self) -> None:
        self._stream = sys.stdout if getattr(self.common_settings, "stdout", False) else sys.stderr
        self._verbose = bool(getattr(self.common_settings, "verbose", False))
        self._dry_run = bool(getattr(self.common_settings, "dryrun", False))
        self._snakemake: logging.Formatter | None = None
        self._jobs: dict[Any, str] = {}
        """Snakemake job id -> rule name, for the jobs announced."""
        self._announced: dict[Any, str] = {}
        """Snakemake job id -> its announcement (the rule's message)."""
        self._ran: set[Any] = set()
        self._failed: set[Any] = set()
        self._closed = False
        self.setFormatter(_Formatter(self))

    # -- what LogHandlerBase asks ----------------------------------------------------

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return False  # Snakemake's own filter (--quiet, --printshellcmds, ...) applies

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False

    # -- writing ---------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        self._count(record)
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        if text:
            self._stream.write(text + "\n")
            self._stream.flush()

    def _count(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if event == LogEvent.JOB_INFO:
            self._jobs[getattr(record, "jobid", None)] = str(getattr(record, "rule_name", ""))
            message = getattr(record, "rule_msg", None)
            if message:
                self._announced[getattr(record, "jobid", None)] = str(message)
        elif event == LogEvent.JOB_FINISHED:
            self._ran.add(getattr(record, "job_id", None))
        elif event == LogEvent.JOB_ERROR:
            self._failed.add(getattr(record, "jobid", None))

    def snakemake_text(self, record: logging.LogRecord) -> str:
        """The record as Snakemake's own formatter writes it."""
        if self._snakemake is None:
            from snakemake.logging import DefaultFormatter  # type: ignore[import-untyped]

            self._snakemake = DefaultFormatter(
                getattr(self.common_settings, "quiet", None), getattr(self.common_settings, "show_failed_logs", False)
            )
        return str(self._snakemake.format(record))

    def close(self) -> None:
        """Snakemake is done: phyper's closing line, once."""
        if not self._closed:
            self._closed = True
            quiet = {getattr(item, "name", str(item)).lower() for item in getattr(self.common_settings, "quiet", None) or ()}
            line = None if "all" in quiet else self.closing_line()
            if line:
                self._stream.write(line + "\n")
                self._stream.flush()
        super().close()

    def closing_line(self) -> str | None:
        """phyper's closing line for the workflow this process loaded (None: no phyper run here)."""
        from phyper_snakemake._workflow import loaded_workflows

        workflows = [workflow for workflow in loaded_workflows() if workflow.counts() is not None]
        if not workflows:
            return None
        workflow = workflows[-1]
        counts = workflow.counts()
        assert counts is not None
        to_run, already_done = counts
        steps = workflow.step_names
        ran = sum(1 for job in self._ran if self._jobs.get(job) in steps)
        failed = sum(1 for job in self._failed if self._jobs.get(job) in steps)
        import phyper

        if self._dry_run:
            return phyper.closing_line(to_run, already_done, 0, dry_run=True)
        return phyper.closing_line(ran, already_done, failed, max(0, to_run - ran - failed))


class _Formatter(logging.Formatter):
    def __init__(self, handler: LogHandler) -> None:
        super().__init__()
        self.handler = handler

    def format(self, record: logging.LogRecord) -> str:
        handler = self.handler
        event = getattr(record, "event", None)
        if handler._verbose:
            return handler.snakemake_text(record)
        if event not in _SHORTENED:
            text = handler.snakemake_text(record)
            # a message of Snakemake's about a completion record (e.g. "Restored previous version
            # of <record> (updating job failed)"): phyper's bookkeeping; `phyper status` tells
            return "" if event is None and _RECORDS in text else text
        if event == LogEvent.WORKFLOW_STARTED:
            return ""  # the run's metadata block (host, versions, folders): `--verbose` shows it
        if event == LogEvent.JOB_FINISHED:
            return ""  # the progress line that follows says it
        if event == LogEvent.JOB_ERROR:
            job = getattr(record, "jobid", None)
            what = handler._announced.get(job) or f"rule {getattr(record, 'rule_name', '')}"
            return f"{_now()} FAILED: {what}"
        message = getattr(record, "rule_msg", None)
        if message:
            return f"{_now()} {message}"
        rule = str(getattr(record, "rule_name", ""))
        if rule == _DEFAULT_TARGET:
            return ""  # the target of the run: it runs nothing, its input is completion records
        wildcards = getattr(record, "wildcards", None) or {}
        shown = " ".join(f"{name}={value}" for name, value in dict(wildcards).items())
        return f"{_now()} rule {rule}" + (f" ({shown})" if shown else "")


def _now() -> str:
    return time.strftime("[%H:%M:%S]")
