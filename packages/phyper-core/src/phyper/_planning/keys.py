"""Job keys: the leaf every runtime module may import.

A job is named by its step and its *key*: a hash (``3f2a...``, one per resource value
or instance), `AGGREGATE_KEY` for an aggregate's single job, or a batch key
``batch-<i>-of-<n>`` for a batch job (see `phyper._planning.batches` for how members are
chosen). Where a job's state lives is `phyper._state.store`'s business.
"""

from __future__ import annotations

import bisect
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "AGGREGATE_KEY",
    "BATCH_KEY_PATTERN",
    "BATCH_MEMBERSHIP",
    "batch_finder",
    "batch_key",
    "group_into_batches",
    "is_batch_key",
    "parse_batch_key",
]

AGGREGATE_KEY = "all"
"""The job key of an aggregate step's single job."""

BATCH_KEY_PATTERN = r"batch-[0-9]+-of-[0-9]+"
"""A regular expression matching every batch key (a Snakemake wildcard constraint)."""

BATCH_MEMBERSHIP = 2
"""The rule grouping a step's keys into batches (1: by the hash's first bits; 2: runs of the sorted
keys, `group_into_batches`); part of the plan cache's key, so a cached plan never mixes them."""

_BATCH_KEY = re.compile(r"batch-([0-9]+)-of-([0-9]+)")


def _anchor(key: str, every: int) -> bool:
    """Whether a batch may end at ``key`` (about one key in ``every``): a property of the key alone."""
    return zlib.crc32(key.encode("utf-8")) % every == 0


def _batch_ends(ordered: Sequence[str], batch_size: int) -> list[int]:
    """Where each batch ends in the sorted keys (exclusive): runs cut at anchors, split evenly.

    The sorted keys are cut after every *anchor* (a key whose CRC-32 is a multiple of
    ``2 * batch_size``: about one key in ``2 * batch_size``), skipping an anchor that
    would leave a run shorter than half of ``batch_size``; a last run that short joins
    the one before. Each run is then split evenly into ``ceil(length / batch_size)``
    batches. An anchor is a property of the key, so adding or removing a key changes
    only the run it falls in: the cuts of every other run stay where they are.
    """
    total = len(ordered)
    if total <= batch_size:
        return [total] if total else []
    low = (batch_size + 1) // 2
    every = 2 * batch_size
    runs: list[int] = []
    start = 0
    for position, key in enumerate(ordered):
        if position + 1 - start >= low and _anchor(key, every):
            runs.append(position + 1)
            start = position + 1
    if start < total:
        if runs and total - start < low:
            runs[-1] = total
        else:
            runs.append(total)
    ends: list[int] = []
    begin = 0
    for end in runs:
        length = end - begin
        pieces = -(-length // batch_size)
        ends.extend(begin + length * piece // pieces for piece in range(1, pieces + 1))
        begin = end
    return ends


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
    if count < 1 or index >= count or batch_key(index, count) != key:
        return None
    return index, count


def group_into_batches(keys: Iterable[str], batch_size: int) -> dict[str, list[str]]:
    """Batch key -> member keys (in the order given): at most ``batch_size`` members each.

    The keys are sorted (hashes are uniform, so this order owes nothing to the grid's)
    and cut into runs (see `_batch_ends`): no batch has more than ``batch_size``
    members and, when there are more keys than ``batch_size``, none has fewer than
    half of it. Batch ``i`` of ``n`` is the ``i``-th batch in hash order.
    """
    given = list(keys)
    ordered = sorted(given)
    ends = _batch_ends(ordered, batch_size)
    count = len(ends)
    names = [batch_key(index, count) for index in range(count)]
    starts = [ordered[end] for end in ends[:-1]]  # the first key of every batch but the first
    groups: dict[str, list[str]] = {name: [] for name in names}
    for key in given:
        groups[names[bisect.bisect_right(starts, key)]].append(key)
    return groups


def batch_finder(batches: Mapping[str, Sequence[str]]) -> Callable[[str], str]:
    """``key -> its batch's key`` for batches `group_into_batches` made (runs of the sorted keys).

    Keeps one key per batch, not one entry per member: a grid of a million stays small.
    """
    names = list(batches)
    starts = [min(members) for members in batches.values()][1:]

    def find(key: str) -> str:
        return names[bisect.bisect_right(starts, key)]

    return find
