"""``phyper accept``: count results made by older code as made by today's code.

It sits above the records (`phyper._state.records`) and the code store
(`phyper._planning.code_store`), which it combines; neither imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from phyper._state.records import Reason, Records

if TYPE_CHECKING:
    from phyper._planning.pipeline import Pipeline

__all__ = ["accept"]


def accept(pipeline: Pipeline, steps: Sequence[str] = ()) -> dict[str, int]:
    """Accept today's code for the jobs of ``steps`` (all steps if empty) that are complete but for it.

    Like ``snakemake --touch``: each such job's record is rewritten with today's code
    fingerprint (its file times kept); outputs are never touched, and a job failing any
    other check (a missing output, an input rewritten) is left as it is.

    Returns:
        Step -> the number of jobs accepted.

    Raises:
        UnknownStepError: a step that the pipeline does not have.
    """
    names = [pipeline.step(name).name for name in steps] or list(pipeline.steps)
    plan = pipeline.plan(cache=True)
    records = Records(pipeline.state, pipeline.codes)
    accepted: dict[str, int] = {}
    for name in names:
        count = 0
        for job in plan.jobs_of(name):
            status, record = records.check(job)
            if record is not None and status.kind is Reason.OLDER_CODE:
                count += pipeline.codes.accept(job.step, job.record, record)
        accepted[name] = count
    return accepted
