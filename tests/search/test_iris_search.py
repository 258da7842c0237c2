"""The Iris example's TPE search (examples/iris/pipeline.py, ``search``) over a grid an engine completed."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from engines import counts_since, environment, job_log, run

FEW_EPOCHS = {"PHYPER_NON_KEYS": "n_epochs=20,log_interval=5"}


@pytest.mark.snakemake
def test_a_search_over_the_completed_grid_runs_no_job_and_reads_every_objective(
    completed: Callable[[str], Path], tmp_path: Path
) -> None:
    project = tmp_path / "iris"
    shutil.copytree(completed("snakemake"), project, symlinks=True)
    before = len(job_log(project))

    searched = run([sys.executable, "-m", "phyper", "search", "run", "--trials", "6", "-j", "2"], project,
                   environment(**FEW_EPOCHS))
    shown = json.loads(run([sys.executable, "-m", "phyper", "search", "show", "--json"], project).stdout)
    run([sys.executable, "-m", "phyper", "collect", "-o", "results.csv"], project, environment(**FEW_EPOCHS))

    # every point of this space is in the grid: each proposal is told from the records
    assert Counter() == counts_since(project, before), searched.stdout
    assert 6 == searched.stdout.count("from the records, no job"), searched.stdout
    assert [0, 1, 2, 3, 4, 5] == [trial["number"] for trial in shown["trials"]]
    with open(project / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for trial in shown["trials"]:
        folds = [float(row["validation_accuracy"]) for row in rows if row["cross_validated_model_hash"] == trial["hash"]]
        assert 5 == len(folds)
        assert sum(folds) / 5 == pytest.approx(trial["objective"], abs=1e-12)
    best = max(trial["objective"] for trial in shown["trials"])
    assert best == shown["best"]["objective"]

    page = project / "report.html"
    run([sys.executable, "-m", "phyper", "report", "-o", str(page)], project, environment(**FEW_EPOCHS))
    data = json.loads(re.search(r'<script type="application/json" id="phyper-data">(.*?)</script>', page.read_text(),
                                re.S).group(1))  # type: ignore[union-attr]
    (section,) = data["searches"]
    assert 6 == section["count"]
    assert ["transformation", "centering", "n_hidden_layers"] == section["keys"]
    assert best == max(section["best_so_far"])


@pytest.mark.doit
def test_a_fresh_search_shares_the_datasets_and_trains_each_configuration_once(tmp_path: Path) -> None:
    from engines import IRIS, copy_project

    project = copy_project(IRIS, tmp_path / "iris")

    run([sys.executable, "-m", "phyper", "search", "run", "--trials", "3", "-j", "2", "--engine", "doit"], project,
        environment(**FEW_EPOCHS))
    shown = json.loads(run([sys.executable, "-m", "phyper", "search", "show", "--json"], project).stdout)
    ran = counts_since(project, 0)
    points = {trial["hash"] for trial in shown["trials"]}

    assert 3 == len(shown["trials"]) and {"complete"} == {trial["state"] for trial in shown["trials"]}
    assert ran["transform_data"] == len({trial["transformation"] for trial in shown["trials"]}) <= 3
    assert ran["preprocess_data"] == len({(t["transformation"], t["centering"]) for t in shown["trials"]}) <= 6
    assert 5 * len(points) == ran["train_model"]
    assert {"transform_data", "preprocess_data", "train_model"} == set(ran), "no aggregate runs for a search"
