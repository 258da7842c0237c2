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
every old batch splits into two new ones whose members are all complete: they run,
skip every member and write their batch record.

A batch's key is ``batch-<i>-of-<2**k>`` (``i`` zero-padded): it names its members by
itself, so the job process finds them without counting the grid.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from phyper._errors import BatchOverrideError, did_you_mean

__all__ = [
    "BATCH_ENVIRONMENT_VARIABLE",
    "BATCH_KEY_PATTERN",
    "batch_count",
    "batch_index",
    "batch_key",
    "batch_overrides_from_environment",
    "group_into_batches",
    "is_batch_key",
    "parse_batch_key",
    "parse_batch_overrides",
]

BATCH_ENVIRONMENT_VARIABLE = "PHYPER_BATCH"
"""Run-time batch sizes, e.g. ``"train_model=1000,transform_data=0"`` (0: no batches)."""

BATCH_KEY_PATTERN = r"batch-[0-9]+-of-[0-9]+"
"""A regular expression matching every batch key (a Snakemake wildcard constraint)."""

_BATCH_KEY = re.compile(r"batch-([0-9]+)-of-([0-9]+)")
# bits of the hash read to choose a batch: 2**64 batches is more than any grid
_PREFIX_HEX_DIGITS = 16
_PREFIX_BITS = 4 * _PREFIX_HEX_DIGITS


def batch_count(n_jobs: int, batch_size: int) -> int:
    """The number of batches (a power of two) for ``n_jobs`` jobs of at most ``batch_size`` on average."""
    count = 1
    while count * batch_size < n_jobs:
        count *= 2
    return count


def batch_index(key: str, count: int) -> int:
    """The batch (``0 <= index < count``) of the job with hash ``key``: its first bits."""
    bits = count.bit_length() - 1
    return int(key[:_PREFIX_HEX_DIGITS], 16) >> (_PREFIX_BITS - bits) if bits else 0


def batch_key(index: int, count: int) -> str:
    """The key of batch ``index`` of ``count``, e.g. ``batch-03-of-16``."""
    return f"batch-{index:0{len(str(count - 1))}d}-of-{count}"


def is_batch_key(key: str) -> bool:
    """Whether ``key`` names a batch rather than one hash."""
    return key.startswith("batch-")


def parse_batch_key(key: str) -> tuple[int, int] | None:
    """``(index, count)`` of a batch key, or None if ``key`` is not a well-formed one."""
    match = _BATCH_KEY.fullmatch(key)
    if match is None:
        return None
    index, count = int(match[1]), int(match[2])
    if count < 1 or count & (count - 1) or index >= count or batch_key(index, count) != key:
        return None
    return index, count


def group_into_batches(keys: Iterable[str], count: int) -> dict[str, list[str]]:
    """Batch key -> member keys (in the order given), for the non-empty batches, by index."""
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(batch_index(key, count), []).append(key)
    return {batch_key(index, count): groups[index] for index in sorted(groups)}


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
    """The sizes ``PHYPER_BATCH`` sets (see :func:`parse_batch_overrides`); {} when unset."""
    text = os.environ.get(BATCH_ENVIRONMENT_VARIABLE, "")
    return parse_batch_overrides(text, steps) if text.strip() else {}
