"""What ``phyper status -v`` says about the device pool: the project's jobs waiting for a GPU now."""

from __future__ import annotations

import time

from phyper._planning.settings import describe_need
from phyper._running.device_pool import waiting_jobs

__all__ = ["waiting_lines"]


def waiting_lines(state_folder: str) -> list[str]:
    """The lines ``phyper status -v`` adds: the project's jobs waiting for a device now (none: no line)."""
    jobs = waiting_jobs(state_folder)
    if not jobs:
        return []
    return [f"waiting for a device ({len(jobs)}):"] + [
        f"  {job.label}: needs {describe_need(job.gpus)}, pid {job.pid} on {job.host}, "
        f"since {time.strftime('%H:%M:%S', time.localtime(job.since))}"
        for job in jobs
    ]
