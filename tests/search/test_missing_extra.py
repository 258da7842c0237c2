"""Without Optuna (the `search` extra), a search is one named error; the rest of phyper works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engines import REPO, copy_project, environment

TOY = REPO / "tests" / "fixtures" / "search_toy"

# `import optuna` raises ImportError in this process, as when the extra is not installed
WITHOUT_OPTUNA = "import sys; sys.modules['optuna'] = None; from phyper._cli import main; raise SystemExit(main({argv!r}))"


def phyper_without_optuna(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    code = WITHOUT_OPTUNA.format(argv=list(argv))
    return subprocess.run([sys.executable, "-c", code], cwd=project, env=environment(), capture_output=True, text=True)


def test_search_run_without_optuna_is_one_named_error_with_the_install_command(tmp_path: Path) -> None:
    project = copy_project(TOY, tmp_path / "toy")

    completed = phyper_without_optuna(project, "search", "run", "--trials", "2")

    assert 2 == completed.returncode
    assert (
        "phyper: MissingDependencyError: phyper search needs Optuna (the `search` extra), which is not installed: "
        "pip install 'phyper-core[search]'\n"
    ) == completed.stderr
    assert not (project / "executions.txt").exists()


def test_the_pipeline_and_its_other_commands_need_no_optuna(tmp_path: Path) -> None:
    project = copy_project(TOY, tmp_path / "toy")

    status = phyper_without_optuna(project, "status")
    shown = phyper_without_optuna(project, "search", "show")
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, pipeline; print('optuna' in sys.modules)"],
        cwd=project, env=environment(), capture_output=True, text=True, check=True,
    )

    assert 0 == status.returncode, status.stderr
    assert "train: 0/2 complete" in status.stdout
    assert 0 == shown.returncode, shown.stderr
    assert "search `search`: 0 trials, maximize score" in shown.stdout
    assert "False\n" == imported.stdout


def test_a_pipeline_without_a_search_says_how_to_declare_one(tmp_path: Path) -> None:
    project = copy_project(REPO / "tests" / "fixtures" / "toy", tmp_path / "toy")

    completed = subprocess.run([sys.executable, "-m", "phyper", "search", "show"], cwd=project, env=environment(),
                               capture_output=True, text=True)

    assert 2 == completed.returncode
    assert (
        "phyper: SearchDefinitionError: the pipeline declares no search: list one in "
        "phyper.Pipeline(instances, searches=[phyper.Search(...)])\n"
    ) == completed.stderr


def test_an_unknown_engine_is_a_named_error_that_lists_the_registered_ones(tmp_path: Path) -> None:
    project = copy_project(TOY, tmp_path / "toy")

    completed = subprocess.run([sys.executable, "-m", "phyper", "search", "run", "--trials", "1", "--engine", "doti"],
                               cwd=project, env=environment(), capture_output=True, text=True)

    assert 2 == completed.returncode
    assert (
        "phyper: SearchDefinitionError: unknown engine 'doti'; did you mean `doit`?: give one of doit, snakemake "
        "(an engine comes with its backend: pip install phyper-snakemake or phyper-doit)\n"
    ) == completed.stderr
    assert not (project / "executions.txt").exists()
