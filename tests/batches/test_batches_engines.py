"""Batched steps on both engines: a newcomer's small project with ``batch=``, run for real.

The project is written in the test the way the README tells a newcomer (config.py,
pipeline.py, a Snakefile of a few lines, a dodo.py); training runs 4 models per
engine job. Deleting one model's folder must retrain exactly that model; a new grid
value must run only the batches its models join, and in them only the new models.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest

from engines import counts_since, engine_command, environment, job_log, run, run_engine

CONFIG_PY = '''\
import phyper


class Instance(phyper.Parser):
    transformation = 'identity'
    seed = 0


parser = Instance(hashed_resources_folder='derived_data')
parser.register_new_resource(name='transformed_data', dependencies=['transformation'])
instances = parser.get_instances_from_dictionary(
    {'transformation': ['identity', 'log'], 'seed': list(range(6))})
'''

PIPELINE_PY = '''\
import os

import phyper
from config import instances, parser


def transformed_path(instance):
    return os.path.join(instance.get_resources_path('transformed_data'), 'transformed.txt')


def model_path(instance):
    return os.path.join(instance.get_resources_path(), 'model.txt')


def summary_path():
    return os.path.join(parser.hashed_resources_folder, 'results', 'summary.txt')


pipeline = phyper.Pipeline(instances)


@pipeline.per_resource('transformed_data', outputs=[transformed_path])
def transform(instance):
    """Write the transformation."""
    with open(transformed_path(instance), 'w') as handle:
        handle.write(instance.transformation)


@pipeline.per_instance(inputs=[transformed_path], outputs=[model_path], batch=4)
def train(instance):
    """Train one model (4 per engine job)."""
    with open(transformed_path(instance)) as source, open(model_path(instance), 'w') as handle:
        handle.write(f'{source.read()} {instance.seed}')


@pipeline.aggregate(inputs=[model_path], outputs=[summary_path])
def summarise(all_instances):
    """Count the models."""
    with open(summary_path(), 'w') as handle:
        handle.write(str(len(all_instances)))
'''

SNAKEFILE = '''\
import phyper_snakemake
phyper_workflow = phyper_snakemake.load("pipeline:pipeline")
include: phyper_snakemake.SNAKEFILE

rule all:
    default_target: True
    input: phyper_workflow.targets
'''

DODO_PY = '''\
import phyper_doit

DOIT_CONFIG = phyper_doit.DOIT_CONFIG
task_phyper = phyper_doit.tasks("pipeline:pipeline")
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    for name, text in {"config.py": CONFIG_PY, "pipeline.py": PIPELINE_PY, "Snakefile": SNAKEFILE, "dodo.py": DODO_PY}.items():
        (folder / name).write_text(text)
    return folder


def test_deleting_one_model_folder_of_a_batched_run_retrains_only_that_model(backend: str, project: Path) -> None:
    run_engine(backend, project)
    first = job_log(project)
    assert Counter({"transform": 2, "train": 12, "summarise": 1}) == counts_since(project, 0)
    done = project / "derived_data" / ".phyper" / "done" / "train"
    batch_records = sorted(path.name for path in done.glob("batch-*.json"))
    # 12 models, at most 4 a batch and at least 2: 3 to 6 batches
    assert 3 <= len(batch_records) <= 6 and all(name.endswith(f"-of-{len(batch_records)}.json") for name in batch_records)
    assert all(2 <= len(json.loads((done / name).read_text())["members"]) <= 4 for name in batch_records)

    run_engine(backend, project)
    assert Counter() == counts_since(project, len(first))

    victim = next(entry for entry in first if entry["step"] == "train")
    model_folders = sorted((project / "derived_data" / "all").iterdir())
    shutil.rmtree(project / "derived_data" / "all" / str(victim["key"]))
    run_engine(backend, project)
    after = [entry for entry in job_log(project)[len(first):] if entry.get("status", "done") == "done"]
    assert [("train", victim["key"]), ("summarise", "all")] == [(entry["step"], entry["key"]) for entry in after]
    assert model_folders == sorted((project / "derived_data" / "all").iterdir())
    assert (project / "derived_data" / "all" / str(victim["key"]) / "model.txt").exists()


def test_a_new_grid_value_reruns_only_the_batches_it_joins_and_only_its_new_members(backend: str, project: Path) -> None:
    run_engine(backend, project)
    first = job_log(project)
    done = project / "derived_data" / ".phyper" / "done" / "train"
    before = {path.name: path.stat().st_mtime_ns for path in done.glob("batch-*.json")}
    old_models = {str(entry["key"]) for entry in first if entry["step"] == "train"}

    # one more seed: 14 models, at most 4 a batch
    config = project / "config.py"
    config.write_text(config.read_text().replace("range(6)", "range(7)"))
    run_engine(backend, project)
    second = job_log(project)
    ran = [entry for entry in second[len(first):] if entry.get("status", "done") == "done"]
    new_models = {str(entry["key"]) for entry in ran if entry["step"] == "train"}
    assert 2 == len(new_models) and not new_models & old_models
    assert Counter({"train": 2, "summarise": 1}) == Counter(str(entry["step"]) for entry in ran)
    after = {path.name: path.stat().st_mtime_ns for path in done.glob("batch-*.json")}
    rewritten = {name for name in after if before.get(name) != after[name]}
    # exactly the batches that hold a new model ran (their records name their members)
    holding_new = {
        name for name in after
        if new_models & set(json.loads((done / name).read_text())["members"])
    }
    assert holding_new and rewritten == holding_new

    run_engine(backend, project)  # and then nothing
    assert Counter() == counts_since(project, len(second))


def hash_prefix_batches(keys: list[str], batch_size: int) -> dict[str, list[str]]:
    """The membership of phyper before issue 25: 2**k batches (ceil(n / N) rounded up), by the hash's first bits."""
    count = 1
    while count * batch_size < len(keys):
        count *= 2
    bits = count.bit_length() - 1
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(int(key[:16], 16) >> (64 - bits) if bits else 0, []).append(key)
    width = len(str(count - 1))
    return {f"batch-{index:0{width}d}-of-{count}": sorted(groups[index]) for index in sorted(groups)}


def engine_dry_run(backend: str) -> list[str]:
    """What the engine lists without running: ``snakemake -n``, ``doit list --all --status``."""
    binary = engine_command(backend)[0]
    return [binary, "-n"] if backend == "snakemake" else [binary, "list", "--all", "--status"]


def nothing_to_run(backend: str, listed: str) -> bool:
    if backend == "snakemake":
        return "Nothing to be done" in listed
    statuses = [line.split()[0] for line in listed.splitlines() if line.strip()]
    return bool(statuses) and set(statuses) == {"U"}


def test_a_project_finished_with_the_old_membership_plans_nothing(backend: str, project: Path) -> None:
    """Upgrading phyper (batches now cut otherwise) runs nothing: a batch's verdict is its current members'."""
    run_engine(backend, project)
    done = project / "derived_data" / ".phyper" / "done" / "train"
    # the state an older phyper left: the same member records, its own batch records
    sample = json.loads(next(done.glob("batch-*.json")).read_text())
    for path in done.glob("batch-*.json"):
        path.unlink()
    models = sorted(path.stem for path in done.glob("*.json"))
    old = hash_prefix_batches(models, 4)
    for key, members in old.items():
        (done / f"{key}.json").write_text(json.dumps({**sample, "key": key, "members": members, "ran": members}))
    before = len(job_log(project))
    status = run([sys.executable, "-m", "phyper", "status"], project, environment()).stdout

    listed = run(engine_dry_run(backend), project, environment()).stdout
    run_engine(backend, project)

    assert 12 == len(models)
    assert ["transform: 2/2 complete", "train: 12/12 complete", "summarise: 1/1 complete"] == status.splitlines()[:3]
    assert Counter() == counts_since(project, before)
    assert nothing_to_run(backend, listed), listed


def engine_counts(backend: str, listed: str) -> dict[str, int]:
    """Engine jobs to run per step, read from ``snakemake -n``'s job stats or ``doit list --all --status``."""
    counts: Counter[str] = Counter()
    if backend == "snakemake":
        lines = listed.splitlines()
        start = lines.index("Job stats:") + 3  # the title, the header, the rule
        for line in lines[start:]:
            rule, count = line.split()
            if rule == "total":
                break
            if rule != "all":  # the Snakefile's own target rule
                counts[rule] = int(count)
    else:
        for line in listed.splitlines():
            state, name = line.split()[:2]
            if state == "R" and ":" in name:  # a sub-task, not the step's group task
                counts[name.split(":")[0]] += 1
    return dict(counts)


def test_status_counts_the_engine_jobs_the_engines_list(backend: str, project: Path) -> None:
    run_engine(backend, project)
    models = sorted((project / "derived_data" / "all").iterdir())
    for folder in models[:3]:
        shutil.rmtree(folder)

    status = json.loads(run([sys.executable, "-m", "phyper", "status", "--json"], project, environment()).stdout)
    text = run([sys.executable, "-m", "phyper", "status"], project, environment()).stdout.splitlines()
    listed = run(engine_dry_run(backend), project, environment()).stdout

    engine = {row["step"]: row["engine_jobs_to_run"] for row in status["steps"] if row["engine_jobs_to_run"]}
    train = next(row for row in status["steps"] if row["step"] == "train")
    assert engine_counts(backend, listed) == engine
    assert (9, 3, 4) == (train["complete"], train["to_run"], train["batch_size"])
    assert 1 <= engine["train"] <= 3 and {"train", "summarise"} == set(engine)
    assert (f"train: 9/12 complete, 3 to run in {engine['train']} of its {train['engine_jobs']} batch jobs"
            == text[1])
    assert text[3].startswith(f"engine jobs to run: {engine['train'] + 1} of {2 + train['engine_jobs'] + 1} ")
