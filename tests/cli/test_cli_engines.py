"""The `phyper` command and `phyper.collect` on a project finished by a real engine.

The small project of tests/fixtures/results (8 instances, 11 jobs) is run once per
engine; each test works on a copy with modification times kept. After `phyper
migrate --apply` both engines must run nothing; after `phyper gc --delete` the
engines run only what the smaller grid changes; `phyper ls` agrees with the engines.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import phyper
from engines import BIN, REPO, copy_project, counts_since, environment, job_log, run, run_engine

RESULTS = REPO / "tests" / "fixtures" / "results"
JOBS = {"make_data": 2, "train": 8, "summarise": 1}

_finished: dict[str, Path] = {}


@pytest.fixture(autouse=True)
def forget_metrics_module() -> Iterator[None]:
    """The project's `metrics` module imports its `pipeline`: import it afresh per project."""
    sys.modules.pop("metrics", None)
    yield
    sys.modules.pop("metrics", None)


@pytest.fixture
def finished(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The project after a full run by ``backend`` (shared: copy it before changing it)."""

    def get(backend: str) -> Path:
        if backend not in _finished:
            project = copy_project(RESULTS, tmp_path_factory.mktemp(f"finished-{backend}") / "results")
            run_engine(backend, project, jobs=2)
            assert JOBS == dict(counts_since(project, 0))
            _finished[backend] = project
        return _finished[backend]

    return get


def copy_of(project: Path, destination: Path) -> Path:
    shutil.copytree(project, destination, symlinks=True)
    return destination


def phyper_command(project: Path, *arguments: str) -> str:
    return run([sys.executable, "-m", "phyper", *arguments], project).stdout


def nothing_ran(backend: str, project: Path) -> bool:
    """Whether the engine started no job at all (no job log entry, nothing to be done)."""
    before = len(job_log(project))
    completed = run_engine(backend, project, jobs=2)
    output = completed.stdout + completed.stderr
    if backend == "doit":
        # doit asks phyper's records before starting a job: it starts none
        return not any(line.startswith(".  ") for line in output.splitlines()) and before == len(job_log(project))
    return "Nothing to be done" in output and before == len(job_log(project))


def snakemake_dry_run_jobs(project: Path) -> int:
    """How many phyper jobs `snakemake -n` would run (its `all` target rule left out)."""
    output = run([str(BIN / "snakemake"), "-n", "all"], project).stdout
    if "Nothing to be done" in output:
        return 0
    stats = output[output.index("Job stats:"):].splitlines()[3:]
    counts = {}
    for line in stats:
        if not line.strip():
            break
        name, count = line.split()
        counts[name] = int(count)
    return sum(count for name, count in counts.items() if name not in ("all", "total"))


def test_after_adding_a_key_and_migrating_both_engines_run_nothing(
    backend: str, finished: Callable[[str], Path], tmp_path: Path
) -> None:
    project = copy_of(finished(backend), tmp_path / "results")
    config = project / "config.py"
    config.write_text(config.read_text().replace("    fold = 0\n", "    fold = 0\n    dropout = 0.5\n"))
    old = sorted(p.name for p in (project / "derived_data" / "all").iterdir())

    dry = phyper_command(project, "migrate")
    assert old == sorted(p.name for p in (project / "derived_data" / "all").iterdir())
    phyper_command(project, "migrate", "--apply")

    assert dry.startswith("would move 8 folder(s), would rewrite 9 completion record(s)")
    assert ["make_data: 2/2 complete", "train: 8/8 complete", "summarise: 1/1 complete"] == phyper_command(
        project, "status"
    ).splitlines()
    assert nothing_ran("snakemake", project)
    assert nothing_ran("doit", project)
    assert 0 == snakemake_dry_run_jobs(project)
    assert not set(old) & {p.name for p in (project / "derived_data" / "all").iterdir()}


def test_ls_and_status_agree_with_the_engines_after_deleting_a_folder(
    backend: str, finished: Callable[[str], Path], tmp_path: Path
) -> None:
    project = copy_of(finished(backend), tmp_path / "results")
    folder = sorted((project / "derived_data" / "all").iterdir())[3]
    shutil.rmtree(folder)

    listed = json.loads(phyper_command(project, "ls", "--json"))
    status = phyper_command(project, "status", "-v")
    to_run = sum(row["to_run"] for row in listed["steps"])
    dry_run = snakemake_dry_run_jobs(project)
    before = len(job_log(project))
    run_engine(backend, project, jobs=2)

    assert 2 == to_run == dry_run
    assert [f"  train:{folder.name}: output derived_data/all/{folder.name}/metrics.json is missing",
            "  summarise:all: input derived_data/all/" + folder.name + "/metrics.json is missing"] == [
        line for line in status.splitlines() if line.startswith("  ")
    ]
    assert [("train", folder.name), ("summarise", "all")] == [
        (entry["step"], entry["key"]) for entry in job_log(project)[before:]
    ]


def test_gc_after_shrinking_the_grid_deletes_exactly_the_folders_outside_it(
    backend: str, finished: Callable[[str], Path], tmp_path: Path
) -> None:
    project = copy_of(finished(backend), tmp_path / "results")
    config = project / "config.py"
    config.write_text(config.read_text().replace("'n_layers': [1, 2]", "'n_layers': [2]"))
    code = "import config; print(' '.join(config.Instance.get_instances_hashes(config.instances)))"
    kept = set(run([sys.executable, "-c", code], project).stdout.split())
    before = {p.name for p in (project / "derived_data" / "all").iterdir()}

    listed = json.loads(phyper_command(project, "gc", "--json"))
    assert before == {p.name for p in (project / "derived_data" / "all").iterdir()}
    phyper_command(project, "gc", "--delete")
    ran_before = len(job_log(project))
    run_engine(backend, project, jobs=2)

    assert before - kept == {entry["hash"] for entry in listed["folders"]}
    assert [1] == sorted({entry["key_values"]["n_layers"] for entry in listed["folders"]})
    assert kept == {p.name for p in (project / "derived_data" / "all").iterdir()}
    # nothing the smaller grid reaches runs again, only the aggregate, whose inputs changed
    rerun = [(e["step"], e["key"]) for e in job_log(project)[ran_before:] if e.get("status") == "done"]
    assert [("summarise", "all")] == rerun


def test_view_show_and_collect_on_the_finished_project(
    finished: Callable[[str], Path], import_project: Callable[[Path], None], tmp_path: Path
) -> None:
    project = copy_of(finished("snakemake"), tmp_path / "results")
    phyper_command(project, "view")
    import_project(project)
    import metrics

    from pipeline import pipeline

    # pandas' stubs type a row's cells as any scalar: the test reads them as the grid wrote them
    table: Any = phyper.collect(pipeline, metrics=metrics.load)
    models: Any = phyper.collect(pipeline.instances, resource_name="model")
    by_model = table.groupby("model_hash")["accuracy"].mean()

    assert 8 == len(table) and table["complete"].all()
    assert ["hash", "transformation", "n_layers", "fold", "n_epochs", "data_hash", "model_hash", "folder",
            "complete", "status", "accuracy", "epochs"] == list(table.columns)
    assert [3] * 8 == table["n_epochs"].tolist()
    assert 4 == len(models) and not models["complete"].any()
    for model_hash, accuracy in by_model.items():
        row = models.set_index("model_hash").loc[model_hash]
        # no step writes the model resource's folder: its view lists its instances' folders by fold
        model_view = project / "views" / "model" / f"transformation={row.transformation}" / f"n_layers={row.n_layers}"
        folds = table[table["model_hash"] == model_hash]
        assert {f"fold={fold}": (project / folder).resolve() for fold, folder in zip(folds["fold"], folds["folder"])} == {
            link.name: link.resolve() for link in model_view.iterdir()
        }
        expected = 0.5 + 0.1 * row.n_layers + 0.005 + (0.2 if row.transformation == "log" else 0)
        assert expected == pytest.approx(accuracy)
    for row in table.itertuples():
        link = project / "views" / "all" / f"transformation={row.transformation}" / f"n_layers={row.n_layers}" / f"fold={row.fold}"
        assert (project / row.folder).resolve() == link.resolve()
        shown = json.loads(phyper_command(project, "show", row.hash[:6], "--json"))
        assert ({"transformation": row.transformation, "n_layers": row.n_layers, "fold": row.fold}, "all") == (
            shown["key_values"], shown["resource"]
        )


def test_collect_from_a_list_of_instances_judges_completion_by_the_records(
    finished: Callable[[str], Path], import_project: Callable[[Path], None], tmp_path: Path
) -> None:
    project = copy_of(finished("doit"), tmp_path / "results")
    first = sorted((project / "derived_data" / ".phyper" / "done" / "train").iterdir())[0]
    first.unlink()
    import_project(project)
    import metrics

    import config

    table = phyper.collect(config.instances, metrics=metrics.load)

    incomplete = table[~table["complete"]]
    assert [first.stem] == incomplete["hash"].tolist()
    assert ["no completion record"] == incomplete["status"].tolist()
    assert incomplete["accuracy"].isna().all() and incomplete["n_epochs"].isna().all()
    assert 7 == table["accuracy"].notna().sum()
    # the engine guarantees the results (a hand-written Snakefile keeps no records): read them all
    everything = phyper.collect(config.instances, metrics=metrics.load, skip_incomplete=False)
    assert (8, 7) == (everything["accuracy"].notna().sum(), everything["complete"].sum())


def test_collect_without_pandas_says_how_to_get_it(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "import phyper, config\n"
        "try:\n    phyper.collect(config.instances)\n"
        "except phyper.MissingDependencyError as error:\n    print(error)\n"
    )
    project = copy_project(RESULTS, tmp_path / "results")

    completed = subprocess.run([sys.executable, "-c", code], cwd=project, env=environment(), capture_output=True, text=True)

    assert completed.stdout.startswith("collect() returns a pandas DataFrame and pandas is not installed")


def test_collect_to_parquet_needs_a_parquet_engine_and_says_so(tmp_path: Path) -> None:
    project = copy_project(RESULTS, tmp_path / "results")
    try:
        import pyarrow  # noqa: F401

        has_engine = True
    except ImportError:
        has_engine = False

    completed = subprocess.run([sys.executable, "-m", "phyper", "collect", "-o", "r.parquet"], cwd=project,
                               env=environment(), capture_output=True, text=True)

    if has_engine:
        import pandas

        assert 0 == completed.returncode, completed.stderr
        assert 8 == len(pandas.read_parquet(project / "r.parquet"))
    else:
        assert 2 == completed.returncode
        assert completed.stderr.startswith("phyper: MissingDependencyError: pandas cannot write parquet here")
        assert not (project / "r.parquet").exists()
