"""Grids gain too: a grid over ``n_epochs: [10, 30, 90]`` trains 90 epochs per configuration, not 130.

The ladder project (`tests/fixtures/ladder`): `fit` declares ``continues='n_epochs'``
and continues from `phyper.continued_from`; each epoch it trains appends a line to
``epochs.log``. Both engines, as a user runs them (``snakemake -j8 all``, ``doit -n 8``):
the plan orders each rung after the one below it, so eight workers still train every
epoch once, and the results equal the from-scratch arithmetic.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

from conftest import BUDGETS, LRS, epochs_trained, from_scratch, models
from engines import BIN, counts_since, environment, job_log, run, run_engine


def _record(project: Path, key: str) -> dict[str, object]:
    return json.loads((project / "derived_data" / ".phyper" / "done" / "fit" / f"{key}.json").read_text())


def _keys(project: Path) -> dict[tuple[int, int], str]:
    """(lr, n_epochs) -> the job key of `fit`, from the folders the runs wrote."""
    found = {}
    for manifest in (project / "derived_data" / "all").glob("*/phyper-manifest.json"):
        values = json.loads(manifest.read_text())["key_values"]
        found[(values["lr"], values["n_epochs"])] = manifest.parent.name
    return found


def test_a_grid_trains_each_epoch_once_and_equals_training_from_scratch(ladder: Path) -> None:
    assert epochs_trained(ladder) == Counter(f"lr={lr} epoch={n}" for lr in LRS for n in range(max(BUDGETS)))
    assert models(ladder) == {
        (lr, budget): {"state": from_scratch(lr, budget), "epochs": budget} for lr in LRS for budget in BUDGETS
    }
    assert counts_since(ladder, 0) == Counter({"prepare": 1, "fit": len(LRS) * len(BUDGETS)})
    # each result names the lower rung it continued from; the lowest trained from scratch
    keys = _keys(ladder)
    for lr in LRS:
        assert "continued_from" not in _record(ladder, keys[(lr, 10)])
        for lower, upper in zip(BUDGETS, BUDGETS[1:]):
            named = _record(ladder, keys[(lr, upper)])["continued_from"]
            assert named == {
                "record": os.path.join("derived_data", ".phyper", "done", "fit", f"{keys[(lr, lower)]}.json"),
                "key": keys[(lr, lower)],
                "continues": "n_epochs",
                "budget": lower,
            }
    status = run([sys.executable, "-m", "phyper", "status"], ladder, environment()).stdout
    assert status == "prepare: 1/1 complete\nfit: 6/6 complete\n"


def test_deleting_a_lower_rung_reruns_it_alone(ladder: Path, backend: str) -> None:
    keys = _keys(ladder)
    for lr in LRS:
        os.remove(ladder / "derived_data" / "all" / keys[(lr, 10)] / "model.json")
    (ladder / "epochs.log").unlink()
    before = len(job_log(ladder))
    run_engine(backend, ladder, jobs=8)
    # the 10-epoch rungs run again (they are the grid's results); the 30 and 90 that
    # continued from them do not: a lower rung is an optional input
    assert counts_since(ladder, before) == Counter({"fit": len(LRS)})
    assert epochs_trained(ladder) == Counter(f"lr={lr} epoch={n}" for lr in LRS for n in range(10))
    assert models(ladder)[(1, 90)] == {"state": from_scratch(1, 90), "epochs": 90}


def test_forcing_the_step_trains_each_epoch_once_again(ladder: Path, backend: str) -> None:
    (ladder / "epochs.log").unlink()
    before = len(job_log(ladder))
    command = [str(BIN / "snakemake"), "-j8", "-R", "fit"] if backend == "snakemake" else [str(BIN / "doit"), "-n", "8", "-a", "fit"]
    run(command, ladder, environment())
    assert counts_since(ladder, before) == Counter({"fit": len(LRS) * len(BUDGETS)})
    assert epochs_trained(ladder) == Counter(f"lr={lr} epoch={n}" for lr in LRS for n in range(max(BUDGETS)))
    assert models(ladder) == {
        (lr, budget): {"state": from_scratch(lr, budget), "epochs": budget} for lr in LRS for budget in BUDGETS
    }
