"""The Iris example on a real SLURM scheduler, through the example's own SLURM profile.

`snakemake --profile profiles/slurm` (snakemake-executor-plugin-slurm, `sbatch` for
every job) runs once, with few epochs through `PHYPER_NON_KEYS`, then once more (it
must submit nothing); a local `snakemake` run of another copy gives the reference
numbers. `.ci/slurm-setup` starts a single-node SLURM on this machine; without one the
module skips with the reason, or fails when `CI` is set.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from slurm_support import SUBMITTED

from engines import BIN, IRIS, copy_project, environment, job_log, run
from iris_results import numbers

pytestmark = [pytest.mark.slurm, pytest.mark.snakemake, pytest.mark.usefixtures("slurm")]

FEW_EPOCHS = {"PHYPER_NON_KEYS": "n_epochs=20,log_interval=5"}
FULL_RUN = {"transform_data": 3, "preprocess_data": 6, "train_model": 90, "compute_cv_scores": 1, "retrain_best_model": 1,
            "plot_results": 1, "make_report": 1}
JOBS = sum(FULL_RUN.values())




def controller_job_ids() -> set[str]:
    """Every job the SLURM controller knows, finished ones included (for MinJobAge)."""
    listed = run(["squeue", "--states=all", "--noheader", "--format=%i"], Path.cwd()).stdout
    return set(listed.split())


def scontrol_job(job_id: str) -> dict[str, str]:
    """`scontrol show job` as a dict (`Key=Value` pairs)."""
    shown = run(["scontrol", "show", "job", "--oneliner", job_id], Path.cwd()).stdout
    return dict(pair.split("=", 1) for pair in shown.split() if "=" in pair)


@dataclass
class SlurmRun:
    project: Path
    first: subprocess.CompletedProcess[str]
    rerun: subprocess.CompletedProcess[str]
    log_after_first: list[dict[str, object]]
    jobs_known_before_rerun: set[str]
    jobs_known_after_rerun: set[str]


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory: pytest.TempPathFactory) -> SlurmRun:
    """The Iris example run through SLURM as the README says, then run again."""
    project = copy_project(IRIS, tmp_path_factory.mktemp("slurm") / "iris")
    command = [str(BIN / "snakemake"), "--profile", "profiles/slurm", "all"]
    first = run(command, project, environment(**FEW_EPOCHS))
    log_after_first = job_log(project)
    before = controller_job_ids()
    rerun = run(command, project, environment(**FEW_EPOCHS))
    return SlurmRun(project, first, rerun, log_after_first, before, controller_job_ids())


def test_every_job_ran_as_a_slurm_job_and_the_job_log_has_its_id(slurm_run: SlurmRun) -> None:
    log = slurm_run.log_after_first
    submitted = set(SUBMITTED.findall(slurm_run.first.stdout + slurm_run.first.stderr))

    assert FULL_RUN == {step: sum(entry["step"] == step for entry in log) for step in FULL_RUN}
    assert JOBS == len(log)
    assert [] == [entry for entry in log if not str(entry["scheduler_job_id"]).isdigit()]
    # the ids phyper's jobs saw are exactly the ids sbatch gave Snakemake
    assert submitted == {str(entry["scheduler_job_id"]) for entry in log}
    # and the controller ran them, in this project, as sized by the steps
    # retrain_best_model and plot_results come next to last, in either order, then the report
    (retrain,) = [entry for entry in log if entry["step"] == "retrain_best_model"]
    assert {"retrain_best_model", "plot_results"} == {entry["step"] for entry in log[-3:-1]}
    assert "make_report" == log[-1]["step"]
    last = scontrol_job(str(retrain["scheduler_job_id"]))
    assert ("COMPLETED", str(slurm_run.project)) == (last["JobState"], last["WorkDir"])
    assert ("00:10:00", "1000M", "1") == (last["TimeLimit"], last["MinMemoryNode"], last["NumCPUs"])


def test_the_rerun_submits_nothing(slurm_run: SlurmRun) -> None:
    output = slurm_run.rerun.stdout + slurm_run.rerun.stderr

    assert "Nothing to be done" in output
    assert [] == SUBMITTED.findall(output)
    assert slurm_run.log_after_first == job_log(slurm_run.project)
    assert set() == slurm_run.jobs_known_after_rerun - slurm_run.jobs_known_before_rerun


def test_slurm_gives_the_same_numbers_as_a_local_run(slurm_run: SlurmRun, completed: Callable[[str], Path]) -> None:
    # the local run of the integration suite (same non-keys), shared by the session
    local = completed("snakemake")

    assert [None] * JOBS == [entry["scheduler_job_id"] for entry in job_log(local)]
    by_slurm, by_local = numbers(slurm_run.project), numbers(local)
    assert 20 == by_slurm["best"]["n_epochs"]  # type: ignore[index]
    assert by_local == by_slurm
