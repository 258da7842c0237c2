"""The Iris example asks for GPUs only through the override: its default run is unchanged,
and with ``PHYPER_STEP_GPUS`` every training job is given a (fake) device."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import phyper
from engines import IRIS, copy_project, environment, job_log, run


def test_the_iris_pipeline_needs_no_gpu_unless_the_override_asks(
    tmp_path: Path, import_project: Callable[[Path], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    import_project(copy_project(IRIS, tmp_path / "iris"))
    monkeypatch.delenv("PHYPER_STEP_GPUS", raising=False)
    import pipeline

    assert {} == phyper.gpu_needs(pipeline.pipeline.steps)
    monkeypatch.setenv("PHYPER_STEP_GPUS", "train_model=0.25")
    assert {"train_model": 0.25} == phyper.gpu_needs(pipeline.pipeline.steps)


@pytest.mark.doit
def test_with_the_override_each_iris_training_job_is_given_a_share_of_a_device(tmp_path: Path) -> None:
    project = copy_project(IRIS, tmp_path / "iris")
    env = environment(
        PHYPER_NON_KEYS="n_epochs=5,log_interval=5",
        PHYPER_BATCH="train_model=1000",  # one job process (one torch import) for the 90 models
        PHYPER_GPUS="0",
        PHYPER_STEP_GPUS="train_model=0.25",
        PHYPER_DEVICE_POOL=str(tmp_path / "pool"),
    )
    env.pop("CUDA_VISIBLE_DEVICES", None)

    completed = run(["doit", "-n", "2", "train_model"], project, env)

    trained = [entry for entry in job_log(project) if entry["step"] == "train_model" and entry["status"] == "done"]
    assert [["0"]] * 90 == [entry["devices"] for entry in trained]
    assert all("devices" not in entry for entry in job_log(project) if entry["step"] != "train_model")
    assert "running on device 0" in completed.stdout
    # no CUDA on this machine: torch.cuda.is_available() is False, so it trained on the CPU, as by default
    assert 90 == len(list(project.rglob("training_metrics.hdf5")))
