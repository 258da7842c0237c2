"""examples/iris-seed-style: the seed README's Snakefile, verbatim, over the Iris modules.

One real run (few epochs, through the non-key override) is shared by the module.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from engines import BIN, IRIS, REPO, copy_project, environment, run

pytestmark = [pytest.mark.integration, pytest.mark.snakemake]

SEED_STYLE = REPO / "examples" / "iris-seed-style"
SNAKEMAKE = str(BIN / "snakemake")
FEW_EPOCHS = {"PHYPER_NON_KEYS": "n_epochs=20,log_interval=5"}
SEED_JOBS = {"_transform_data": 3, "_preprocess_data": 6, "_train_nn": 90, "compute_cv_scores": 1,
             "retrain_best_model": 1, "all": 1}


def job_stats(output: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints before running."""
    table = output[output.index("Job stats:") :]
    return {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE) if name != "total"}


def copy_examples(destination: Path) -> Path:
    """Both example folders, side by side as in the repository; returns the seed-style one."""
    copy_project(IRIS, destination / "examples" / "iris")
    return copy_project(SEED_STYLE, destination / "examples" / "iris-seed-style")


@pytest.fixture(scope="module")
def completed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The seed-style workflow after one whole run (shared: do not modify)."""
    project = copy_examples(tmp_path_factory.mktemp("seed-style"))
    first = run([SNAKEMAKE, "-j8", "all"], project, environment(**FEW_EPOCHS))
    return project, first.stdout + first.stderr


def test_dry_run_plans_3_6_90_1_1_jobs_and_creates_nothing(tmp_path: Path) -> None:
    project = copy_examples(tmp_path)

    dry = run([SNAKEMAKE, "-n", "all"], project)

    assert SEED_JOBS == job_stats(dry.stdout)
    assert not (project / "derived_data").exists()


def test_the_verbatim_snakefile_runs_end_to_end(completed: tuple[Path, str]) -> None:
    project, output = completed

    assert "102 of 102 steps (100%) done" in output
    best = json.loads((project / "derived_data" / "results" / "best_model" / "test_results.json").read_text())
    assert 20 == best["n_epochs"]
    assert 0.0 <= best["test_accuracy"] <= 1.0
    scores = (project / "derived_data" / "results" / "cross_validation_scores.csv").read_text().splitlines()
    assert 1 + 18 == len(scores)
    assert best["cross_validated_model_hash"] == scores[1].split(",")[0]


def test_every_file_is_where_the_iris_paths_put_it(completed: tuple[Path, str]) -> None:
    project, _ = completed
    code = (
        "import os\n"
        "from config import instances\n"
        "import paths\n"
        "expected = {f(i) for i in instances for f in (paths.get_transformed_dataset_path,\n"
        "    paths.get_preprocessed_dataset_path, paths.get_torch_model_path, paths.get_training_metrics_path)}\n"
        "print(len(expected), sorted(p for p in expected if not os.path.isfile(p)))\n"
    )

    assert f"{3 + 6 + 90 * 2} []" == run([sys.executable, "-c", code], project).stdout.strip()
    found = {p.relative_to(project / "derived_data").parts[0] for p in (project / "derived_data").rglob("*.npy")}
    assert {"transformed_data", "preprocessed_data"} == found


def test_a_second_run_does_nothing(completed: tuple[Path, str]) -> None:
    project, _ = completed

    again = run([SNAKEMAKE, "-n", "all"], project, environment(**FEW_EPOCHS))

    assert "Nothing to be done" in again.stdout + again.stderr
