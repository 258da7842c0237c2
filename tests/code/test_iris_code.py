"""Code changes on the Iris example, at the verdict level (nothing is retrained).

On a copy of the session's completed few-epoch run: editing ``train.py``'s training
loop makes the 90 trainings and what follows to run, for ``phyper status``,
``snakemake -n`` and ``doit list``; editing ``plots.py`` only the figure.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from engines import BIN, environment, run

pytestmark = [pytest.mark.integration, pytest.mark.snakemake, pytest.mark.doit]


def status(project: Path) -> list[str]:
    return run([sys.executable, "-m", "phyper", "status", "-v"], project, environment()).stdout.splitlines()


def snakemake_plans(project: Path) -> Counter[str]:
    """Engine jobs per rule that `snakemake -n` would run (batch jobs for train_model)."""
    dry = run([str(BIN / "snakemake"), "-n"], project).stdout
    if "Nothing to be done" in dry:
        return Counter()
    table = dry[dry.index("Job stats:"):].split("\ntotal")[0]
    rows = [line.split() for line in table.splitlines()]
    return Counter({row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit() and row[0] != "all"})


def doit_plans(project: Path) -> Counter[str]:
    listing = run([str(BIN / "doit"), "list", "--all", "--status"], project).stdout.splitlines()
    return Counter(line.split()[1].split(":")[0] for line in listing if line.startswith("R ") and ":" in line.split()[1])


def edited_copy(completed: Callable[[str], Path], tmp_path: Path, name: str = "", old: str = "", new: str = "") -> Path:
    """A copy (file times kept) of the completed run, with one edit when ``name`` is given."""
    project = tmp_path / "iris"
    shutil.copytree(completed("snakemake"), project, symlinks=True)
    if not name:
        return project
    path = project / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return project


def test_editing_the_training_loop_reruns_the_90_trainings_and_what_follows(
    completed: Callable[[str], Path], tmp_path: Path
) -> None:
    project = edited_copy(completed, tmp_path, "train.py", "            loss.backward()\n",
                          "            (loss * 1.0).backward()\n")
    lines = status(project)
    assert [
        "transform_data: 3/3 complete",
        "preprocess_data: 6/6 complete",
        "train_model: 0/90 complete, 90 to run in 7 of its 7 batch jobs",
        "compute_cv_scores: 0/1 complete, 1 to run",
        "retrain_best_model: 0/1 complete, 1 to run",
        "plot_results: 0/1 complete, 1 to run",
        "make_report: 0/1 complete, 1 to run",
    ] == lines[:7]
    assert "train_model: 90 job(s) made by older code (train.train changed)" in lines
    assert "retrain_best_model: 1 job(s) made by older code (train.train changed)" in lines
    after = {"compute_cv_scores": 1, "retrain_best_model": 1, "plot_results": 1, "make_report": 1}
    assert Counter({"train_model": 7, **after}) == doit_plans(project)  # its 7 batch jobs (batch=15)
    assert Counter({"train_model": 7, **after}) == snakemake_plans(project)


def test_editing_the_plots_module_reruns_only_the_figure_and_the_report_after_it(
    completed: Callable[[str], Path], tmp_path: Path
) -> None:
    project = edited_copy(completed, tmp_path, "plots.py", "dpi=120", "dpi=100")
    lines = status(project)
    assert "plot_results: 1 job(s) made by older code (plots.plot_cross_validation_scores changed)" in lines
    # the report embeds the figure, so it follows it; nothing upstream of the figure runs
    assert [line for line in lines if " to run" in line and ": " in line and not line.startswith(" ")] == [
        "plot_results: 0/1 complete, 1 to run",
        "make_report: 0/1 complete, 1 to run",
        "engine jobs to run: 2 of 20 (batch jobs for batched steps: what snakemake -n counts, besides its rule "
        "all, and doit list --all --status marks R)",
    ]
    assert Counter({"plot_results": 1, "make_report": 1}) == doit_plans(project)
    assert Counter({"plot_results": 1, "make_report": 1}) == snakemake_plans(project)


def test_results_made_with_other_package_versions_are_a_warning_never_a_rerun(
    completed: Callable[[str], Path], tmp_path: Path
) -> None:
    project = edited_copy(completed, tmp_path)
    folder = project / "derived_data" / ".phyper" / "done" / "train_model"
    records = sorted(path for path in folder.glob("*.json") if not path.name.startswith("batch-"))
    assert 90 == len(records)
    today = json.loads(records[0].read_text())["code"]["packages"]["torch"]
    for path in records:
        record = json.loads(path.read_text())
        record["code"]["packages"]["torch"] = "2.12.0"
        path.write_text(json.dumps(record))
    lines = status(project)
    assert "train_model: 90/90 complete" in lines
    assert (
        f"warning: train_model: 90 job(s) made with other package versions: torch 2.12.0 (now {today}); "
        "packages never trigger a rerun"
    ) in lines
    assert Counter() == doit_plans(project)
