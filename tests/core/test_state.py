"""The state folder's owner: its paths, one walk of the records, and verdicts that belong to their pipeline."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import phyper
from phyper._state.store import LocalStateFolder


class Grid(phyper.Parser):
    width = 1


def model_path(instance: Grid) -> str:
    return os.path.join(instance.get_resources_path(), "model.txt")


def train_one(instance: Grid) -> None:
    Path(model_path(instance)).write_text(f"one {instance.width}")


def train_two(instance: Grid) -> None:
    Path(model_path(instance)).write_text(f"two {instance.width}")


def variant(function: Callable[[Grid], None]) -> phyper.Pipeline:
    """A pipeline of one step called `train`, whose code is ``function``."""
    instances = Grid(hashed_resources_folder="derived_data").get_instances_from_dictionary({"width": [1, 2]})
    pipeline = phyper.Pipeline(instances)
    pipeline.per_instance(outputs=[model_path], name="train")(function)
    return pipeline


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def to_run(pipeline: phyper.Pipeline) -> dict[str, str]:
    return {verdict.job.id: verdict.reason for verdict in phyper.Verdicts(pipeline.plan()) if verdict.to_run}


def test_two_pipelines_on_one_state_folder_each_judge_records_with_their_own_code() -> None:
    first = variant(train_one)
    for job in first.plan():
        phyper.run_job(first, job.step, job.key)
    second = variant(train_two)  # same state folder, same step name, other code: declared after the first ran

    assert first.state_folder == second.state_folder
    assert {} == to_run(first)  # the first one's finished jobs stay complete for it
    reasons = to_run(second)
    assert sorted(job.id for job in second.plan()) == sorted(reasons)
    assert all(reason.startswith("made by older code (") and "train_two" in reason for reason in reasons.values())

    for job in second.plan():
        phyper.run_job(second, job.step, job.key)

    assert {} == to_run(second)
    assert sorted(job.id for job in first.plan()) == sorted(to_run(first))  # now made by the second one's code
    assert ["two 1", "two 2"] == sorted(Path(job.outputs[0]).read_text() for job in second.plan())


def test_every_path_under_the_state_folder_comes_from_its_owner(tmp_path: Path) -> None:
    pipeline = variant(train_one)
    state = pipeline.state
    job = pipeline.plan().jobs_of("train")[0]

    phyper.run_job(pipeline, job.step, job.key)

    root = Path(pipeline.state_folder)
    assert root == Path("derived_data", ".phyper") and (tmp_path / root).is_dir()
    assert job.record == state.record_path("train", job.key)
    assert Path(job.record).is_file() and [(job.key, job.record)] == list(state.iter_records("train"))
    assert ["train"] == state.record_steps() and frozenset({job.key}) == state.record_names("train")
    assert (root / "locks" / "train" / f"{job.key}.lock").is_file()
    assert str(root / "locks" / "train" / f"{job.key}.lock") == LocalStateFolder(root).lock_path("train", job.key)
    logged = [json.loads(line) for line in (root / "jobs.jsonl").read_text().splitlines()]
    assert [("train", job.key, "done")] == [(e["step"], e["key"], e["status"]) for e in logged]
    assert [entry.fields for entry in state.iter_log()] == logged == phyper.read_job_log(pipeline)
    digest = json.loads(Path(job.record).read_text())["code"]["digest"]
    assert Path(state.code_manifest_path(digest)).is_file()
    search = state.search("grid-1")
    assert str(root / "search" / "grid-1") == search.folder
    assert str(root / "search" / "grid-1" / "journal.log") == search.journal_path()
    assert str(root / "search" / "grid-1" / "trials" / "ab.json") == search.trial_record_path("ab")
    assert str(root / "search" / "grid-1" / "owners" / "3.lock") == search.owner_lock_path(3)
    assert str(root / "plan-cache") == state.plan_cache_folder()


def test_the_walk_of_a_step_s_records_skips_temporaries_and_lists_strangers(tmp_path: Path) -> None:
    state = LocalStateFolder(tmp_path / "state")
    folder = Path(state.record_folder("fit"))
    folder.mkdir(parents=True)
    for name in ("b.json", "a.json", ".a.json.tmp-123", "notes.txt"):
        (folder / name).write_text("{}")

    walked = list(state.iter_records("fit"))

    assert [("a", str(folder / "a.json")), ("b", str(folder / "b.json")), ("notes.txt", str(folder / "notes.txt"))] == walked
    assert [] == list(state.iter_records("absent")) and [] == LocalStateFolder(tmp_path / "none").record_steps()
