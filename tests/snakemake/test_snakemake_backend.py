"""phyper-snakemake on a toy pipeline: rules, dry runs, hand-written Snakefiles, executors."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import phyper
import phyper_snakemake
from engines import BIN, TOY, copy_project, counts_since, job_log, run

pytestmark = pytest.mark.snakemake

SNAKEMAKE = str(BIN / "snakemake")


def job_stats(output: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints before running."""
    table = output[output.index("Job stats:") :]
    return {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE) if name != "total"}


def shrink_grid(project: Path) -> None:
    """One transformation, one centering, one layer size, two folds: 1 + 1 + 2 + 1 jobs."""
    config = project / "config.py"
    text = config.read_text()
    for old, new in [
        ("['identity', 'log', 'square']", "['log']"),
        ("'centering': [True, False]", "'centering': [True]"),
        ("'n_hidden_layers': [1, 2, 3]", "'n_hidden_layers': [2]"),
        ("list(range(5))", "[0, 1]"),
    ]:
        assert old in text
        text = text.replace(old, new)
    config.write_text(text)


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    return copy_project(TOY, tmp_path / "toy")


def test_dry_run_plans_one_job_per_hash(toy: Path) -> None:
    dry = run([SNAKEMAKE, "-n", "all"], toy)

    assert {"transform": 3, "preprocess": 6, "train": 90, "score": 1, "all": 1} == job_stats(dry.stdout)
    assert not (toy / "derived_data").exists()


def test_rules_are_the_steps_with_hash_wildcards(toy: Path, import_project: Callable[[Path], None]) -> None:
    import_project(toy)

    workflow = phyper_snakemake.load("pipeline:pipeline")

    train = next(rule for rule in workflow.rules if rule.name == "train")
    # Snakemake sees a job's completion record only (see phyper_snakemake._workflow)
    assert "derived_data/.phyper/done/train/{hash}.json" == train.output
    assert phyper.HASH_PATTERN == workflow.wildcard_pattern
    assert ["transform", "preprocess", "train", "score"] == [rule.name for rule in workflow.rules]
    # nothing ran yet: the default target asks for the record of every job (all are to run)
    assert 100 == len(workflow.targets())


def test_list_rules_dag_and_summary_work(toy: Path) -> None:
    rules = run([SNAKEMAKE, "--list-rules"], toy).stdout.split()
    dag = run([SNAKEMAKE, "--dag", "dot", "all"], toy).stdout
    run([SNAKEMAKE, "-j2", "all"], toy)
    summary = run([SNAKEMAKE, "--summary", "all"], toy).stdout

    assert {"transform", "preprocess", "train", "score", "all"} <= set(rules)
    assert "digraph" in dag and "train" in dag
    train_lines = [line for line in summary.splitlines() if "\ttrain\t" in line]
    assert 90 == len(train_lines)  # the completion record of each job
    assert all("\tok\tno update" in line for line in train_lines)


def test_a_path_that_is_not_a_hash_matches_no_rule(toy: Path) -> None:
    failed = run([SNAKEMAKE, "-n", "derived_data/.phyper/done/train/not-a-hash.json"], toy, check=False)

    assert 0 != failed.returncode
    assert "MissingRuleException" in failed.stdout + failed.stderr


def test_each_job_is_its_own_process_and_a_rerun_does_nothing(toy: Path) -> None:
    first = run([SNAKEMAKE, "-j4", "all"], toy)
    again = run([SNAKEMAKE, "-j4", "all"], toy)

    pids = Counter(entry["pid"] for entry in job_log(toy))
    assert 100 == len(pids), first.stdout
    assert {"snakemake"} == {entry["engine"] for entry in job_log(toy)}
    assert "Nothing to be done" in again.stdout + again.stderr


def test_hand_written_snakefile_with_the_helpers(toy: Path) -> None:
    (toy / "Snakefile").write_text(
        '''
import phyper
from phyper_snakemake import get_wildcarded_path, get_hashes, get_instance
from config import instances
from pipeline import transformed_path, model_path, preprocessed_path

wildcard_constraints:
    transformed_data_hash=phyper.HASH_PATTERN,
    hash=phyper.HASH_PATTERN,

rule all:
    input: expand(get_wildcarded_path(model_path, instances[0]), hash=get_hashes(instances))

rule transform:
    output: get_wildcarded_path(transformed_path, instances[0], "transformed_data", "transformed_data_hash")
    shell: "python -m phyper run pipeline:pipeline transform {wildcards.transformed_data_hash}"

rule preprocess:
    input: lambda wc: transformed_path(get_instance(wc, instances, "preprocessed_data"))
    output: get_wildcarded_path(preprocessed_path, instances[0], "preprocessed_data")
    shell: "python -m phyper run pipeline:pipeline preprocess {wildcards.hash}"

rule train:
    input: lambda wc: preprocessed_path(get_instance(wc, instances))
    output: get_wildcarded_path(model_path, instances[0])
    shell: "python -m phyper run pipeline:pipeline train {wildcards.hash}"
'''
    )

    run([SNAKEMAKE, "-j2"], toy)

    assert {"transform": 3, "preprocess": 6, "train": 90} == dict(counts_since(toy, 0))


def test_get_wildcarded_path_refuses_a_path_without_the_hash(toy: Path, import_project: Callable[[Path], None]) -> None:
    import_project(toy)
    import config
    import pipeline

    with pytest.raises(phyper.PipelineDefinitionError, match="does not contain the hash of resource `transformed_data`"):
        phyper_snakemake.get_wildcarded_path(pipeline.model_path, config.instances[0], "transformed_data")


def test_cluster_generic_executor_runs_every_job_as_a_separate_submission(toy: Path) -> None:
    shrink_grid(toy)
    submit = toy / "submit.sh"
    submit.write_text(
        "#!/usr/bin/env bash\n"
        "# a one-machine 'cluster': run the job script detached, print its id\n"
        'nohup bash "${@: -1}" > "$(mktemp)" 2>&1 &\n'
        "echo $!\n"
    )
    submit.chmod(0o755)

    run(
        [SNAKEMAKE, "--executor", "cluster-generic", "--cluster-generic-submit-cmd", "./submit.sh",
         "--seconds-between-status-checks", "1", "-j", "4", "all"],
        toy,
    )

    assert {"transform": 1, "preprocess": 1, "train": 2, "score": 1} == dict(counts_since(toy, 0))
    assert "2" == (toy / "derived_data" / "results" / "scores.txt").read_text()
