"""A phyper 0.x user's project (tests/fixtures/seed_client), run unedited against this phyper.

Its config.py, paths.py, main.py and score_models.py were written for the 0.x API; its
Snakefile is the seed README's, verbatim (the same file as examples/iris-seed-style's).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import phyper
import phyper_snakemake
from engines import BIN, REPO, copy_project, run

pytestmark = pytest.mark.snakemake

CLIENT = REPO / "tests" / "fixtures" / "seed_client"
SNAKEMAKE = str(BIN / "snakemake")
SEED_JOBS = {"_transform_data": 3, "_preprocess_data": 6, "_train_nn": 90, "compute_cv_scores": 1,
             "retrain_best_model": 1, "all": 1}


def job_stats(output: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints before running."""
    table = output[output.index("Job stats:") :]
    return {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE) if name != "total"}


@pytest.fixture
def client(tmp_path: Path) -> Path:
    return copy_project(CLIENT, tmp_path / "client")


def test_the_client_snakefile_is_the_seed_example_one() -> None:
    assert (REPO / "examples" / "iris-seed-style" / "Snakefile").read_text() == (CLIENT / "Snakefile").read_text()


def test_config_prints_the_instance_tables_and_writes_the_manifests(client: Path) -> None:
    output = run([sys.executable, "config.py"], client).stdout

    titles = [line for line in output.splitlines() if line.startswith(("full instances", "resource "))]
    assert ["full instances", "resource cross_validated_model", "resource preprocessed_data",
            "resource transformed_data"] == titles
    assert "[90 rows x 10 columns]" in output
    transformed = [line.split() for line in output[output.index("resource transformed_data"):].splitlines()[3:6]]
    assert [["8aa2ed0bff876e189b56e9daf38b079c", "identity"], ["a11c57bd01d7f9af62f752ec51f42935", "log"],
            ["218931d2d970def51ef81ed6f0f80874", "square"]] == transformed
    assert 90 + 3 + 6 + 18 == len(list((client / "derived_data").rglob(phyper.MANIFEST_NAME)))


def test_dry_run_plans_the_seed_jobs(client: Path) -> None:
    dry = run([SNAKEMAKE, "-n", "all"], client)

    assert SEED_JOBS == job_stats(dry.stdout)


def test_the_seed_rules_run_their_jobs(client: Path) -> None:
    run([SNAKEMAKE, "-j2", "preprocess_data"], client)

    preprocessed = sorted((client / "derived_data" / "preprocessed_data").glob("*/preprocessed_data.npy"))
    transformed = sorted((client / "derived_data" / "transformed_data").glob("*/transformed_data.npy"))
    assert 6 == len(preprocessed)
    assert ["identity", "log", "square"] == sorted(json.loads(p.read_text())["transformation"] for p in transformed)
    # each job read its values back from the manifest in its folder, by hash
    assert sorted((t, c) for t in ("identity", "log", "square") for c in (False, True)) == sorted(
        (values["transformation"], values["centering"]) for values in (json.loads(p.read_text()) for p in preprocessed)
    )


def test_phyper_snakemake_helper_alias_is_the_seed_one(
    client: Path, import_project: Callable[[Path], None]
) -> None:
    import_project(client)
    import config
    import paths

    instance = config.instances[0]
    for path_function, resource_name, wildcard in [
        (paths.get_transformed_dataset_path, "transformed_data", "{transformed_data_hash}"),
        (paths.get_torch_model_path, None, "{hash}"),
    ]:
        seed = config.Instance.snakemake_helper_get_wildcarded_path(path_function, instance, resource_name)
        assert seed == phyper_snakemake.snakemake_helper_get_wildcarded_path(path_function, instance, resource_name)
        assert wildcard in seed
        # phyper_snakemake's own helper keeps its documented default wildcard, `hash`
        assert seed.replace(wildcard, "{hash}") == phyper_snakemake.get_wildcarded_path(
            path_function, instance, resource_name
        )
    with pytest.raises(phyper.PipelineDefinitionError, match="does not contain the hash"):
        phyper_snakemake.snakemake_helper_get_wildcarded_path(paths.get_torch_model_path, instance, "transformed_data")
