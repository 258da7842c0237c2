"""phyper: hyperparameters as typed classes, stable hashes, and engine-free pipelines.

The public API is this module's ``__all__``; everything else is private.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

from phyper._errors import (
    AmbiguousHashError,
    BatchOverrideError,
    DamagedStudyError,
    DuplicateInstanceError,
    DuplicateResourceError,
    FrozenInstanceError,
    GpuOverrideError,
    GpuUnavailableError,
    GridValueError,
    HyperparameterDefinitionError,
    HyperparameterTypeError,
    HyperparameterValueError,
    JobFailedError,
    ManifestError,
    ManifestMismatchError,
    MetricsLoaderError,
    MissingDependencyError,
    NonKeyOverrideError,
    ParserUsageError,
    PhyperError,
    PipelineDefinitionError,
    RemovedNameError,
    StateFormatError,
    UnknownHashError,
    UnknownHyperparameterError,
    UnknownResourceError,
    UnknownStepError,
    UnsupportedValueError,
)
from phyper._fs import atomic_output, atomic_write_text
from phyper._model.context import FULL_INSTANCE
from phyper._model.hashing import (
    HASH_FORMAT_VERSION,
    HASH_HEX_DIGITS,
    HASH_PATTERN,
    hash_key_values,
)
from phyper._model.instance_list import (
    InstanceList,
    get_filtered_instances,
    get_instance_from_hash,
    get_instances_hashes,
    get_projections,
)
from phyper._model.manifest import MANIFEST_NAME, Manifest, read_manifest
from phyper._model.overrides import NON_KEYS_ENVIRONMENT_VARIABLE
from phyper._model.parser import Parser
from phyper._planning.batches import BATCH_ENVIRONMENT_VARIABLE, BATCH_KEY_PATTERN
from phyper._planning.pipeline import AGGREGATE_KEY, Pipeline, Step, StepOptions
from phyper._planning.plan import HASH_PLACEHOLDER, Job, Plan, PlannedStep
from phyper._planning.settings import STEP_GPUS_ENVIRONMENT_VARIABLE, gpu_needs
from phyper._planning.verdict import JobVerdict, Verdicts, job_verdicts
from phyper._running.continuation import continued_from
from phyper._running.gpu_devices import DEVICES_ENVIRONMENT_VARIABLE
from phyper._running.runner import job_command, load_pipeline, run_job
from phyper._running.words import closing_line, job_announcement, reason_in_words
from phyper._search.fidelity import Budget, budget
from phyper._search.space import (
    Search,
    SearchDefinitionError,
    choice,
    int_range,
    log_uniform,
    uniform,
)
from phyper._state.locks import FileLock
from phyper._state.records import JobStatus
from phyper._state.store import read_job_log
from phyper._version import __version__ as __version__

if TYPE_CHECKING:
    from phyper._results.collect import collect, collect_rows
    from phyper._results.report import report


# Imported on first use: an engine imports phyper at every start and needs none of these.
_LAZY = {
    "collect": "phyper._results.collect",
    "collect_rows": "phyper._results.collect",
    "report": "phyper._results.report",
}


_REMOVED = {
    "check_job": "phyper.Verdicts(pipeline.plan()).verdict(job) (or phyper.job_verdicts(pipeline))",
    "check_batch": "phyper.Verdicts(pipeline.plan()).verdict(batch_job)",
}
"""Names of phyper 0.x removed because they answered "is it done?" from a record alone,
blind to code, upstream jobs and forcing: what replaces each (see docs/api.md)."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if name in _REMOVED:
        raise RemovedNameError(
            f"phyper.{name} was removed: it read one completion record and knew nothing of the step's code, "
            f"upstream jobs or forcing; ask the pipeline's verdicts instead: {_REMOVED[name]}"
        )
    if module is None:
        raise AttributeError(f"module 'phyper' has no attribute '{name}'")
    import importlib

    value = _public(getattr(importlib.import_module(module), name))
    globals()[name] = value
    return value


def _public(value: Any) -> Any:
    """``value``, shown as ``phyper.NAME`` if it is a class or function of phyper's private modules.

    Tracebacks, ``repr`` and the API reference then give the public path
    (``phyper.PipelineDefinitionError``, not ``phyper._errors.PipelineDefinitionError``),
    as numpy and pandas do for theirs. Constants and imported names are left as they are.
    """
    if isinstance(value, (type, types.FunctionType)) and str(getattr(value, "__module__", "")).startswith("phyper._"):
        value.__module__ = __name__
    return value

__all__ = [
    "AGGREGATE_KEY",
    "BATCH_ENVIRONMENT_VARIABLE",
    "BATCH_KEY_PATTERN",
    "BatchOverrideError",
    "DamagedStudyError",
    "FileLock",
    "HASH_PLACEHOLDER",
    "Job",
    "JobStatus",
    "JobVerdict",
    "Pipeline",
    "Plan",
    "PlannedStep",
    "Budget",
    "Search",
    "SearchDefinitionError",
    "Step",
    "StepOptions",
    "Verdicts",
    "budget",
    "closing_line",
    "job_announcement",
    "reason_in_words",
    "choice",
    "continued_from",
    "int_range",
    "log_uniform",
    "uniform",
    "collect",
    "collect_rows",
    "job_command",
    "job_verdicts",
    "load_pipeline",
    "read_job_log",
    "report",
    "run_job",
    "DEVICES_ENVIRONMENT_VARIABLE",
    "FULL_INSTANCE",
    "STEP_GPUS_ENVIRONMENT_VARIABLE",
    "gpu_needs",
    "HASH_FORMAT_VERSION",
    "HASH_HEX_DIGITS",
    "HASH_PATTERN",
    "MANIFEST_NAME",
    "NON_KEYS_ENVIRONMENT_VARIABLE",
    "AmbiguousHashError",
    "DuplicateInstanceError",
    "DuplicateResourceError",
    "FrozenInstanceError",
    "GpuOverrideError",
    "GpuUnavailableError",
    "GridValueError",
    "HyperparameterDefinitionError",
    "HyperparameterTypeError",
    "HyperparameterValueError",
    "InstanceList",
    "JobFailedError",
    "Manifest",
    "ManifestError",
    "ManifestMismatchError",
    "MetricsLoaderError",
    "MissingDependencyError",
    "NonKeyOverrideError",
    "Parser",
    "ParserUsageError",
    "PhyperError",
    "PipelineDefinitionError",
    "RemovedNameError",
    "StateFormatError",
    "UnknownHashError",
    "UnknownHyperparameterError",
    "UnknownResourceError",
    "UnknownStepError",
    "UnsupportedValueError",
    "atomic_output",
    "atomic_write_text",
    "get_filtered_instances",
    "get_instance_from_hash",
    "get_instances_hashes",
    "get_projections",
    "hash_key_values",
    "read_manifest",
]

for _name in __all__:
    if _name not in _LAZY:
        _public(globals()[_name])
del _name
