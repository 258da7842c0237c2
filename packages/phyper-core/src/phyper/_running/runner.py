"""Running one job: the single entry point every backend calls.

``python -m phyper run MODULE:ATTRIBUTE STEP KEY`` (or `run_job`) imports the
user's pipeline, finds the instance by hash through an index, writes the hashed
folder's manifest, runs the step and, only once every output is fully written,
writes the job's completion record and appends a line to the job log. A job killed
or failed at any point leaves no new record: its earlier record (if any) stays, and
counts only while the files are as it lists them, so no engine takes a half-written
result for done.

One job is a straight line, each part a call into the module that owns it: the lock
(`phyper._state.store`), the verdict on its records, begin, the step, finish
(`phyper._state.records`), the log line (`phyper._state.store`). A step that needs
GPUs holds its devices (`phyper._running.job_devices`; the need is the plan's) from begin to finish. A batch job is a
loop over its members through the same line, holding its devices for all of them,
then the batch record. The jobs come from `phyper._planning.plan`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from phyper._errors import JobFailedError, PhyperError, PipelineDefinitionError, describe_os_error
from phyper._planning.pipeline import Pipeline
from phyper._planning.plan import Job, JobToRun, current_non_keys, jobs_to_run
from phyper._running.continuation import RUNNING_JOB_VARIABLE, running_pipeline
from phyper._running.job_devices import Allocation, job_devices
from phyper._state.records import JobRecords, Records, RunInfo, timing
from phyper._state.store import Outcome, StateStore, log_line, read_job_log

__all__ = ["RUNNING_JOB_VARIABLE", "job_command", "load_pipeline", "read_job_log", "run_job"]

"""Set to ``<step>:<key>`` while a step's function runs: the job the process is running
(a report written by a step counts that job as complete, the page being its result)."""


def load_pipeline(spec: str) -> Pipeline:
    """Import ``module:attribute`` (attribute defaults to ``pipeline``) from the working folder."""
    module_name, _, attribute = spec.partition(":")
    module = import_from_working_folder(module_name)
    try:
        pipeline = getattr(module, attribute or "pipeline")
    except AttributeError:
        raise PipelineDefinitionError(
            f"module `{module_name}` has no attribute `{attribute or 'pipeline'}`; the spec is MODULE:ATTRIBUTE"
        ) from None
    if not isinstance(pipeline, Pipeline):
        raise PipelineDefinitionError(f"`{spec}` is a {type(pipeline).__name__}, not a phyper.Pipeline")
    return pipeline


def import_from_working_folder(module_name: str) -> Any:
    """Import ``module_name`` as a project's module: from the working folder, as engines run them."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(module_name)


def job_command(spec: str, step: str, key: str, *, engine: str | None = None) -> list[str]:
    """The command line that runs one job in a fresh process (what backends execute)."""
    command = [sys.executable, "-m", "phyper", "run", spec, step, key]
    return [*command, "--engine", engine] if engine else command


def run_job(
    pipeline: Pipeline, step_name: str, key: str, *, engine: str | None = None, force: bool = False
) -> dict[str, Any] | None:
    """Run job (``step_name``, ``key``) of ``pipeline``; return its new completion record.

    The job runs under its lock (`phyper._state.locks`): if another process is running
    it, this one waits. Then, unless ``force``, a job whose completion record is valid
    does nothing and returns None: another process (or an earlier run whose engine
    died) already did it. Otherwise the step runs, and its new record replaces the
    earlier one (atomically) only once every output is written. The previous outputs
    and record stay in place until then, so a failed run (a full disk, say) loses
    nothing: a forced rerun that fails before touching the outputs leaves the job
    complete (the failure is in the job log, and `phyper status` shows it). Every
    outcome is appended to the job log.

    ``key`` may name a batch (``batch-<i>-of-<n>``): its incomplete members then run one
    after the other in this process, then the batch record is written.

    Raises:
        UnknownStepError, UnknownHashError: no such step or hash in the grid.
        JobFailedError: an input is missing, the step did not write an output, or
            writing failed (the message names the file); the step's own exceptions
            propagate unchanged after being logged.
    """
    batch, jobs = jobs_to_run(pipeline, step_name, key)
    records = Records(pipeline.state, pipeline.codes)
    runner = _Runner(pipeline.state, records, engine, current_non_keys(pipeline), force)
    with running_pipeline(pipeline):  # where phyper.continued_from finds the running step
        return runner.one(jobs[0]) if batch is None else runner.batch(batch, jobs)


class _Runner:
    """Runs jobs of one pipeline in this process: each part a call into the module that owns it."""

    def __init__(
        self,
        state: StateStore,
        records: JobRecords,
        engine: str | None,
        non_keys: dict[str, Any],
        force: bool,
    ) -> None:
        self.state = state
        self.records = records
        self.engine = engine
        self.non_keys = non_keys
        self.force = force

    def one(self, to_run: JobToRun, held: Allocation | None = None) -> dict[str, Any] | None:
        """One job (not a batch) as a line: lock, verdict, devices, begin, the step, finish, log (see `run_job`).

        ``held``: the devices its batch holds for it, if any.
        """
        job, step, run = to_run.job, to_run.step, RunInfo(to_run.label, self.engine, self.non_keys)
        with self.state.lock(job.step, job.key, label=run.label) as lock:
            started = time.time()
            try:
                if step.kind != "aggregate":  # an edited manifest is a hard error, even for a complete job
                    to_run.subject.write_manifest(step.resource_name)
                if not self.force and self.records.check(job)[0].complete:
                    self._skipped(job, run, started, lock.waited)
                    return None
                with self._devices(job, to_run.gpus, run.label, held) as devices:
                    run = run.on_devices(devices.devices, devices.waited_s) if devices else run
                    print(f"phyper: {run.label}: running" + _on(run.devices), flush=True)
                    begun = self.records.begin(job, run)
                    step_started = time.time()
                    with _running_job(f"{job.step}:{job.key}"):
                        step.function(to_run.subject)
                    record = self.records.finish(job, begun, run, timing(step_started, time.time()))
            except BaseException as error:
                explained = self._failed(job, run, started, error)
                if explained is None:
                    raise
                raise explained from error
        self.state.append_log(log_line(job.step, job.key, Outcome.DONE, **_times(record), **run.log_fields()))
        print(f"phyper: {run.label}: done in {record['duration_s']:.2f} s", flush=True)
        return record

    def batch(self, batch: Job, members: list[JobToRun]) -> dict[str, Any] | None:
        """Run every member of ``batch`` that is not complete (each through `one`), then its record.

        A member that fails does not stop the others (their work is kept); the batch then
        raises after trying them all and writes no record, so the engine reruns it and only
        the failed members run again. Members whose record is valid are skipped here without
        a log line, unless ``force``.

        Returns:
            The batch record, or None when every member was complete and the record lists them.
        """
        records = self.records
        jobs = [member.job for member in members]
        if not self.force and records.check_batch(batch, jobs).complete and records.batch_record_is_current(batch):
            print(f"phyper: {batch.step}({batch.key}): already complete; nothing to do", flush=True)
            return None
        started = time.time()
        ran: list[str] = []
        failures: list[tuple[str, BaseException]] = []
        need = members[0].gpus if members else None  # the step's, the same for every member
        with self._devices(batch, need, f"{batch.step}({batch.key})") as held:  # for all its members
            for member in members:
                if not self.force and records.check(member.job)[0].complete:
                    continue
                try:
                    if self.one(member, held) is not None:  # None: another process completed it meanwhile
                        ran.append(member.job.key)
                except Exception as error:  # reported below, after the other members ran
                    failures.append((member.job.key, error))
        if failures:
            first_key, first_error = failures[0]
            raise JobFailedError(
                f"batch {batch.step}:{batch.key}: {len(failures)} of {len(members)} members failed "
                f"(first: {first_key}: {type(first_error).__name__}: {first_error}); the others are "
                "complete and will be skipped when the batch runs again"
            ) from first_error
        return records.finish_batch(batch, ran, timing(started, time.time()), self.engine)

    def _devices(
        self, job: Job, need: float | int | None, label: str, held: Allocation | None = None
    ) -> contextlib.AbstractContextManager[Allocation | None]:
        """``need`` GPUs (the plan's for ``job``'s step), held and named in ``CUDA_VISIBLE_DEVICES`` in the ``with``."""
        return job_devices(need, label=label, state_folder=self.state.root, step=job.step, key=job.key, held=held)

    def _skipped(self, job: Job, run: RunInfo, started: float, waited: bool) -> None:
        why = "another process ran it meanwhile" if waited else "its completion record is valid"
        print(f"phyper: {run.label}: already complete ({why}); nothing to do", flush=True)
        self.state.append_log(log_line(job.step, job.key, Outcome.SKIPPED, time=started, **run.log_fields()))

    def _failed(self, job: Job, run: RunInfo, started: float, error: BaseException) -> JobFailedError | None:
        """Log a failed attempt; an OS error explained (None: ``error`` propagates as it is)."""
        message = _error_line(error)
        self.state.append_log(
            log_line(job.step, job.key, Outcome.FAILED, error=message, started=started, finished=time.time(),
                     **run.log_fields())
        )
        print(f"phyper: {run.label}: FAILED: {message}", file=sys.stderr, flush=True)
        if isinstance(error, OSError) and not isinstance(error, PhyperError):
            return JobFailedError(f"job {run.label} failed: {describe_os_error(error, job.outputs)}")
        return None


def _on(devices: tuple[str, ...]) -> str:
    return f" on device {','.join(devices)}" if devices else ""


def _times(record: dict[str, Any]) -> dict[str, Any]:
    return timing(record["started"], record["finished"])


def _error_line(error: BaseException) -> str:
    """``ExceptionType: message`` on one line (the last line of a traceback)."""
    if isinstance(error, KeyboardInterrupt):
        return "KeyboardInterrupt: interrupted"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}".rstrip(": ")


@contextlib.contextmanager
def _running_job(name: str) -> Iterator[None]:
    """`RUNNING_JOB_VARIABLE` set to ``name`` inside, restored after (a step may run a job itself)."""
    outer = os.environ.get(RUNNING_JOB_VARIABLE)
    os.environ[RUNNING_JOB_VARIABLE] = name
    try:
        yield
    finally:
        if outer is None:
            os.environ.pop(RUNNING_JOB_VARIABLE, None)
        else:
            os.environ[RUNNING_JOB_VARIABLE] = outer
