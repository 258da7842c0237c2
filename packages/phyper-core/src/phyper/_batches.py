"""Batches: many jobs of one step run by one engine job, with stable membership.

A step declared with ``batch=N`` (or overridden at run time with ``PHYPER_BATCH``)
shows the engines one job per *batch* instead of one per hash. Which batch a job
belongs to depends only on its hash and on the number of batches, never on the
order of the grid:

* the number of batches is ``2 ** k``, the smallest power of two with at most ``N``
  jobs per batch on average (``ceil(n_jobs / N)`` rounded up to a power of two), so
  batches hold between ``N / 2`` and ``N`` jobs on average;
* a job belongs to batch ``i`` of ``2 ** k`` where ``i`` is the first ``k`` bits of its
  hash (hashes are uniform, so batches are balanced).

Adding a few grid values therefore keeps the number of batches (it changes only when
the step's job count crosses ``N * 2 ** k``) and puts the new jobs in the batches
their hashes name: only those batches run again, and in them only the new members
(members with a valid completion record are skipped). When the count does double,
every old batch splits into two new ones whose members are all complete: a batch is
complete when its current members are (see `phyper._verdict`), so nothing runs.

The key helpers live in `phyper._keys` (re-exported here); this module adds the
batch sizes a pipeline asks for (``batch=``, ``PHYPER_BATCH``).

A batch's key is ``batch-<i>-of-<2**k>`` (``i`` zero-padded): it names its members by
itself, so the job process finds them without counting the grid.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Protocol

from phyper._errors import BatchOverrideError, did_you_mean
from phyper._keys import (
    BATCH_KEY_PATTERN,
    batch_count,
    batch_index,
    batch_key,
    group_into_batches,
    is_batch_key,
    parse_batch_key,
)

__all__ = [
    "BATCH_ENVIRONMENT_VARIABLE",
    "BATCH_KEY_PATTERN",
    "batch_count",
    "batch_index",
    "batch_key",
    "batch_overrides_from_environment",
    "batch_sizes",
    "group_into_batches",
    "is_batch_key",
    "parse_batch_key",
    "parse_batch_overrides",
]

BATCH_ENVIRONMENT_VARIABLE = "PHYPER_BATCH"
"""Run-time batch sizes, e.g. ``"train_model=1000,transform_data=0"`` (0: no batches)."""


class _DeclaredStep(Protocol):
    """What `batch_sizes` reads of a step (a [`phyper.Step`][phyper.Step])."""

    @property
    def kind(self) -> str: ...

    @property
    def batch(self) -> int | None: ...


def batch_sizes(steps: Mapping[str, _DeclaredStep]) -> dict[str, int]:
    """Step -> jobs per engine job, for the batched steps: ``batch=``, then ``PHYPER_BATCH``.

    Args:
        steps: the pipeline's steps by name (`phyper.Pipeline.steps`).

    Raises:
        BatchOverrideError: ``PHYPER_BATCH`` is malformed or names a step that is not
            a per_resource or per_instance step of the pipeline.
    """
    sizes = {name: step.batch for name, step in steps.items() if step.batch}
    sizes.update(batch_overrides_from_environment({name: step.kind for name, step in steps.items()}))
    return {name: size for name, size in sizes.items() if size}


def parse_batch_overrides(text: str, steps: Mapping[str, str]) -> dict[str, int]:
    """Parse ``"step=N,step=N"`` (commas or spaces); ``steps`` maps step names to kinds.

    ``N`` is a batch size; ``0`` turns batching off for that step.

    Raises:
        BatchOverrideError: malformed text, an unknown step, an aggregate step, or a
            negative size.
    """
    sizes: dict[str, int] = {}
    for assignment in (part for part in re.split(r"[,\s]+", text.strip()) if part):
        name, equals, raw = assignment.partition("=")
        if not equals or not raw.strip().isdigit():
            raise BatchOverrideError(
                f"{BATCH_ENVIRONMENT_VARIABLE}: `{assignment}` is not step=N with N a whole number "
                f"(example: {BATCH_ENVIRONMENT_VARIABLE}='train_model=1000'; 0 turns batches off)"
            )
        if name not in steps:
            raise BatchOverrideError(
                f"{BATCH_ENVIRONMENT_VARIABLE}: the pipeline has no step `{name}`{did_you_mean(name, steps)} "
                f"(steps: {', '.join(steps)})"
            )
        if steps[name] == "aggregate":
            raise BatchOverrideError(
                f"{BATCH_ENVIRONMENT_VARIABLE}: step `{name}` is an aggregate (one job over every "
                "instance); only per_resource and per_instance steps run in batches"
            )
        sizes[name] = int(raw)
    return sizes


def batch_overrides_from_environment(steps: Mapping[str, str]) -> dict[str, int]:
    """The sizes ``PHYPER_BATCH`` sets (see `parse_batch_overrides`); {} when unset."""
    text = os.environ.get(BATCH_ENVIRONMENT_VARIABLE, "")
    return parse_batch_overrides(text, steps) if text.strip() else {}
