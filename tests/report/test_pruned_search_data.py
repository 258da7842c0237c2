"""The data behind the report's learning curves: a pruned search's curves, pruned trials and epochs.

A fixed plan of six trials (tests/report/pruned_study.py) is asked of the search's own
study (real Optuna, its journal), rung by rung: the jobs run through phyper, each rung
continuing from the lower one, the objective is reported at each budget, and the trial
is told PRUNED or COMPLETE. The plan is known, so every figure is worked out by hand
here, and the epochs phyper says it trained are the lines `fit` appended to epochs.log.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from engines import REPO, copy_project, environment, run

FIXTURE = REPO / "tests" / "fixtures" / "pruned"
STUDY = REPO / "tests" / "report" / "pruned_study.py"

# the plan: (lr, rungs reached, state); trials 4 and 5 repeat the configurations of trials 1 and 0
PLAN = [(1.0, [1], "pruned"), (2.0, [1, 3], "pruned"), (4.0, [1, 3, 9], "complete"), (3.0, [1, 3, 9], "complete"),
        (2.0, [1, 3, 9], "complete"), (1.0, [1], "pruned")]
# every rung each trial reached, from zero: 1 + (1+3) + 13 + 13 + 13 + 1
FROM_SCRATCH = 45
# each trial once to its highest rung: 1 + 3 + 9 + 9 + 9 + 1
ONE_RUN_PER_TRIAL = 32
# continuing: lr=1 trains 1; lr=2 1, then 2 (to 3), then 6 (to 9); lr=3 and lr=4 9 each
TRAINED = 1 + (1 + 2 + 6) + 9 + 9
# the jobs of fit: lr=1 at 1; lr=2, 3, 4 at 1, 3, 9; all but the four at rung 1 continued
JOBS, CONTINUED = 10, 6


def make_study(project: Path, **env: str) -> dict[str, Any]:
    run([sys.executable, str(STUDY)], project, environment(**env))
    return dict(json.loads(run([sys.executable, "-m", "phyper", "search", "show", "--json"], project).stdout))


def epochs_logged(project: Path) -> int:
    return len((project / "epochs.log").read_text().splitlines())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(FIXTURE, tmp_path / "pruned")


def test_the_curves_the_pruned_trials_and_the_epochs_of_a_pruned_search(project: Path) -> None:
    shown = make_study(project)

    trials = shown["trials"]
    assert [(lr, state) for lr, _, state in PLAN] == [(trial["lr"], trial["state"]) for trial in trials]
    assert [rungs for _, rungs, _ in PLAN] == [[point["budget"] for point in trial["rungs"]] for trial in trials]
    assert [rungs[-1] for _, rungs, _ in PLAN] == [trial["budget"] for trial in trials]
    assert [0, 1, 5] == shown["pruned"]
    assert {"key": "n_epochs", "rungs": [1, 3, 9]} == shown["fidelity"]
    assert TRAINED == epochs_logged(project) == 28
    assert {"steps": ["fit"], "trained": TRAINED, "from_scratch": FROM_SCRATCH, "one_run_per_trial": ONE_RUN_PER_TRIAL,
            "jobs": JOBS, "continued": CONTINUED, "missing": 0} == shown["epochs"]
    # the curve is the score fit wrote at each rung (the study's intermediate values), read back from its model files
    for trial in trials:
        for point in trial["rungs"]:
            assert point["objective"] == score(project, trial["lr"], point["budget"])


def test_results_trained_from_scratch_count_every_rung_once(project: Path) -> None:
    shown = make_study(project, PRUNED_FROM_SCRATCH="1")

    # no record names a lower rung: each distinct job trained its rung from zero, shared between trials
    trained = 1 + (1 + 3 + 9) * 3
    assert trained == epochs_logged(project) == 40
    assert (trained, FROM_SCRATCH, ONE_RUN_PER_TRIAL, JOBS, 0) == tuple(
        shown["epochs"][name] for name in ("trained", "from_scratch", "one_run_per_trial", "jobs", "continued")
    )


def test_a_rung_whose_record_is_gone_is_not_counted(project: Path) -> None:
    make_study(project)
    records = sorted((project / "derived_data" / ".phyper" / "done" / "fit").glob("*.json"))
    assert JOBS == len(records)
    top = [path for path in records if (json.loads(path.read_text()).get("continued_from") or {}).get("budget") == 3]
    assert 3 == len(top)  # lr=2, 3, 4 at 9, each continued from 3
    top[0].unlink()

    shown = json.loads(run([sys.executable, "-m", "phyper", "search", "show", "--json"], project).stdout)

    assert (TRAINED - 6, JOBS - 1, CONTINUED - 1, 1) == tuple(
        shown["epochs"][name] for name in ("trained", "jobs", "continued", "missing")
    )
    assert FROM_SCRATCH == shown["epochs"]["from_scratch"]


def score(project: Path, lr: float, n_epochs: int) -> float:
    """The score fit wrote for (lr, n_epochs), found through the manifests phyper writes beside each result."""
    found = []
    for manifest in (project / "derived_data" / "all").glob("*/phyper-manifest.json"):
        values = json.loads(manifest.read_text())["key_values"]
        if (values["lr"], values["n_epochs"]) == ({"float": lr}, n_epochs):
            found.append(json.loads((manifest.parent / "model.json").read_text())["score"])
    assert 1 == len(found), (lr, n_epochs, found)
    return float(found[0])
