"""Running one job: the single entry point every backend calls.

``python -m phyper run MODULE:ATTRIBUTE STEP KEY`` (or :func:`run_job`) imports the
user's pipeline, finds the instance by hash through an index, writes the hashed
folder's manifest, runs the step and, only once every output is fully written,
writes the job's completion record and appends a line to the job log. A job killed
at any point leaves no record, so no engine takes it for done.

A batch job is a loop over its members through the same path (each under its own
lock, with its own record and log line), then the batch record
(:mod:`phyper._batch_jobs`). Whether a job has anything to do is asked of
:mod:`phyper._verdict`; the jobs come from :mod:`phyper._plan`.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import os
import sys
import time
from typing import Any

from phyper._batch_jobs import batch_record_is_current, write_batch_record
from phyper._code_store import code_field, today_code
from phyper._completion import stat_fingerprint, write_record
from phyper._errors import JobFailedError, PhyperError, PipelineDefinitionError
from phyper._formats import remove_record
from phyper._fs import leftover_temporaries
from phyper._job_log import read_job_log_entries
from phyper._keys import JOB_LOG_NAME, is_batch_key, job_log_path
from phyper._locks import job_lock
from phyper._pipeline import Pipeline, Step
from phyper._plan import Job, batch_for, job_for
from phyper._verdict import job_status

__all__ = ["JOB_LOG_NAME", "RUNNING_JOB_VARIABLE", "job_command", "load_pipeline", "read_job_log", "run_job"]

RUNNING_JOB_VARIABLE = "PHYPER_JOB"
"""Set to ``<step>:<key>`` while a step's function runs: the job the process is running
(a report written by a step counts that job as complete, the page being its result)."""


def load_pipeline(spec: str) -> Pipeline:
    """Import ``module:attribute`` (attribute defaults to ``pipeline``) from the working folder."""
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    try:
        pipeline = getattr(module, attribute or "pipeline")
    except AttributeError:
        raise PipelineDefinitionError(
            f"module `{module_name}` has no attribute `{attribute or 'pipeline'}`; the spec is MODULE:ATTRIBUTE"
        ) from None
    if not isinstance(pipeline, Pipeline):
        raise PipelineDefinitionError(f"`{spec}` is a {type(pipeline).__name__}, not a phyper.Pipeline")
    return pipeline


def job_command(spec: str, step: str, key: str, *, engine: str | None = None) -> list[str]:
    """The command line that runs one job in a fresh process (what backends execute)."""
    command = [sys.executable, "-m", "phyper", "run", spec, step, key]
    return [*command, "--engine", engine] if engine else command


def _label(pipeline: Pipeline, step_name: str, key: str) -> str:
    try:
        return pipeline.job_label(step_name, key)
    except PhyperError:
        return f"{step_name}:{key}"


def _file_identity(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _remove_leftovers(paths: tuple[str, ...]) -> None:
    for path in paths:
        for leftover in leftover_temporaries(path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


def run_job(
    pipeline: Pipeline, step_name: str, key: str, *, engine: str | None = None, force: bool = False
) -> dict[str, Any] | None:
    """Run job (``step_name``, ``key``) of ``pipeline``; return its new completion record.

    The job runs under its lock (:mod:`phyper._locks`): if another process is running
    it, this one waits. Then, unless ``force``, a job whose completion record is valid
    does nothing and returns None: another process (or an earlier run whose engine
    died) already did it. Otherwise the record is removed first, the step runs, and
    the record is written only once every output is written. The previous outputs
    stay in place until the step replaces them, so a failed run (a full disk, say)
    loses nothing but the record. Every outcome is appended to the job log.

    ``key`` may name a batch (``batch-<i>-of-<n>``): its incomplete members then run one
    after the other in this process (see :mod:`phyper._batch_jobs`).

    Raises:
        UnknownStepError, UnknownHashError: no such step or hash in the grid.
        JobFailedError: an input is missing, the step did not write an output, or
            writing failed (the message names the file); the step's own exceptions
            propagate unchanged after being logged.
    """
    if is_batch_key(key):
        batch, members = batch_for(pipeline, step_name, key)
        return _run_batch(pipeline, batch, members, engine, force)
    return _run_one(pipeline, job_for(pipeline, step_name, key), engine, force)


def _run_batch(
    pipeline: Pipeline, batch: Job, members: list[Job], engine: str | None, force: bool
) -> dict[str, Any] | None:
    """Run every member of ``batch`` that is not complete (each through :func:`_run_one`), then its record.

    A member that fails does not stop the others (their work is kept); the batch then
    raises after trying them all and writes no record, so the engine reruns it and only
    the failed members run again. Members whose record is valid are skipped here without
    a log line, unless ``force``.

    Returns:
        The batch record, or None when every member was complete and the record lists them.
    """
    step_name, key = batch.step, batch.key
    if not force and job_status(batch, members).complete and batch_record_is_current(batch):
        print(f"phyper: {step_name}({key}): already complete; nothing to do", flush=True)
        return None
    # the batch record goes first: an engine that sees it (Snakemake) takes the batch for done
    remove_record(batch.record)
    started = time.time()
    ran: list[str] = []
    failures: list[tuple[str, BaseException]] = []
    for member in members:
        if not force and job_status(member).complete:
            continue
        try:
            record = _run_one(pipeline, member, engine, force)
        except Exception as error:  # reported below, after the other members ran
            failures.append((member.key, error))
        else:
            if record is not None:  # None: another process completed it meanwhile
                ran.append(member.key)
    if failures:
        first_key, first_error = failures[0]
        raise JobFailedError(
            f"batch {step_name}:{key}: {len(failures)} of {len(members)} members failed "
            f"(first: {first_key}: {type(first_error).__name__}: {first_error}); the others are "
            "complete and will be skipped when the batch runs again"
        ) from first_error
    return write_batch_record(batch, ran, started, time.time(), engine)


def _run_one(pipeline: Pipeline, job: Job, engine: str | None, force: bool) -> dict[str, Any] | None:
    """Run one job (not a batch) under its lock: see :func:`run_job`."""
    step_name, key = job.step, job.key
    step = pipeline.step(step_name)
    subject = pipeline.subject(step, key)
    label = _label(pipeline, step_name, key)
    values = pipeline.instances[0].to_dict()
    context = {
        "engine": engine,
        "host": os.uname().nodename,
        "pid": os.getpid(),
        "scheduler_job_id": os.environ.get("SLURM_JOB_ID"),  # a cluster's id for the job (SLURM), else None
        "label": label,
        "non_keys": {name: values[name] for name in pipeline.instances[0].non_key_names()},
    }
    try:
        locked = job_lock(pipeline.state_folder, step_name, key, label=label)
        lock = locked.__enter__()
    except OSError as error:
        raise JobFailedError(f"job {label} cannot take its lock: {_describe_os_error(error)}") from error
    try:
        return _run_locked(pipeline, step, subject, job, lock.waited, force, context)
    finally:
        locked.__exit__(None, None, None)


def _run_locked(
    pipeline: Pipeline, step: Step, subject: Any, job: Job, waited: bool, force: bool, context: dict[str, Any]
) -> dict[str, Any] | None:
    step_name, key, label = job.step, job.key, context["label"]
    started = time.time()
    try:
        if step.kind != "aggregate":
            # a manifest truncated or edited by hand is a hard error, even for a complete job;
            # a process killed while writing one (a batch moving on to its next member, say)
            # left its hidden temporary next to it
            _remove_leftovers((subject.write_manifest(step.resource_name),))
        if not force and job_status(job).complete:
            why = "another process ran it meanwhile" if waited else "its completion record is valid"
            print(f"phyper: {label}: already complete ({why}); nothing to do", flush=True)
            _append_log(pipeline, {"step": step_name, "key": key, "status": "skipped", "time": started, **context})
            return None
        print(f"phyper: {label}: running", flush=True)
        record = _execute(pipeline, step, subject, job, context)
    except BaseException as error:
        message = _error_line(error)
        _append_log(
            pipeline,
            {"step": step_name, "key": key, "status": "failed", "error": message,
             "started": started, "finished": time.time(), **context},
        )
        print(f"phyper: {label}: FAILED: {message}", file=sys.stderr, flush=True)
        if isinstance(error, OSError) and not isinstance(error, PhyperError):
            raise JobFailedError(f"job {label} failed: {_describe_os_error(error, job.outputs)}") from error
        raise
    _append_log(pipeline, {"step": step_name, "key": key, "status": "done", **_timing(record), **context})
    print(f"phyper: {label}: done in {record['duration_s']:.2f} s", flush=True)
    return record


def _timing(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record[name] for name in ("started", "finished", "duration_s")}


def _error_line(error: BaseException) -> str:
    """``ExceptionType: message`` on one line (the last line of a traceback)."""
    if isinstance(error, KeyboardInterrupt):
        return "KeyboardInterrupt: interrupted"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}".rstrip(": ")


def _describe_os_error(error: OSError, paths: tuple[str, ...] = ()) -> str:
    # a failed write() names no file: then name the files the job was writing
    where = f" at {error.filename}" if error.filename else (f" while writing {', '.join(paths)}" if paths else "")
    what = error.strerror or str(error)
    if error.errno == errno.ENOSPC:
        advice = "free space on that filesystem, then run the job again"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "make that folder writable, then run the job again"
    else:
        advice = "fix the cause, then run the job again"
    return f"{what}{where}; no completion record was written and earlier results are untouched; {advice}"


def _execute(pipeline: Pipeline, step: Step, subject: Any, job: Job, context: dict[str, Any]) -> dict[str, Any]:
    missing = [path for path in job.inputs if not os.path.exists(path)]
    if missing:
        raise JobFailedError(
            f"job {context['label']} cannot start: input {missing[0]} does not exist"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + "; run the steps upstream of it first (an engine does this for you)"
        )
    # the record goes first: from here until the new one is written, the job is not done
    remove_record(job.record)
    _remove_leftovers((job.record, *job.outputs))
    for path in job.outputs:
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
    before = {path: _file_identity(path) for path in job.outputs}
    input_fingerprints = {path: stat_fingerprint(path) for path in job.inputs}
    started = time.time()
    outer = os.environ.get(RUNNING_JOB_VARIABLE)
    os.environ[RUNNING_JOB_VARIABLE] = f"{step.name}:{job.key}"
    try:
        step.function(subject)
    finally:
        if outer is None:
            os.environ.pop(RUNNING_JOB_VARIABLE, None)
        else:
            os.environ[RUNNING_JOB_VARIABLE] = outer
    finished = time.time()
    not_written = [path for path in job.outputs if not os.path.isfile(path)]
    unchanged = [path for path in job.outputs if path not in not_written and _file_identity(path) == before[path]]
    if not_written or unchanged:
        raise JobFailedError(
            f"job {context['label']} finished without writing {', '.join(not_written + unchanged)}; step "
            f"`{step.name}` declares it as an output"
        )
    extra = {
        "started": started,
        "finished": finished,
        "duration_s": round(finished - started, 6),
        "engine": context["engine"],
        "host": context["host"],
        "pid": context["pid"],
        "scheduler_job_id": context["scheduler_job_id"],
        "non_keys": context["non_keys"],
    }
    code = today_code(job.record)
    if code is not None:
        extra["code"] = code_field(pipeline.state_folder, code)
    return write_record(job, input_fingerprints, extra)


def _append_log(pipeline: Pipeline, entry: dict[str, Any]) -> None:
    line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
    path = job_log_path(pipeline.state_folder)
    try:
        os.makedirs(pipeline.state_folder, exist_ok=True)
        # one write on an O_APPEND descriptor: concurrent jobs never interleave a line
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)
    except OSError as error:
        # the log is for people; a full disk must not hide the job's own outcome
        print(f"phyper: warning: could not append to the job log {path}: {error.strerror}", file=sys.stderr)


def read_job_log(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Every job outcome logged so far, oldest first (damaged lines skipped, see :mod:`phyper._job_log`)."""
    return read_job_log_entries(pipeline.state_folder)
