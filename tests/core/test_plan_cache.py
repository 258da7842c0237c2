"""The plan cache: a fresh process reads an unchanged project's plan instead of building it,
and anything the plan depends on makes it build again (each case in real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

CONFIG = """\
import os
import phyper


class NonKeys:
    epochs = 3


class Instance(phyper.Parser, NonKeys):
    transformation = "identity"
    seed = 0


parser = Instance(hashed_resources_folder="derived_data")
parser.register_new_resource("data", ["transformation"])
instances = parser.get_instances_from_dictionary({"transformation": ["identity", "log"], "seed": list(range(SEEDS))})
"""

PATHS = """\
import os

CALLS = [0]  # how many times the plan asked for a job's files


def data_path(instance):
    CALLS[0] += 1
    return os.path.join(instance.get_resources_path("data"), "data.txt")


def model_path(instance):
    CALLS[0] += 1
    return os.path.join(instance.get_resources_path(), MODEL_FILE)


def summary_path():
    return os.path.join("derived_data", "results", "summary.txt")
"""

PIPELINE = """\
import phyper
from config import instances
from paths import data_path, model_path, summary_path

pipeline = phyper.Pipeline(instances)


@pipeline.per_resource("data", outputs=[data_path])
def make_data(instance):
    "Make the data."


@pipeline.per_instance(inputs=[data_path], outputs=[model_path])
def train(instance):
    "Train."


@pipeline.aggregate(inputs=[model_path], outputs=[summary_path])
def summarise(instances):
    "Summarise."
"""

SHOW_PLAN = """\
import json, sys
sys.path.insert(0, ".")
import paths, pipeline
plan = pipeline.pipeline.plan(cache=True)
calls = paths.CALLS[0]
print(json.dumps({
    "calls": calls,
    "steps": [[s.name, s.keys, s.output_templates, s.upstream, s.batch_size, s.batch_keys] for s in plan.steps],
    "jobs": [[j.id, j.inputs, j.outputs, j.record, j.dependencies, j.batch] for j in plan],
    "engine_jobs": [[j.id, j.record, j.dependencies, j.members] for j in plan.engine_jobs()],
}))
"""


def write_project(folder: Path, *, seeds: int = 3, model_file: str = "model.txt") -> None:
    # a project that has run: the cache lives in the state folder the first job makes
    (folder / "derived_data" / ".phyper").mkdir(parents=True, exist_ok=True)
    (folder / "config.py").write_text(f"SEEDS = {seeds}\n" + CONFIG)
    (folder / "paths.py").write_text(f"MODEL_FILE = {model_file!r}\n" + PATHS)
    (folder / "pipeline.py").write_text(PIPELINE)


def show_plan(folder: Path, **environment: str) -> tuple[dict[str, Any], str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PHYPER_")}
    env.update(environment)
    completed = subprocess.run(
        [sys.executable, "-c", SHOW_PLAN], cwd=folder, env=env, capture_output=True, text=True, check=True
    )
    shown = json.loads(completed.stdout)
    return shown, completed.stderr


def cache_files(folder: Path) -> list[str]:
    cache = folder / "derived_data" / ".phyper" / "plan-cache"
    return sorted(path.name for path in cache.iterdir()) if cache.exists() else []


def without_calls(shown: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in shown.items() if key != "calls"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_project(tmp_path)
    return tmp_path


def test_a_second_process_reads_the_plan_instead_of_building_it(project: Path) -> None:
    built, _ = show_plan(project)
    assert 1 == len(cache_files(project))
    read, stderr = show_plan(project)
    uncached, _ = show_plan(project, PHYPER_PLAN_CACHE="0")
    assert without_calls(uncached) == without_calls(built) == without_calls(read)
    # building asks every job for its files: each hashed step's template (2), the 2 data
    # jobs' outputs, the 6 models' outputs and inputs (12), the summary's 6 inputs; reading,
    # only the spot check: the first instance's data job (1), 3 models' outputs and inputs (6)
    assert (22, 7) == (built["calls"], read["calls"])
    assert "" == stderr


def test_batches_come_back_from_the_cache_with_their_members(project: Path) -> None:
    built, _ = show_plan(project, PHYPER_BATCH="train=2")
    read, _ = show_plan(project, PHYPER_BATCH="train=2")
    assert read["calls"] < built["calls"]
    assert without_calls(built) == without_calls(read)
    (train,) = [s for s in read["steps"] if s[0] == "train"]
    assert train[5] and all(key.endswith("-of-4") for key in train[5])  # 6 models, 2 per batch: 4 batches
    assert 6 == sum(len(job[3]) for job in read["engine_jobs"] if job[0].startswith("train:"))
    assert all(job[5] is not None for job in read["jobs"] if job[0].startswith("train:"))


def test_changing_the_grid_the_batches_or_the_code_builds_the_plan_again(project: Path) -> None:
    first, _ = show_plan(project)
    write_project(project, seeds=4)  # a new seed: 8 models
    grown, _ = show_plan(project)
    assert 8 == sum(job[0].startswith("train:") for job in grown["jobs"])
    batched, _ = show_plan(project, PHYPER_BATCH="train=4")
    assert [2] == [len(s[5]) for s in batched["steps"] if s[0] == "train"]  # 8 models, 4 per batch
    time.sleep(0.01)  # a new modification time even on coarse file systems
    write_project(project, seeds=4, model_file="weights.pt")  # paths.py edited: other file names
    renamed, _ = show_plan(project)
    assert all(job[2][0].endswith("/weights.pt") for job in renamed["jobs"] if job[0].startswith("train:"))
    assert renamed["calls"] > first["calls"]
    assert 4 == len(cache_files(project))  # the newest four are kept
    write_project(project, seeds=3)  # back to the first project: read again, not built
    back, _ = show_plan(project)
    assert without_calls(first) == without_calls(back)


def test_a_path_function_reading_the_environment_is_caught_by_the_spot_check(project: Path) -> None:
    (project / "paths.py").write_text(
        "import os\nMODEL_FILE = os.environ.get('MODEL_FILE', 'model.txt')\n" + PATHS
    )
    show_plan(project)
    moved, stderr = show_plan(project, MODEL_FILE="other.txt")
    assert "the cached plan disagrees with the pipeline (the files of job train:" in stderr
    assert all(job[2][0].endswith("/other.txt") for job in moved["jobs"] if job[0].startswith("train:"))


def test_a_damaged_cache_file_is_built_again_and_no_cache_when_turned_off(project: Path) -> None:
    built, _ = show_plan(project)
    (name,) = cache_files(project)
    path = project / "derived_data" / ".phyper" / "plan-cache" / name
    path.write_bytes(path.read_bytes()[:100])  # cut by a full disk, say
    again, stderr = show_plan(project)
    assert (without_calls(built), built["calls"], "") == (without_calls(again), again["calls"], stderr)
    other = project / "other"
    other.mkdir()
    write_project(other)
    show_plan(other, PHYPER_PLAN_CACHE="0")
    assert [] == cache_files(other)


def test_a_project_that_never_ran_gets_no_cache_and_nothing_on_disk(tmp_path: Path) -> None:
    write_project(tmp_path)
    (tmp_path / "derived_data" / ".phyper").rmdir()
    (tmp_path / "derived_data").rmdir()
    first, _ = show_plan(tmp_path)
    second, _ = show_plan(tmp_path)
    assert not (tmp_path / "derived_data").exists()
    assert first == second and 22 == second["calls"]  # built both times
