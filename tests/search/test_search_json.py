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
    assert {"number", *KEYS, "hash", "state", "objective", "stale"} == set(trial)
    assert isinstance(trial["number"], int) and isinstance(trial["hash"], str)
    assert all(isinstance(trial[key], kind) for key, kind in KEYS.items()), trial
    assert trial["state"] in STATES
    assert (trial["objective"] is None) == (trial["state"] != "complete")
    assert trial["objective"] is None or isinstance(trial["objective"], NUMBER)
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
    assert {"number", "hash", "params", "state", "objective", "source", "seconds"} == set(told)
    assert isinstance(told["number"], int) and isinstance(told["hash"], str)
    assert set(KEYS) == set(told["params"])
    assert told["state"] in ("complete", "failed") and told["source"] in ("records", "engine")
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
