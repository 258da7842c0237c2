"""phyper-doit on a toy pipeline: tasks per step, sub-tasks per hash, parallel runs."""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import phyper
import phyper_doit
from engines import BIN, TOY, copy_project, counts_since, job_log, run, run_engine

pytestmark = pytest.mark.doit

DOIT = str(BIN / "doit")


def executed(output: str) -> list[str]:
    """Jobs doit reports as started: phyper's reporter announces each (`<step>(<values>) <hash> · <why>`);
    up-to-date jobs are only counted, in the closing line."""
    return re.findall(r"^(\w+\(.*\)(?: [0-9a-f]{8})?) · .+$", output, re.MULTILINE)


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    return copy_project(TOY, tmp_path / "toy")


def test_doit_list_shows_the_steps_and_their_jobs(toy: Path) -> None:
    steps = run([DOIT, "list"], toy).stdout
    everything = run([DOIT, "list", "--all"], toy).stdout

    assert ["preprocess", "score", "train", "transform"] == [line.split()[0] for line in steps.splitlines()]
    assert "Write the transformation." in steps
    assert 90 == len(re.findall(r"^train:[0-9a-f]{32}\s", everything, re.MULTILINE))
    assert 1 == len(re.findall(r"^score:all\s", everything, re.MULTILINE))


def test_task_dicts_carry_dependencies_targets_and_the_completion_check(toy: Path, import_project: Callable[[Path], None]) -> None:
    import_project(toy)
    import config

    tasks = {f"{t['basename']}:{t['name']}": t for t in phyper_doit.task_dicts("pipeline:pipeline") if t["name"]}
    instance = config.instances[0]
    train = tasks[f"train:{instance.get_instance_hash()}"]

    assert [f"preprocess:{instance.get_instance_hash('preprocessed_data')}"] == train["task_dep"]
    assert [
        f"derived_data/all/{instance.get_instance_hash()}/model.txt",
        f"derived_data/.phyper/done/train/{instance.get_instance_hash()}.json",
    ] == train["targets"]
    assert phyper.job_command("pipeline:pipeline", "train", instance.get_instance_hash(), engine="doit") == train["actions"][0]
    assert "file_dep" not in train
    check, arguments, keywords = pickle.loads(pickle.dumps(train["uptodate"][0]))
    assert False is check(*arguments, **keywords)
    assert 90 == len(tasks["score:all"]["task_dep"])


def test_parallel_run_then_nothing_to_do(toy: Path) -> None:
    first = run_engine("doit", toy, jobs=8)
    again = run_engine("doit", toy, jobs=8)

    assert {"transform": 3, "preprocess": 6, "train": 90, "score": 1} == dict(counts_since(toy, 0))
    assert 100 == len(executed(first.stdout))
    assert "phyper: 100 jobs ran, 0 already done, 0 failed; `phyper status` shows the state" in first.stdout
    assert [] == executed(again.stdout)
    assert "phyper: 0 jobs ran, 100 already done, 0 failed; `phyper status` shows the state" in again.stdout
    assert 100 == len(job_log(toy))
    assert {"doit"} == {entry["engine"] for entry in job_log(toy)}


def test_one_process_and_eight_give_the_same_files(toy: Path, tmp_path: Path) -> None:
    serial = copy_project(TOY, tmp_path / "serial")

    run_engine("doit", toy, jobs=8)
    run_engine("doit", serial, jobs=1)

    files = sorted(p.relative_to(toy) for p in (toy / "derived_data").rglob("*") if p.is_file() and ".phyper" not in p.parts)
    assert 100 + 6 + 3 + 90 == len(files)  # outputs plus one manifest per hashed folder (3 + 6 + 90)
    assert [(p, (toy / p).read_bytes()) for p in files] == [(p, (serial / p).read_bytes()) for p in files]
