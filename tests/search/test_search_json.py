"""``phyper search show --json`` and ``search run --json`` hold to their schema in docs/cli.md.

The schema is written here once, by hand, from docs/cli.md (not from the code under
test): every key, its type, nothing more. A real search with doit makes the output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from engines import REPO, copy_project, environment, run

TOY = REPO / "tests" / "fixtures" / "search_toy"
KEYS = {"scale": str, "x": float, "depth": int}
STATES = {"waiting", "running", "complete", "failed", "pruned"}
NUMBER = (int, float)


def check_trial(trial: dict[str, Any]) -> None:
    assert {"number", *KEYS, "hash", "state", "objective", "budget", "rungs", "stale"} == set(trial)
    assert isinstance(trial["number"], int) and isinstance(trial["hash"], str)
    assert all(isinstance(trial[key], kind) for key, kind in KEYS.items()), trial
    assert trial["state"] in STATES
    assert (trial["objective"] is None) == (trial["state"] not in ("complete", "pruned"))
    assert trial["objective"] is None or isinstance(trial["objective"], NUMBER)
    assert trial["budget"] is None or isinstance(trial["budget"], NUMBER)
    assert isinstance(trial["rungs"], list)
    for rung in trial["rungs"]:
        assert {"budget", "objective"} == set(rung) and all(isinstance(value, NUMBER) for value in rung.values())
    assert isinstance(trial["stale"], bool)


def check_show(shown: dict[str, Any]) -> None:
    assert {"search", "objective", "direction", "trials", "best", "best_current"} == set(shown)
    assert isinstance(shown["search"], str) and isinstance(shown["objective"], str)
    assert shown["direction"] in ("maximize", "minimize")
    for trial in shown["trials"]:
        check_trial(trial)
    for best in (shown["best"], shown["best_current"]):
        if best is not None:
            check_trial(best)


def check_told(told: dict[str, Any]) -> None:
    assert {"number", "hash", "params", "state", "objective", "budget", "source", "seconds"} == set(told)
    assert isinstance(told["number"], int) and isinstance(told["hash"], str)
    assert set(KEYS) == set(told["params"])
    assert told["state"] in ("complete", "pruned", "failed") and told["source"] in ("records", "engine")
    assert told["budget"] is None or isinstance(told["budget"], NUMBER)
    assert told["objective"] is None or isinstance(told["objective"], NUMBER)
    assert isinstance(told["seconds"], NUMBER)


@pytest.mark.doit
def test_search_show_and_run_json_hold_to_the_documented_schema(tmp_path: Path) -> None:
    project = copy_project(TOY, tmp_path / "search_toy")
    env = environment(SEARCH_TOY_FAIL_ABOVE="0.5")
    command = [sys.executable, "-m", "phyper", "search", "run", "--trials", "4", "--engine", "doit", "--json"]

    ran = json.loads(run(command, project, env).stdout)
    shown = json.loads(run([sys.executable, "-m", "phyper", "search", "show", "--json"], project, env).stdout)

    assert {"search", "finished", "exhausted", "told", "best"} == set(ran)
    assert (4, False) == (ran["finished"], ran["exhausted"])
    for told in ran["told"]:
        check_told(told)
    if ran["best"] is not None:
        check_trial(ran["best"])
    check_show(shown)
    assert [0, 1, 2, 3] == [trial["number"] for trial in shown["trials"]]
    assert [told["state"] for told in sorted(ran["told"], key=lambda t: t["number"])] == [
        trial["state"] for trial in shown["trials"]
    ]
    assert {"complete", "failed"} == {trial["state"] for trial in shown["trials"]}, shown


@pytest.mark.doit
def test_pruned_trials_in_json_name_their_highest_rung(tmp_path: Path) -> None:
    project = copy_project(REPO / "tests" / "fixtures" / "prune_toy", tmp_path / "prune_toy")
    command = [sys.executable, "-m", "phyper", "search", "run", "--search", "search", "--trials", "4",
               "--engine", "doit", "--json"]
    global KEYS
    saved, KEYS = KEYS, {"scale": str, "lr": float}
    try:
        ran = json.loads(run(command, project, environment()).stdout)
        shown = json.loads(run([sys.executable, "-m", "phyper", "search", "show", "--search", "search", "--json"],
                               project, environment()).stdout)
        for told in ran["told"]:
            check_told(told)
        check_show(shown)
    finally:
        KEYS = saved
    states = {trial["state"] for trial in shown["trials"]}
    assert "pruned" in states and "complete" in states, shown
    for trial in shown["trials"]:
        assert [rung["budget"] for rung in trial["rungs"]] == [1, 3, 9][: len(trial["rungs"])]
        assert trial["budget"] == trial["rungs"][-1]["budget"]
        assert (trial["budget"] == 9) == (trial["state"] == "complete"), trial
        assert trial["objective"] == trial["rungs"][-1]["objective"]
    assert {told["number"]: told["budget"] for told in ran["told"]} == {t["number"]: t["budget"] for t in shown["trials"]}
