"""Job keys: the leaf every runtime module may import.

A job is named by its step and its *key*: a hash (``3f2a...``, one per resource value
or instance), `AGGREGATE_KEY` for an aggregate's single job, or a batch key
``batch-<i>-of-<n>`` for a batch job (see `phyper._batches` for how members are
chosen). Where a job's state lives is `phyper._state`'s business.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "AGGREGATE_KEY",
    "BATCH_KEY_PATTERN",
    "batch_count",
    "batch_index",
    "batch_key",
    "group_into_batches",
    "is_batch_key",
    "parse_batch_key",
]

AGGREGATE_KEY = "all"
"""The job key of an aggregate step's single job."""

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
