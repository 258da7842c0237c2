"""A search whose trials run on SLURM: `phyper search run -- --profile profiles/slurm` (the Iris profile)."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest
from slurm_support import SUBMITTED

from engines import IRIS, REPO, copy_project, run

pytestmark = [pytest.mark.slurm, pytest.mark.snakemake, pytest.mark.usefixtures("slurm")]





def test_the_trials_jobs_are_submitted_to_slurm_through_a_profile(tmp_path: Path) -> None:
    project = copy_project(REPO / "tests" / "fixtures" / "search_toy", tmp_path / "toy")
    shutil.copytree(IRIS / "profiles", project / "profiles")

    run([sys.executable, "-m", "phyper", "search", "run", "--trials", "2", "-j", "2", "--", "--profile", "profiles/slurm"],
        project)
    shown = json.loads(run([sys.executable, "-m", "phyper", "search", "show", "--json"], project).stdout)
    logs = project / "derived_data" / ".phyper" / "search" / "search" / "logs"
    submitted = [job for log in sorted(logs.glob("trial-*.log")) for job in SUBMITTED.findall(log.read_text())]
    executed = Counter((project / "executions.txt").read_text().splitlines())

    assert {"complete"} == {trial["state"] for trial in shown["trials"]} and 2 == len(shown["trials"])
    # every execution (1 or 2 preprocessings, 4 trainings) ran as a SLURM job, each once
    assert sum(executed.values()) == len(submitted), submitted
    assert {1} == set(executed.values())
