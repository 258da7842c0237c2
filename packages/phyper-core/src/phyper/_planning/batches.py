"""Batches: many jobs of one step run by one engine job, with bounded sizes and stable membership.

A step declared with ``batch=N`` (or overridden at run time with ``PHYPER_BATCH``)
shows the engines one job per *batch* instead of one per hash. ``N`` is a maximum:
what one batch job needs (its ``runtime``, a SLURM time limit) is sized for ``N``
members. Which batch a job belongs to depends only on the set of the step's hashes,
never on the order of the grid (`phyper._planning.keys.group_into_batches`):

* the hashes are sorted and cut after every *anchor* (a hash whose CRC-32 is a
  multiple of ``2 N``, about one in ``2 N``), unless that leaves a run shorter than
  ``N / 2`` (a last run that short joins the one before); each run is split evenly
  into ``ceil(length / N)`` batches. So no batch has more than ``N`` members and,
  when the step has more than ``N``, none has fewer than ``N / 2`` (about ``0.85 N``
  on average);
* an anchor is a property of the hash, so a hash added or removed changes only the
  run it falls in (two runs when it is an anchor itself): a member or two move
  between neighbouring batches, never the whole step (docs/scaling.md gives the
  measured figures; ``benchmarks/batches.py`` measures them).

Only the batches whose members are incomplete run again, and in them only those
members (members with a valid completion record are skipped): a batch is complete
when its current members are (see `phyper._planning.verdict`), so a change of membership
alone runs nothing, and neither does a project finished with another membership
(an older phyper's).

The key helpers live in `phyper._planning.keys` (re-exported here); this module adds the
batch sizes a pipeline asks for (``batch=``, ``PHYPER_BATCH``).

A batch's key is ``batch-<i>-of-<n>`` (``i`` zero-padded): the ``i``-th run in hash
order of ``n``. The job process finds its members from the grid and the batch size,
and refuses a key from another plan (another grid or batch size).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Protocol

from phyper._errors import BatchOverrideError, did_you_mean
from phyper._planning.keys import (
    BATCH_KEY_PATTERN,
    batch_finder,
    batch_key,
    group_into_batches,
    is_batch_key,
    parse_batch_key,
)

__all__ = [
    "BATCH_ENVIRONMENT_VARIABLE",
    "BATCH_KEY_PATTERN",
    "batch_finder",
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
