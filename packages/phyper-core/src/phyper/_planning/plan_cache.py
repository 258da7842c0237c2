"""A cache of plans on disk: an engine starting on an unchanged project skips building it.

Building a plan calls the user's path functions for every job; on a big grid that is
most of what phyper adds to an engine's start-up. The engines and ``phyper status``
therefore read the plan from ``<state folder>/plan-cache/`` when nothing it depends
on has changed, and build (and store) it otherwise.

What a plan depends on, all of which is in the cache key (a SHA-256):

* the grid: every instance's values (keys and non-keys, with their types), in grid
  order, the instance class and its hyperparameters, ``PHYPER_NON_KEYS``, the
  resources and their dependencies, the hashed resources folder;
* the pipeline: every step's name, kind, resource, ``threads``/``mem_mb``/``runtime``,
  its batch size after ``PHYPER_BATCH``, its docstring, and the code of its function
  and path functions (the compiled code, not just the name);
* the code the path functions may call: the size and modification time of the files of
  the modules that define the instance class, the steps and the path functions, and
  of every module those name, transitively, up to the standard library and the
  installed packages (the project's ``config.py``, ``paths.py`` ...), and phyper's own;
* the phyper version, the cache format, the Python version, the working folder and
  the state folder.

What it cannot see is a path function that reads something else (an environment
variable, a file, the time). So that such a function does not go unnoticed, every
plan read from the cache is first spot-checked: for each step, the jobs of the
first, middle and last instances are built again from the path functions and must
equal the cached ones (same key, files and dependencies); otherwise the plan is
rebuilt and a line on stderr says so. ``PHYPER_PLAN_CACHE=0`` turns the cache off.

A plan is stored only once the state folder exists (the first job that runs makes
it): a dry run of a project that never ran leaves nothing on disk. The cache is a
few files named by their key (the newest four are kept, so switching
between, say, two ``PHYPER_BATCH`` settings does not rebuild each time), written
atomically: engines starting together at worst both build the plan. They hold plain
data (``marshal``), not pickles: reading one runs no code; a header line with a CRC-32
(see `phyper._state.formats.plan_cache_payload`) makes a damaged entry be rebuilt,
never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import sysconfig
import types
from typing import TYPE_CHECKING, Any

from phyper._planning.batches import batch_sizes
from phyper._planning.keys import AGGREGATE_KEY, BATCH_MEMBERSHIP
from phyper._planning.plan import Plan, build_plan, is_rung_dependency, plan_data, plan_from_data
from phyper._state.formats import (
    PLAN_CACHE_FORMAT_VERSION,
    DamagedStateFile,
    plan_cache_entry,
    plan_cache_payload,
    read_state_bytes,
)
from phyper._version import __version__

if TYPE_CHECKING:
    from phyper._planning.declaration import PipelineDeclaration

__all__ = ["PLAN_CACHE_VARIABLE", "cached_plan", "plan_fingerprint"]

PLAN_CACHE_VARIABLE = "PHYPER_PLAN_CACHE"
"""Set to ``0`` to build every plan from scratch."""

_FORMAT = PLAN_CACHE_FORMAT_VERSION
_KEEP = 4


def cached_plan(pipeline: PipelineDeclaration) -> Plan:
    """The plan of ``pipeline``: from the cache if it is there and passes the spot check."""
    if os.environ.get(PLAN_CACHE_VARIABLE, "1").strip() == "0":
        return build_plan(pipeline)
    fingerprint = plan_fingerprint(pipeline)
    folder = pipeline.state.plan_cache_folder()
    path = os.path.join(folder, fingerprint[:40] + ".marshal")
    plan = _read(path, pipeline, fingerprint)
    if plan is not None:
        difference = _spot_check(plan, pipeline)
        if difference is None:
            return plan
        print(
            f"phyper: the cached plan disagrees with the pipeline ({difference}); rebuilding it. "
            "Do path functions depend on more than the instance and the project's code?",
            file=sys.stderr,
        )
    plan = build_plan(pipeline)
    if pipeline.state.exists():  # a dry run of a project that never ran writes nothing
        _write(folder, path, fingerprint, plan)
    return plan


def plan_fingerprint(pipeline: PipelineDeclaration) -> str:
    """The cache key of ``pipeline``'s plan (see the module docstring for what it covers)."""
    digest = hashlib.sha256()

    def add(*parts: Any) -> None:
        digest.update(repr(parts).encode())
        digest.update(b"\0")

    add(_FORMAT, __version__, sys.version, os.getcwd(), pipeline.state_folder, sorted(batch_sizes(pipeline.steps).items()),
        BATCH_MEMBERSHIP)
    first = pipeline.instances[0]
    shared = first._phyper_shared
    add(type(first).__module__, type(first).__qualname__, shared.folder, sorted(shared.resources.items()))
    add(shared.schema.names, shared.schema.keys, os.environ.get("PHYPER_NON_KEYS"))
    # every instance's values (keys and non-keys), in grid order: what the hashes are made
    # of, without computing them (marshal keeps types apart: 1, 1.0 and True differ)
    values = [instance._phyper_values for instance in pipeline.instances]
    try:
        digest.update(marshal.dumps(values))
    except ValueError:  # a value type marshal does not know: its repr then
        digest.update(repr(values).encode())
    for step in pipeline.steps.values():
        add(step.name, step.kind, step.resource_name, step.threads, step.mem_mb, step.runtime, step.input_arities,
            step.function.__doc__, step.continues)
        for function in (step.function, *step.inputs, *step.outputs):
            add(getattr(function, "__module__", None), getattr(function, "__qualname__", None))
            code = getattr(function, "__code__", None)
            digest.update(marshal.dumps(code) if code is not None else repr(function).encode())
    for path in _code_files(pipeline):
        try:
            info = os.stat(path)
        except OSError:
            add(path, None)
        else:
            add(path, info.st_size, info.st_mtime_ns)
    return digest.hexdigest()


def _code_files(pipeline: PipelineDeclaration) -> list[str]:
    """The source files of the modules the pipeline's code can reach, and phyper's own.

    From the modules that define the instance class, the step functions and the path
    functions, every module their globals name (imported modules, and the modules of
    imported functions and classes), transitively, stopping at the standard library
    and installed packages. Which engine loaded the pipeline does not matter.
    """
    library = tuple(
        os.path.join(os.path.realpath(folder), "")
        for folder in {sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    )
    first = pipeline.instances[0]
    roots = {cls.__module__ for cls in type(first).__mro__}
    for step in pipeline.steps.values():
        for function in (step.function, *step.inputs, *step.outputs):
            roots.add(getattr(function, "__module__", None) or "")
    # phyper's own files, all of them: which of its modules happen to be loaded varies
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # phyper/, above this folder
    files = {
        os.path.join(folder, name)
        for folder, _, names in os.walk(package)
        for name in names
        if name.endswith(".py")
    }
    seen = set(roots)
    queue = sorted(roots)
    while queue:
        module = sys.modules.get(queue.pop())
        path = getattr(module, "__file__", None)
        if module is None or not isinstance(path, str):
            continue
        real = os.path.realpath(path)
        if real.startswith(library) or real.startswith(os.path.join(package, "")):
            continue
        files.add(real)
        for value in list(vars(module).values()):
            other = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
            if isinstance(other, str) and other not in seen:
                seen.add(other)
                queue.append(other)
    return sorted(files)


def _read(path: str, pipeline: PipelineDeclaration, fingerprint: str) -> Plan | None:
    try:
        raw = read_state_bytes(path)
        # loads(bytes): marshal.load reads a file in small pieces, several times slower
        data = marshal.loads(plan_cache_payload(raw, path, fingerprint))
    except (OSError, DamagedStateFile, EOFError, ValueError, TypeError, MemoryError):
        return None  # absent, or damaged (a disk that filled up): build it again
    try:
        return plan_from_data(pipeline, data)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def _write(folder: str, path: str, fingerprint: str, plan: Plan) -> None:
    """Store the plan (best effort: a read-only or full disk only costs the next start)."""
    from phyper._fs import atomic_output

    try:
        os.makedirs(folder, exist_ok=True)
        with atomic_output(path) as temporary, open(temporary, "wb") as handle:
            handle.write(plan_cache_entry(fingerprint, marshal.dumps(plan_data(plan))))
        entries = sorted(
            (entry for entry in os.scandir(folder) if entry.name.endswith(".marshal")),
            key=lambda entry: entry.stat().st_mtime_ns,
            reverse=True,
        )
        for old in entries[_KEEP:]:
            with contextlib.suppress(FileNotFoundError):
                os.remove(old.path)
    except OSError as error:
        print(f"phyper: could not store the plan in {folder} ({error}); it is built again next time", file=sys.stderr)


def _spot_check(plan: Plan, pipeline: PipelineDeclaration) -> str | None:
    """What differs between the cached plan and the path functions, for a few jobs; None if nothing."""
    instances = pipeline.instances
    for planned in plan.steps:
        step = pipeline.steps.get(planned.name)
        if step is None:
            return f"no step `{planned.name}`"
        if step.kind == "aggregate":
            cached = plan.jobs.get(f"{step.name}:{AGGREGATE_KEY}")
            outputs = tuple(step.output_paths(instances))
            if cached is None or cached.outputs != outputs:
                return f"the outputs of `{step.name}`"
            continue
        # the first instance is its resource's first (the job's subject); for full
        # instances every instance is its own
        samples = [instances[0]] if step.kind == "resource" else [instances[0], instances[len(instances) // 2], instances[-1]]
        for instance in samples:
            key = instance.get_instance_hash(step.resource_name)
            job_id = f"{step.name}:{key}"
            if job_id not in plan.jobs:
                return f"job {job_id} is missing"
            job = plan.jobs[job_id]
            if job.outputs != tuple(step.output_paths(instance)) or job.inputs != tuple(step.input_paths(instance)):
                return f"the files of job {job_id}"
            if job.batch is None:
                dependencies: dict[str, None] = {}
                plan.jobs.resolve(step.name, list(job.inputs), dependencies)
                # a lower rung (phyper._planning.plan.rung_dependencies) follows from the grid, which the key covers
                if tuple(d for d in job.dependencies if not is_rung_dependency(job, d)) != tuple(dependencies):
                    return f"the dependencies of job {job_id}"
            else:
                batch = plan.batches[f"{step.name}:{job.batch}"]
                if key not in batch.members or not set(job.dependencies) <= set(batch.dependencies):
                    return f"the batch of job {job_id}"
    return None
