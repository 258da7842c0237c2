"""Running one job: the single entry point every backend calls.

``python -m phyper run MODULE:ATTRIBUTE STEP KEY`` (or :func:`run_job`) imports the
user's pipeline, finds the instance by hash through an index, writes the hashed
folder's manifest, runs the step and, only once every output is fully written,
writes the job's completion record and appends a line to the job log. A job killed
at any point leaves no record, so no engine takes it for done.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import socket
import sys
import time
from typing import Any

from phyper._completion import stat_fingerprint, write_record
from phyper._errors import JobFailedError, PipelineDefinitionError
from phyper._fs import leftover_temporaries
from phyper._pipeline import Pipeline
from phyper._plan import Job

__all__ = ["JOB_LOG_NAME", "job_command", "load_pipeline", "read_job_log", "run_job"]

JOB_LOG_NAME = "jobs.jsonl"


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


def _remove_stale(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        for leftover in leftover_temporaries(path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


def run_job(pipeline: Pipeline, step_name: str, key: str, *, engine: str | None = None) -> dict[str, Any]:
    """Run job (``step_name``, ``key``) of ``pipeline`` and return its completion record.

    ``key`` may name a batch (``batch-<i>-of-<n>``): its incomplete members then run one
    after the other in this process (see :mod:`phyper._batch_jobs`).

    Raises:
        UnknownStepError, UnknownHashError: no such step or hash in the grid.
        JobFailedError: an input is missing, or the step did not write an output.
    """
    from phyper._batches import is_batch_key

    if is_batch_key(key):
        # one engine job for many: each member runs through run_job, then the batch record
        from phyper._batch_jobs import run_batch

        return run_batch(pipeline, step_name, key, engine=engine)
    step = pipeline.step(step_name)
    subject = pipeline.subject(step, key)
    job = Job(
        step_name,
        key,
        tuple(step.input_paths(subject)),
        tuple(step.output_paths(subject)),
        pipeline.record_path(step_name, key),
        (),
    )
    missing = [path for path in job.inputs if not os.path.exists(path)]
    if missing:
        raise JobFailedError(
            f"job {job.id} cannot start: input {missing[0]} does not exist"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + "; run the steps upstream of it first (an engine does this for you)"
        )
    # the record goes first: from here until the new one is written, the job is not done
    _remove_stale([job.record, *job.outputs])
    if step.kind != "aggregate":
        subject.write_manifest(step.resource_name)
    for path in job.outputs:
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
    input_fingerprints = {path: stat_fingerprint(path) for path in job.inputs}
    started = time.time()
    step.function(subject)
    finished = time.time()
    not_written = [path for path in job.outputs if not os.path.isfile(path)]
    if not_written:
        raise JobFailedError(
            f"job {job.id} finished without writing {', '.join(not_written)}; step "
            f"`{step_name}` declares it as an output"
        )
    values = pipeline.instances[0].to_dict()
    extra = {
        "started": started,
        "finished": finished,
        "duration_s": round(finished - started, 6),
        "engine": engine,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "non_keys": {name: values[name] for name in pipeline.instances[0].non_key_names()},
    }
    record = write_record(job, input_fingerprints, extra)
    _append_log(pipeline, {"step": step_name, "key": key, **extra})
    return record


def _append_log(pipeline: Pipeline, entry: dict[str, Any]) -> None:
    os.makedirs(pipeline.state_folder, exist_ok=True)
    line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
    # one write on an O_APPEND descriptor: concurrent jobs never interleave a line
    descriptor = os.open(os.path.join(pipeline.state_folder, JOB_LOG_NAME), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def read_job_log(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Every job completion logged so far, oldest first."""
    path = os.path.join(pipeline.state_folder, JOB_LOG_NAME)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
