"""The digits example, copied to a temporary folder and run as its README says, on both engines.

The grid, then a TPE search of two trials, then the grid's command again: real
executions and epochs trained are counted (each training appends one line per epoch
to its folder's ``epochs.log``). The copy trains few epochs: ``n_epochs`` is a key
here, so the copy's config.py is edited (grid budgets 2 and 4, default 4), and so is the
search's budget in pipeline.py (rungs 2 and 4, Hyperband).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from engines import REPO, copy_project, environment, job_log, run, run_engine

pytestmark = pytest.mark.integration

DIGITS = REPO / "examples" / "digits"
GRID_RUN = {"split_data": 1, "train_model": 8, "compute_scores": 1, "retrain_best_model": 1,
            "plot_learning_curves": 1, "make_report": 1}
AGGREGATES = {"compute_scores": 1, "retrain_best_model": 1, "plot_learning_curves": 1, "make_report": 1}
RESULTS = Path("derived_data") / "results"


def few_epochs(project: Path) -> None:
    edits = {"config.py": [("    n_epochs = 30\n", "    n_epochs = 4\n"), ("'n_epochs': [10, 30]", "'n_epochs': [2, 4]")],
             "pipeline.py": [("phyper.budget('n_epochs', low=10, high=90, factor=3)",
                              "phyper.budget('n_epochs', low=2, high=4, factor=2)")]}
    for name, replacements in edits.items():
        text = (project / name).read_text()
        for old, new in replacements:
            assert old in text
            text = text.replace(old, new)
        (project / name).write_text(text)


def epochs_trained(project: Path) -> Counter[str]:
    """Lines of every model folder's epochs.log, by folder (the model's hash)."""
    return Counter({log.parent.name: len(log.read_text().splitlines())
                    for log in (project / "derived_data" / "all").glob("*/epochs.log")})


def done_between(project: Path, start: int, end: int | None = None) -> dict[str, int]:
    """Jobs per step that ran to completion between two lengths of the job log."""
    return dict(Counter(str(entry["step"]) for entry in job_log(project)[start:end] if entry.get("status", "done") == "done"))


def test_grid_then_search_then_grid_runs_each_job_once(backend: str, tmp_path: Path) -> None:
    project = copy_project(DIGITS, tmp_path / "digits")
    few_epochs(project)

    run_engine(backend, project)
    grid_epochs = epochs_trained(project)
    best = json.loads((project / RESULTS / "best_model" / "test_results.json").read_text())
    best_epochs = (project / RESULTS / "best_model" / "epochs.log").read_text().splitlines()
    after_grid = len(job_log(project))
    searched = run([sys.executable, "-m", "phyper", "search", "run", "--trials", "2", "-j", "2", "--engine", backend],
                   project, environment())
    shown = json.loads(run([sys.executable, "-m", "phyper", "search", "show", "--json"], project).stdout)
    after_search = len(job_log(project))
    run_engine(backend, project)
    after_all = len(job_log(project))
    again = run_engine(backend, project)

    assert GRID_RUN == done_between(project, 0, after_grid)
    # 4 configurations x 4 epochs: the 4-epoch models continue from the 2-epoch ones, each epoch trained once
    assert 8 == len(grid_epochs) and 4 * 4 == sum(grid_epochs.values())
    assert [f"epoch {epoch}" for epoch in range(1, best["n_epochs"] + 1)] == best_epochs
    assert best["n_test_samples"] == 359 and 0.5 < best["test_accuracy"] <= 1.0

    # the search: two new configurations, rung by rung (2, then 4 epochs continuing: the
    # first to report at 2 is promoted); the split is shared
    trials = shown["trials"]
    rungs = sum(len(trial["rungs"]) for trial in trials)
    assert 2 == len(trials) and {"complete", "pruned"} >= {trial["state"] for trial in trials}, searched.stdout
    assert "complete" in {trial["state"] for trial in trials}
    assert {"train_model": rungs} == done_between(project, after_grid, after_search)
    searched_epochs = epochs_trained(project) - grid_epochs
    assert rungs == len(searched_epochs)
    assert sum(trial["budget"] for trial in trials) == sum(searched_epochs.values())

    # the grid's command then scores the trials with the grid; nothing is trained again
    assert AGGREGATES == done_between(project, after_search, after_all)
    assert {} == done_between(project, after_all)
    assert 1 + 8 + rungs == len((project / RESULTS / "validation_scores.csv").read_text().splitlines())
    assert 4 * 4 + sum(trial["budget"] for trial in trials) == sum(epochs_trained(project).values())
    assert (project / RESULTS / "learning_curves.png").read_bytes().startswith(b"\x89PNG")
    assert "learning_curves.png" in (project / RESULTS / "report.html").read_text()
    assert again.returncode == 0
