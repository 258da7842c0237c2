"""doit's reporter for phyper's tasks: a run as a person reads it.

[`DOIT_CONFIG`][phyper_doit.DOIT_CONFIG] names it (``"reporter": PhyperReporter``). Each
job doit starts is announced with its step, key values (or batch and member count) and
why it runs (``new``, ``inputs changed upstream``, ``code changed``, ``forced``...),
instead of doit's ``.  train_model:<32 hex digits>``; jobs that are up to date are
counted, not listed one by one (doit's ``-- <task>`` lines); the run ends with phyper's
closing line (jobs ran, already done, failed, and ``phyper status`` to see why). What a
step prints itself is shown as doit shows it (``verbosity`` 2). Tasks that are not
phyper's are reported as doit's console reporter does.
"""

from __future__ import annotations

from typing import Any

from doit.exceptions import UnmetDependency  # type: ignore[import-untyped]
from doit.reporter import ConsoleReporter  # type: ignore[import-untyped]

import phyper
from phyper_doit._verdicts import VERDICTS

__all__ = ["PhyperReporter"]


class PhyperReporter(ConsoleReporter):  # type: ignore[misc]
    """doit's console reporter, speaking of phyper's jobs in a person's words."""

    desc = "phyper: each job with its step, key values and why it runs; a closing line"

    def __init__(self, outstream: Any, options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        self.ran = 0
        self.already_done = 0
        self.failed = 0
        self.not_started = 0

    @staticmethod
    def _announcement(task: Any) -> str | None:
        verdicts = VERDICTS.get(task.name)
        return None if verdicts is None else verdicts.announcement(task.name)

    @staticmethod
    def _is_job(task: Any) -> bool:
        verdicts = VERDICTS.get(task.name)
        return verdicts is not None and task.name in verdicts.engine_jobs

    def execute_task(self, task: Any) -> None:
        announcement = self._announcement(task) if task.actions else None
        if announcement is None:
            super().execute_task(task)
        else:
            self.write(f"{announcement}\n")

    def add_success(self, task: Any) -> None:
        if self._is_job(task):
            self.ran += 1
        super().add_success(task)

    def add_failure(self, task: Any, fail: Any) -> None:
        if self._is_job(task):
            if isinstance(fail, UnmetDependency):
                self.not_started += 1
            else:
                self.failed += 1
                self.write(f"FAILED: {self._announcement(task)}\n")
        super().add_failure(task, fail)

    def skip_uptodate(self, task: Any) -> None:
        if self._is_job(task):
            self.already_done += 1
        elif not _is_phyper_group(task):
            super().skip_uptodate(task)

    def complete_run(self) -> None:
        super().complete_run()
        if self.ran or self.already_done or self.failed or self.not_started:
            self.write(phyper.closing_line(self.ran, self.already_done, self.failed, self.not_started) + "\n")


def _is_phyper_group(task: Any) -> bool:
    return not task.actions and task.name in VERDICTS
