"""What each step runs with beyond its code: batch sizes and GPU needs, and the one parser of their settings.

A step declares ``batch=`` (jobs per engine job) and ``gpus=`` (devices one job holds);
two environment variables change them for one run, in one syntax read by one parser
(`parse_step_setting`): ``PHYPER_BATCH="train_model=1000,transform_data=0"`` and
``PHYPER_STEP_GPUS="train_model=0.25"`` (``step=N`` items separated by commas or
spaces; ``0`` turns the setting off for that step). A malformed item, a step the
pipeline does not have (with a "did you mean"), or a value the step cannot take is
a named error (`BatchOverrideError`, `GpuOverrideError`) whose message starts with
the variable's name: every command prints it as one line (``phyper status``, a job
process, Snakemake, doit).

The plan computes both once when it is built or read back from its cache
(`phyper._planning.plan`): `PlannedStep.batch_size` and `PlannedStep.gpus` are what the
runner and both backends read.

A GPU need is None (no GPU), a whole number of devices, or a share of one device
below 1 (``0.25`` packs four jobs on it), counted in hundredths (`SLOTS`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from phyper._errors import BatchOverrideError, GpuOverrideError, PhyperError, PipelineDefinitionError, did_you_mean

__all__ = [
    "BATCH_ENVIRONMENT_VARIABLE",
    "SLOTS",
    "STEP_GPUS_ENVIRONMENT_VARIABLE",
    "batch_sizes",
    "check_gpus",
    "describe_need",
    "gpu_needs",
    "parse_batch_overrides",
    "parse_gpu_overrides",
    "parse_step_setting",
]

BATCH_ENVIRONMENT_VARIABLE = "PHYPER_BATCH"
"""Run-time batch sizes, e.g. ``"train_model=1000,transform_data=0"`` (0: no batches)."""
STEP_GPUS_ENVIRONMENT_VARIABLE = "PHYPER_STEP_GPUS"
"""Run-time GPU needs per step, e.g. ``"train_model=0.25,retrain=1"`` (0: no GPU)."""

SLOTS = 100
"""Shares of a device are counted in hundredths (the device pool has this many slots per device)."""

V = TypeVar("V")


class _DeclaredStep(Protocol):
    """What the settings read of a step (a [`phyper.Step`][phyper.Step])."""

    @property
    def kind(self) -> str: ...

    @property
    def batch(self) -> int | None: ...

    @property
    def gpus(self) -> float | int | None: ...


class SettingValueError(ValueError):
    """A value a step cannot take (the parser adds the variable's name and raises the setting's error).

    Without a message: the value is no N at all (the parser says what N must be).
    """


def parse_step_setting(
    variable: str,
    text: str,
    steps: Mapping[str, Any],
    value: Callable[[str, str, Any], V],
    error: type[PhyperError],
    expected: str,
) -> dict[str, V]:
    """Parse ``"step=N,step=N"`` (commas or spaces) of the setting ``variable``: step -> value.

    Args:
        variable: the environment variable, named first in every message.
        text: its value.
        steps: the pipeline's steps by name (what ``value`` receives as its third argument).
        value: ``value(step name, raw text, step)`` -> the step's value; raises
            `SettingValueError` with what is wrong (and the fix) for a value the step cannot
            take, or without a message for text that is no N.
        error: the setting's named error.
        expected: what N must be, with an example (``"with N a whole number (example: ...)"``).

    Raises:
        PhyperError: ``error``: an item that is not ``step=N``, a step the pipeline does
            not have, or a value ``value`` refuses.
    """
    parsed: dict[str, V] = {}
    for assignment in (part for part in re.split(r"[,\s]+", text.strip()) if part):
        name, equals, raw = assignment.partition("=")
        if not equals or not raw.strip():
            raise error(f"{variable}: `{assignment}` is not step=N {expected}")
        if name not in steps:
            raise error(
                f"{variable}: the pipeline has no step `{name}`{did_you_mean(name, steps)} (steps: {', '.join(steps)})"
            )
        try:
            parsed[name] = value(name, raw.strip(), steps[name])
        except SettingValueError as refused:
            if not str(refused):
                raise error(f"{variable}: `{assignment}` is not step=N {expected}") from None
            raise error(f"{variable}: {refused}") from None
    return parsed


def _setting_text(variable: str) -> str:
    return os.environ.get(variable, "")


# -- batch sizes -------------------------------------------------------------------------


_BATCH_EXPECTED = (
    f"with N a whole number (example: {BATCH_ENVIRONMENT_VARIABLE}='train_model=1000'; 0 turns batches off)"
)
_GPUS_EXPECTED = (
    f"with N a number of GPUs (example: {STEP_GPUS_ENVIRONMENT_VARIABLE}='train_model=1' or "
    "'train_model=0.25'; 0 for none)"
)


def _batch_size(name: str, raw: str, step: object) -> int:
    kind = step if isinstance(step, str) else getattr(step, "kind", None)
    if not (raw.isascii() and raw.isdigit()):
        raise SettingValueError()
    if kind == "aggregate":
        raise SettingValueError(
            f"step `{name}` is an aggregate (one job over every instance); only per_resource and "
            "per_instance steps run in batches"
        )
    return int(raw)


def parse_batch_overrides(text: str, steps: Mapping[str, Any]) -> dict[str, int]:
    """Parse ``PHYPER_BATCH``'s ``"step=N,step=N"``; ``steps``: the steps (or their kinds: ``"aggregate"``...) by name.

    ``N`` is a batch size; ``0`` turns batching off for that step.

    Raises:
        BatchOverrideError: malformed text, an unknown step, an aggregate step, or a size
            that is not a whole number.
    """
    return parse_step_setting(BATCH_ENVIRONMENT_VARIABLE, text, steps, _batch_size, BatchOverrideError, _BATCH_EXPECTED)


def batch_sizes(steps: Mapping[str, _DeclaredStep]) -> dict[str, int]:
    """Step -> jobs per engine job, for the batched steps: ``batch=``, then ``PHYPER_BATCH``.

    Args:
        steps: the pipeline's steps by name (`phyper.Pipeline.steps`).

    Raises:
        BatchOverrideError: ``PHYPER_BATCH`` is malformed or names a step that is not
            a per_resource or per_instance step of the pipeline.
    """
    sizes: dict[str, int] = {name: step.batch for name, step in steps.items() if step.batch}
    text = _setting_text(BATCH_ENVIRONMENT_VARIABLE)
    if text.strip():
        sizes.update(parse_batch_overrides(text, steps))
    return {name: size for name, size in sizes.items() if size}


# -- GPU needs ---------------------------------------------------------------------------


def check_gpus(value: object, culprit: str) -> float | int | None:
    """``value`` as a GPU need: None for none, an int of devices, or a fraction of one.

    Args:
        value: what was declared (``gpus=``) or given in ``PHYPER_STEP_GPUS``.
        culprit: who declared it, for the message (``"step `train`: gpus"``).

    Raises:
        PipelineDefinitionError: a negative number, not a number, a fraction too small
            to be a share (below 1/100), or more than one device but not a whole number.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise PipelineDefinitionError(
            f"{culprit}={value!r} must be a number of GPUs: a whole number (gpus=1, gpus=2), a share "
            "of one device (gpus=0.25 packs four jobs on it), or 0 for none"
        )
    if value == 0:
        return None
    if value < 1:
        if round(value * SLOTS) < 1:
            raise PipelineDefinitionError(
                f"{culprit}={value!r} is less than the smallest share of a device (1/{SLOTS} = "
                f"{1 / SLOTS}); use gpus=0 for no GPU"
            )
        return float(value)
    if value != int(value):
        raise PipelineDefinitionError(
            f"{culprit}={value!r}: more than one device must be a whole number of devices "
            f"(gpus={int(value)} or gpus={int(value) + 1}); only a share of a single device may be a fraction"
        )
    return int(value)


def _gpu_need(name: str, raw: str, step: object) -> float | int | None:
    try:
        number = float(raw)
    except ValueError:
        raise SettingValueError() from None
    try:
        return check_gpus(number, f"step `{name}`: gpus")
    except PipelineDefinitionError as refused:
        raise SettingValueError(str(refused)) from None


def parse_gpu_overrides(text: str, steps: Mapping[str, object]) -> dict[str, float | int | None]:
    """Parse ``PHYPER_STEP_GPUS``'s ``"step=N,step=N"``; None: no GPU.

    Raises:
        GpuOverrideError: malformed text, an unknown step, or a need `check_gpus` refuses.
    """
    return parse_step_setting(STEP_GPUS_ENVIRONMENT_VARIABLE, text, steps, _gpu_need, GpuOverrideError, _GPUS_EXPECTED)


def gpu_needs(steps: Mapping[str, _DeclaredStep]) -> dict[str, float | int]:
    """Step -> GPUs one of its jobs needs, for the steps that need any: ``gpus=``, then ``PHYPER_STEP_GPUS``.

    What the plan carries as `phyper.PlannedStep.gpus` (the plan calls this once when
    it is built or read back); without a plan, the same answer for a script.

    Args:
        steps: the pipeline's steps by name (`phyper.Pipeline.steps`).

    Raises:
        GpuOverrideError: ``PHYPER_STEP_GPUS`` is malformed or names no step of the pipeline.
    """
    needs: dict[str, float | int | None] = {name: step.gpus for name, step in steps.items() if step.gpus}
    text = _setting_text(STEP_GPUS_ENVIRONMENT_VARIABLE)
    if text.strip():
        needs.update(parse_gpu_overrides(text, steps))
    return {name: need for name, need in needs.items() if need}


def describe_need(need: float) -> str:
    """``"0.25 of a GPU"``, ``"1 GPU"``, ``"2 GPUs"``."""
    if need < 1:
        return f"{need} of a GPU"
    whole = int(need)
    return f"{whole} GPU{'s' if whole > 1 else ''}"
