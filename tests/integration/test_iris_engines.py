"""The Iris example, copied to a temporary folder and run as a user would, on both engines.

One test body per case, parametrised over the backends: job counts, reruns, engine
agreement (files and numbers), incremental changes, and a SIGKILL mid-training.
Training runs few epochs through the non-key override (no hash changes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import pytest
import torch

from engines import (
    BIN,
    IRIS,
    copy_project,
    counts_since,
    engine_command,
    environment,
    job_log,
    output_files,
    run,
    run_engine,
)
from iris_results import numbers

pytestmark = pytest.mark.integration

FEW_EPOCHS = {"PHYPER_NON_KEYS": "n_epochs=20,log_interval=5"}
FULL_RUN = {"transform_data": 3, "preprocess_data": 6, "train_model": 90, "compute_cv_scores": 1, "retrain_best_model": 1,
            "plot_results": 1, "make_report": 1}
JOBS = sum(FULL_RUN.values())
RESULTS = Path("derived_data") / "results"

def copy_of(project: Path, destination: Path) -> Path:
    """A copy with every file's modification time kept (as `cp -a` would)."""
    shutil.copytree(project, destination, symlinks=True)
    return destination


def nothing_ran(backend: str, output: str) -> bool:
    if backend == "snakemake":
        return "Nothing to be done" in output
    return "phyper: 0 jobs ran, " in output


def test_full_run_has_exact_job_counts_and_a_rerun_does_nothing(backend: str, completed: Callable[[str], Path]) -> None:
    project = completed(backend)

    again = run_engine(backend, project, **FEW_EPOCHS)

    assert FULL_RUN == dict(counts_since(project, 0))
    assert JOBS == len(job_log(project))
    assert nothing_ran(backend, again.stdout + again.stderr)
    best = json.loads((project / RESULTS / "best_model" / "test_results.json").read_text())
    assert 20 == best["n_epochs"]
    assert 0.0 <= best["test_accuracy"] <= 1.0
    scores = (project / RESULTS / "cross_validation_scores.csv").read_text().splitlines()
    assert 1 + 18 == len(scores)


def test_both_engines_write_the_same_files_and_the_same_numbers(completed: Callable[[str], Path]) -> None:
    by_snakemake, by_doit = completed("snakemake"), completed("doit")

    assert output_files(by_snakemake) == output_files(by_doit)
    assert 3 + 6 + 90 * 2 + 1 + 3 + 1 + 1 == len([f for f in output_files(by_doit) if not f.endswith("phyper-manifest.json")])
    assert numbers(by_snakemake) == numbers(by_doit)


def test_after_one_engine_the_other_runs_nothing(completed: Callable[[str], Path], tmp_path: Path) -> None:
    after_snakemake = copy_of(completed("snakemake"), tmp_path / "a")
    after_doit = copy_of(completed("doit"), tmp_path / "b")

    doit = run_engine("doit", after_snakemake, **FEW_EPOCHS)
    snakemake = run_engine("snakemake", after_doit, **FEW_EPOCHS)

    assert nothing_ran("doit", doit.stdout) and {} == dict(counts_since(after_snakemake, JOBS))
    assert nothing_ran("snakemake", snakemake.stdout + snakemake.stderr) and {} == dict(counts_since(after_doit, JOBS))


def test_deleting_a_model_folder_reruns_it_and_what_follows(backend: str, completed: Callable[[str], Path], tmp_path: Path) -> None:
    project = copy_of(completed(backend), tmp_path / "iris")
    model_folder = sorted((project / "derived_data" / "all").iterdir())[7]
    shutil.rmtree(model_folder)

    run_engine(backend, project, **FEW_EPOCHS)

    rerun = [(entry["step"], entry["key"]) for entry in job_log(project)[JOBS:]]
    assert [("train_model", model_folder.name), ("compute_cv_scores", "all")] == rerun[:2]
    assert [("plot_results", "all"), ("retrain_best_model", "all")] == sorted(rerun[2:4])
    assert [("make_report", "all")] == rerun[4:]
    assert numbers(completed(backend)) == numbers(project)


def test_adding_a_grid_value_runs_only_the_new_models_and_the_aggregates(backend: str, completed: Callable[[str], Path], tmp_path: Path) -> None:
    project = copy_of(completed(backend), tmp_path / "iris")
    config = project / "config.py"
    config.write_text(config.read_text().replace("'n_hidden_layers': [1, 2, 3]", "'n_hidden_layers': [1, 2, 3, 4]"))

    run_engine(backend, project, **FEW_EPOCHS)

    assert {"train_model": 6 * 5, "compute_cv_scores": 1, "retrain_best_model": 1, "plot_results": 1, "make_report": 1} == dict(
        counts_since(project, JOBS)
    )
    assert 1 + 24 == len((project / RESULTS / "cross_validation_scores.csv").read_text().splitlines())


def test_changing_a_non_key_runs_nothing(backend: str, completed: Callable[[str], Path], tmp_path: Path) -> None:
    project = copy_of(completed(backend), tmp_path / "iris")

    again = run_engine(backend, project, PHYPER_NON_KEYS="n_epochs=21,log_interval=7,learning_rate=0.5")

    assert {} == dict(counts_since(project, JOBS))
    assert nothing_ran(backend, again.stdout + again.stderr)


def test_sigkill_during_training_resumes_to_the_same_results(backend: str, completed: Callable[[str], Path], tmp_path: Path) -> None:
    project = copy_project(IRIS, tmp_path / "iris")
    engine = subprocess.Popen(
        engine_command(backend), cwd=project, env=environment(**FEW_EPOCHS),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while sum(entry["step"] == "train_model" for entry in job_log(project)) < 20:
        assert engine.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "training never got going"
        time.sleep(0.05)
    os.killpg(engine.pid, signal.SIGKILL)
    engine.wait()
    done_before = {(entry["step"], entry["key"]) for entry in job_log(project)}
    entries_before = len(job_log(project))

    # nothing that looks done is partial: every completion record has whole outputs
    # (a job killed while writing its record leaves a hidden .phyper-tmp- file: not a record)
    records = sorted(
        path
        for path in (project / "derived_data" / ".phyper" / "done" / "train_model").glob("*.json")
        if re.fullmatch(r"[0-9a-f]{32}\.json", path.name)
    )
    assert 20 <= len(records) < 90
    for record in records:
        folder = project / "derived_data" / "all" / record.stem
        with h5py.File(folder / "training_metrics.hdf5", "r") as f5:
            assert ["epoch10", "epoch15", "epoch20", "epoch5"] == sorted(f5.keys())
        assert torch.load(folder / "torch_model.torch", weights_only=True)
    if backend == "snakemake":
        run([str(BIN / "snakemake"), "--unlock"], project)
    run_engine(backend, project, **FEW_EPOCHS)

    resumed = [(entry["step"], entry["key"]) for entry in job_log(project)[entries_before:]]
    everything = {(entry["step"], entry["key"]) for entry in job_log(project)}
    assert JOBS == len(everything)
    assert everything - done_before <= set(resumed)
    # what ran again beyond the missing jobs can only be jobs that were in flight (at most 8)
    assert len(resumed) <= len(everything - done_before) + 8
    assert numbers(completed(backend)) == numbers(project)
    assert [] == [name for name in output_files(project) if ".phyper-tmp-" in name]


@pytest.mark.doit
def test_doit_with_one_process_gives_the_same_results_as_eight(completed: Callable[[str], Path], tmp_path: Path) -> None:
    project = copy_project(IRIS, tmp_path / "iris")

    run_engine("doit", project, jobs=1, **FEW_EPOCHS)

    assert FULL_RUN == dict(counts_since(project, 0))
    assert numbers(completed("doit")) == numbers(project)


@pytest.mark.snakemake
def test_the_results_notebook_runs_headless_and_draws_the_figure(completed: Callable[[str], Path], tmp_path: Path) -> None:
    import nbclient
    import nbformat

    project = copy_of(completed("snakemake"), tmp_path / "iris")
    notebook = nbformat.read(project / "notebooks" / "results.ipynb", as_version=4)

    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(project / "notebooks")}}
    ).execute()

    figure = project / RESULTS / "parallel_categories.png"
    assert figure.read_bytes().startswith(b"\x89PNG")
    text = "\n".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    )
    assert "test_accuracy" in text
    assert 0 == sum(output.get("output_type") == "error" for cell in notebook.cells for output in cell.get("outputs", []))


@pytest.mark.snakemake
def test_the_full_example_reaches_the_expected_accuracy(tmp_path: Path) -> None:
    """The README's pipeline with its real settings (2000 epochs), as `hatch run iris` runs it."""
    project = copy_project(IRIS, tmp_path / "iris")

    completed_run = run_engine("snakemake", project)

    best = json.loads((project / RESULTS / "best_model" / "test_results.json").read_text())
    assert FULL_RUN == dict(counts_since(project, 0))
    assert 2000 == best["n_epochs"]
    assert best["test_accuracy"] >= 0.93, best
    assert "test accuracy" in completed_run.stdout + completed_run.stderr
