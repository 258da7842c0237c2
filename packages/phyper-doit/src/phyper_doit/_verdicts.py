"""phyper's verdicts as the doit tasks and the reporter see them (one per plan, by job id and step name)."""

from __future__ import annotations

import phyper

__all__ = ["VERDICTS", "EngineVerdicts"]


class EngineVerdicts:
    """phyper's verdict over one plan, taken once, when doit first asks (a listing
    without ``--status`` never pays for it): the ids of the engine jobs to run."""

    def __init__(self, plan: phyper.Plan, pipeline: phyper.Pipeline | None = None,
                 forced: frozenset[str] = frozenset()) -> None:
        self.plan = plan
        self.pipeline = pipeline
        self.forced = forced
        """The steps or job ids doit forces (``-a``)."""
        self.engine_jobs: dict[str, phyper.Job] = {}
        self._verdicts: phyper.Verdicts | None = None
        self._to_run: set[str] | None = None

    def announcement(self, job_id: str) -> str | None:
        """How the reporter announces the job ``job_id`` (None: not one of this plan's jobs)."""
        job = self.engine_jobs.get(job_id)
        if job is None or self.pipeline is None:
            return None
        forced = job.step in self.forced or job.id in self.forced
        verdict = self._verdicts.verdict(job) if self._verdicts is not None and job_id in self.to_run else None
        return phyper.job_announcement(self.pipeline, verdict, job, forced=forced)

    @property
    def to_run(self) -> set[str]:
        """Ids of the engine jobs (batch jobs for batched steps) to run."""
        if self._to_run is None:
            try:
                self._verdicts = phyper.Verdicts(self.plan)
                self._to_run = {job.id for job in self._verdicts.engine_jobs_to_run()}
            except phyper.StateFormatError as error:
                # the named error, not a traceback from inside doit (nothing ran, nothing deleted)
                raise SystemExit(f"phyper: StateFormatError: {error}") from None
        return self._to_run


VERDICTS: dict[str, EngineVerdicts] = {}
"""The verdicts of the plan each engine job and each step belongs to, by job id and by
step name (what the ``uptodate`` checks receive: names, cheap to pickle)."""
