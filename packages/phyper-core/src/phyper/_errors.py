"""The exceptions phyper raises for user mistakes.

Every exception derives from [`PhyperError`][phyper.PhyperError]; each subclass also derives from
the builtin exception that matches the mistake (``LookupError``, ``TypeError``,
``ValueError`` ...), so callers can catch either the phyper class or the builtin.
Messages name the culprit and say how to fix it.
"""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable

__all__ = [
    "BatchOverrideError",
    "DamagedStudyError",
    "DuplicateInstanceError",
    "DuplicateResourceError",
    "FrozenInstanceError",
    "GpuOverrideError",
    "GpuUnavailableError",
    "GridValueError",
    "HyperparameterDefinitionError",
    "HyperparameterTypeError",
    "HyperparameterValueError",
    "AmbiguousHashError",
    "JobFailedError",
    "ManifestError",
    "ManifestMismatchError",
    "SearchDefinitionError",
    "MetricsLoaderError",
    "MissingDependencyError",
    "NonKeyOverrideError",
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
    "describe_os_error",
]


class PhyperError(Exception):
    """Base class of every error phyper raises on purpose."""


class HyperparameterDefinitionError(PhyperError, TypeError):
    """A hyperparameter is declared in a way phyper cannot use (class definition)."""


class UnknownHyperparameterError(PhyperError, LookupError):
    """A name that is not a hyperparameter of the class was used."""


class HyperparameterTypeError(PhyperError, TypeError):
    """A value does not have the hyperparameter's declared type."""


class HyperparameterValueError(PhyperError, ValueError):
    """A value has the right type but is not allowed (NaN, outside a ``Literal``)."""


class UnsupportedValueError(PhyperError, TypeError):
    """A value of a type phyper cannot hash (set, arbitrary object, array ...)."""


class GridValueError(PhyperError, ValueError):
    """The grid dictionary is malformed (a value that is not a list, an empty list ...)."""


class DuplicateInstanceError(PhyperError, ValueError):
    """Two instances would share one full hash (they differ only in non-keys)."""


class NonKeyOverrideError(PhyperError, ValueError):
    """A run-time override names a key, or cannot be parsed."""


class UnknownResourceError(PhyperError, LookupError):
    """A resource name that was never registered."""


class DuplicateResourceError(PhyperError, ValueError):
    """A resource name registered twice."""


class UnknownHashError(PhyperError, LookupError):
    """No instance in the list has this hash for this resource."""


class AmbiguousHashError(UnknownHashError):
    """A hash prefix matches several hashes; more digits are needed."""


class ParserUsageError(PhyperError, TypeError):
    """The parser and the instances it creates were mixed up."""


class FrozenInstanceError(PhyperError, AttributeError):
    """An instance's hyperparameters cannot be reassigned (its hash names a folder)."""


class ManifestError(PhyperError, ValueError):
    """A manifest file is missing, unreadable or of an unknown format."""


class ManifestMismatchError(ManifestError):
    """A hashed folder's manifest disagrees with the values being hashed."""


class StateFormatError(PhyperError, ValueError):
    """A state file (record, job log, manifest ...) was written by a newer phyper in a format this one cannot read."""


class MissingDependencyError(PhyperError, ImportError):
    """An optional library needed by this call is not installed."""


class PipelineDefinitionError(PhyperError, ValueError):
    """A pipeline's steps are inconsistent (two producers of a file, a cycle ...)."""


class BatchOverrideError(PhyperError, ValueError):
    """``PHYPER_BATCH`` is malformed or names a step that cannot be batched."""


class GpuOverrideError(PhyperError, ValueError):
    """``PHYPER_STEP_GPUS`` is malformed or names a step that the pipeline does not define."""


class GpuUnavailableError(PhyperError, RuntimeError):
    """A job needs more GPUs than the machine has (``PHYPER_GPUS``, ``CUDA_VISIBLE_DEVICES``, ``nvidia-smi``)."""


class UnknownStepError(PhyperError, LookupError):
    """A step name that the pipeline does not define."""


class JobFailedError(PhyperError, RuntimeError):
    """A job ran but did not produce what its step declares."""


class SearchDefinitionError(PhyperError, ValueError):
    """A search's space, expansion, objective, sampler, budget or pruner cannot be used (checked before anything runs)."""


class MetricsLoaderError(PhyperError, TypeError):
    """A metrics loader given to ``phyper.collect`` returned something unusable."""


class DamagedStudyError(PhyperError, ValueError):
    """A search's Optuna study (its journal) cannot be read; the message says what to do."""


class RemovedNameError(PhyperError, AttributeError):
    """A name of an older phyper that was removed; the message names what replaces it."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean `x`?"`` for the closest candidate, or ``""``."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean `{matches[0]}`?" if matches else ""


def describe_os_error(error: OSError, paths: tuple[str, ...] = ()) -> str:
    """What a job's failed file operation means and what to do (a failed ``write()`` names no file: ``paths``)."""
    where = f" at {error.filename}" if error.filename else (f" while writing {', '.join(paths)}" if paths else "")
    what = error.strerror or str(error)
    if error.errno == errno.ENOSPC:
        advice = "free space on that filesystem, then run the job again"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "make that folder writable, then run the job again"
    else:
        advice = "fix the cause, then run the job again"
    return f"{what}{where}; no completion record was written and earlier results are untouched; {advice}"
