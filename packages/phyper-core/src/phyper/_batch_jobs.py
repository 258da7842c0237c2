"""The batch record: what a batch job writes once its members are done.

A batch job (key ``batch-<i>-of-<n>``, see `phyper._batches`) runs its members one
after the other in one process (see [`phyper.run_job`][phyper.run_job]); each member is an
ordinary job with its own record. The batch's own record, written last, lists the
members it ran and is what Snakemake sees as the batch rule's output. It never decides
whether the batch is complete: its current members' records do (see `phyper._verdict`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from phyper._completion import read_record, write_record

if TYPE_CHECKING:
    from phyper._plan import Job

__all__ = ["batch_record_is_current", "write_batch_record"]


def batch_record_is_current(batch: Job) -> bool:
    """Whether the batch record exists and lists the batch's current members."""
    record = read_record(batch.record)
    return record is not None and record.get("members") == sorted(batch.members)


def write_batch_record(
    batch: Job, ran: Sequence[str], started: float, finished: float, engine: str | None
) -> dict[str, Any]:
    """Write the record of ``batch`` (its members, those that ran, when, where); return it."""
    extra = {
        "members": sorted(batch.members),
        "ran": list(ran),
        "started": started,
        "finished": finished,
        "duration_s": round(finished - started, 6),
        "engine": engine,
        "host": os.uname().nodename,
        "pid": os.getpid(),
    }
    return write_record(batch, {}, extra)
