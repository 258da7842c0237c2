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

The key helpers live in `phyper._planning.keys`, the batch sizes a pipeline asks for
(``batch=``, ``PHYPER_BATCH``, read by the one parser of phyper's step settings) in
`phyper._planning.settings`; both are re-exported here.

A batch's key is ``batch-<i>-of-<n>`` (``i`` zero-padded): the ``i``-th run in hash
order of ``n``. The job process finds its members from the grid and the batch size,
and refuses a key from another plan (another grid or batch size).
"""

from __future__ import annotations

from phyper._planning.keys import (
    BATCH_KEY_PATTERN,
    batch_finder,
    batch_key,
    group_into_batches,
    is_batch_key,
    parse_batch_key,
)
from phyper._planning.settings import BATCH_ENVIRONMENT_VARIABLE, batch_sizes, parse_batch_overrides

__all__ = [
    "BATCH_ENVIRONMENT_VARIABLE",
    "BATCH_KEY_PATTERN",
    "batch_finder",
    "batch_key",
    "batch_sizes",
    "group_into_batches",
    "is_batch_key",
    "parse_batch_key",
    "parse_batch_overrides",
]
