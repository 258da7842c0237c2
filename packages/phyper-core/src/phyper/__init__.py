"""phyper: hyperparameters as typed classes, stable hashes, and engine-free pipelines.

The public API is this module's ``__all__``; everything else is private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from phyper._batches import BATCH_ENVIRONMENT_VARIABLE, BATCH_KEY_PATTERN
from phyper._completion import JobStatus, check_job
from phyper._context import FULL_INSTANCE
from phyper._devices import DEVICES_ENVIRONMENT_VARIABLE, STEP_GPUS_ENVIRONMENT_VARIABLE, gpu_needs
from phyper._errors import (
    AmbiguousHashError,
    BatchOverrideError,
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
    StateFormatError,
    UnknownHashError,
    UnknownHyperparameterError,
    UnknownResourceError,
    UnknownStepError,
    UnsupportedValueError,
)
from phyper._fs import atomic_output, atomic_write_text
from phyper._hashing import (
    HASH_FORMAT_VERSION,
    HASH_HEX_DIGITS,
    HASH_PATTERN,
    hash_key_values,
)
from phyper._instance_list import (
    InstanceList,
    get_filtered_instances,
    get_instance_from_hash,
    get_instances_hashes,
    get_projections,
)
from phyper._manifest import MANIFEST_NAME, Manifest, read_manifest
from phyper._overrides import NON_KEYS_ENVIRONMENT_VARIABLE
from phyper._parser import Parser
from phyper._pipeline import AGGREGATE_KEY, Pipeline, Step
from phyper._plan import HASH_PLACEHOLDER, Job, Plan, PlannedStep
from phyper._run_words import closing_line, job_announcement, reason_in_words
from phyper._runner import job_command, load_pipeline, run_job
from phyper._search import (
    Search,
    SearchDefinitionError,
    choice,
    int_range,
    log_uniform,
    uniform,
)
from phyper._state import read_job_log
from phyper._verdict import JobVerdict, Verdicts, check_batch, job_verdicts
from phyper._version import __version__ as __version__

if TYPE_CHECKING:
    from phyper._collect import collect, collect_rows
    from phyper._report import report


# Imported on first use: an engine imports phyper at every start and needs none of these.
_LAZY = {
    "collect": "phyper._collect",
    "collect_rows": "phyper._collect",
    "report": "phyper._report",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'phyper' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = [
    "AGGREGATE_KEY",
    "BATCH_ENVIRONMENT_VARIABLE",
    "BATCH_KEY_PATTERN",
    "BatchOverrideError",
    "HASH_PLACEHOLDER",
    "Job",
    "JobStatus",
    "JobVerdict",
    "Pipeline",
    "Plan",
    "PlannedStep",
    "Search",
    "SearchDefinitionError",
    "Step",
    "Verdicts",
    "check_batch",
    "check_job",
    "closing_line",
    "job_announcement",
    "reason_in_words",
    "choice",
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
