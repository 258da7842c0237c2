"""What the SLURM tests share: whether this machine can run SLURM jobs, and the submit line."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess

SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+)")
"""What snakemake-executor-plugin-slurm prints for each job it submits."""


def slurm_problem() -> str | None:
    """Why SLURM cannot run jobs here, or None when it can."""
    missing = [tool for tool in ("sbatch", "squeue", "scontrol", "sinfo") if shutil.which(tool) is None]
    if missing:
        return f"SLURM's {', '.join(missing)} not on PATH (start a single-node SLURM: sudo bash .ci/slurm-setup)"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed in this environment"
    states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if states.returncode != 0 or not {"idle", "mixed", "allocated"} & set(states.stdout.split()):
        return f"no SLURM node is up (sinfo: {(states.stdout + states.stderr).strip()!r}); run .ci/slurm-setup"
    return None
