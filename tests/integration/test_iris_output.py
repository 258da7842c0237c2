"""What a person reads when an engine runs the Iris example (issue 30), on both engines.

Snakemake prints through phyper's logger plugin (the example's profile turns it on),
doit through phyper's reporter (`phyper_doit.DOIT_CONFIG`). A run names no
completion-record path; each engine job is announced once with its step, its key values
(or its batch and member count) and why it runs, in words; what a step prints itself
stays visible; one closing line ends the run.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from engines import BIN, environment, job_log, run, run_engine

pytestmark = pytest.mark.integration

FEW_EPOCHS = {"PHYPER_NON_KEYS": "n_epochs=20,log_interval=5"}
ENGINE_JOBS = {"transform_data": 3, "preprocess_data": 6, "train_model": 7, "compute_cv_scores": 1, "retrain_best_model": 1,
               "plot_results": 1, "make_report": 1}
"""The engine jobs of a full run: train_model's 90 trainings run as 7 batches (pipeline.py: batch=15)."""
RECORDS = ".phyper/done"

# `[12:00:01] train_model(n_hidden_layers=1 cv_fold=4 ...) 856e49be · new` (Snakemake has the time)
ANNOUNCEMENT = re.compile(r"^(?:\[\d\d:\d\d:\d\d\] )?(?P<step>\w+)\((?P<inside>[^()]*)\)(?: (?P<short>[0-9a-f]{8}))? · (?P<why>.+)$")


def announcements(output: str) -> list[dict[str, str]]:
    return [match.groupdict() for line in output.splitlines() if (match := ANNOUNCEMENT.match(line))]


def lines_naming_records(output: str) -> list[str]:
    return [line for line in output.splitlines() if RECORDS in line]


def closing_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("phyper: ") and " jobs ran, " in line]


def copy_of(project: Path, destination: Path) -> Path:
    shutil.copytree(project, destination, symlinks=True)
    return destination


def test_a_full_run_names_no_record_and_announces_every_job_with_its_values_and_why(
    backend: str, completed: Callable[[str], Path], completed_output: Callable[[str], str]
) -> None:
    project, output = completed(backend), completed_output(backend)
    announced = announcements(output)
    keys = {str(entry["key"]) for entry in job_log(project)}
    hashed = [entry for entry in announced if entry["short"]]
    batches = sorted(entry["inside"] for entry in announced if entry["step"] == "train_model")

    print(f"{backend}: {len(output.splitlines())} lines, {len(lines_naming_records(output))} naming a record path")
    assert [] == lines_naming_records(output)
    assert ENGINE_JOBS == dict(Counter(entry["step"] for entry in announced))
    assert {"new"} == {entry["why"] for entry in announced}
    # the key values that vary in the grid, and a hash of a job that ran
    assert {"transformation=identity", "transformation=log", "transformation=square"} == {
        entry["inside"] for entry in announced if entry["step"] == "transform_data"
    }
    assert {f"transformation={t} centering={c}" for t in ("identity", "log", "square") for c in (True, False)} == {
        entry["inside"] for entry in announced if entry["step"] == "preprocess_data"
    }
    assert all(any(key.startswith(entry["short"]) for key in keys) for entry in hashed)
    # the batches: which of the 7, and how many trainings each runs (90 in all)
    assert [f"batch {i} of 7" for i in range(1, 8)] == sorted(inside.split(":")[0] for inside in batches)
    sizes = [re.fullmatch(r"batch \d of 7: (\d+) jobs", inside) for inside in batches]
    assert 90 == sum(int(size[1]) for size in sizes if size is not None) and None not in sizes
    assert ["all"] * 4 == [entry["inside"] for entry in announced if entry["step"] not in {"transform_data", "preprocess_data", "train_model"}]
    # the step's own output
    assert "best configuration: " in output and "test accuracy: " in output
    assert ["phyper: 20 jobs ran, 0 already done, 0 failed; `phyper status` shows the state"] == closing_lines(output)


def test_a_rerun_says_everything_is_done_in_one_line(backend: str, completed: Callable[[str], Path], tmp_path: Path) -> None:
    project = copy_of(completed(backend), tmp_path / "iris")

    again = run_engine(backend, project, **FEW_EPOCHS)
    output = again.stdout + again.stderr

    assert [] == announcements(output)
    assert [] == lines_naming_records(output)
    assert ["phyper: 0 jobs ran, 20 already done, 0 failed; `phyper status` shows the state"] == closing_lines(output)


def test_a_deleted_model_reruns_its_batch_and_says_inputs_changed_upstream_below(
    backend: str, completed: Callable[[str], Path], tmp_path: Path
) -> None:
    project = copy_of(completed(backend), tmp_path / "iris")
    shutil.rmtree(sorted((project / "derived_data" / "all").iterdir())[7])

    rerun = run_engine(backend, project, **FEW_EPOCHS)
    output = rerun.stdout + rerun.stderr
    why = {entry["step"]: entry["why"] for entry in announcements(output)}

    assert [] == lines_naming_records(output)
    # the batch itself: a member's outputs are gone; the aggregate reads them (no record path named)
    assert {"train_model": "its outputs changed", "compute_cv_scores": "inputs changed upstream",
            "retrain_best_model": "inputs changed upstream", "plot_results": "inputs changed upstream",
            "make_report": "inputs changed upstream"} == why
    assert ["phyper: 5 jobs ran, 15 already done, 0 failed; `phyper status` shows the state"] == closing_lines(output)


def test_changed_code_that_fails_is_announced_reported_and_counted(
    backend: str, completed: Callable[[str], Path], tmp_path: Path
) -> None:
    project = copy_of(completed(backend), tmp_path / "iris")
    plots = project / "plots.py"
    plots.write_text(plots.read_text().replace(
        "    scores = pd.read_csv(", "    raise RuntimeError('the figure is broken on purpose')\n    scores = pd.read_csv(", 1
    ))

    failed = run(engine_command_for(backend), project, environment(**FEW_EPOCHS), check=False)
    output = failed.stdout + failed.stderr
    announced = announcements(output)

    assert 0 != failed.returncode
    assert [("plot_results", "all")] == [(entry["step"], entry["inside"]) for entry in announced]
    assert announced[0]["why"].startswith("code changed")
    assert "the figure is broken on purpose" in output
    assert [] == lines_naming_records(output)
    assert ["phyper: 0 jobs ran, 18 already done, 1 failed, 1 not started; `phyper status` shows why"] == closing_lines(output)


def engine_command_for(backend: str) -> list[str]:
    """The user's command, continuing past a failure with doit (so its dependants are counted)."""
    if backend == "snakemake":
        return [str(BIN / "snakemake"), "-j8", "all"]
    return [str(BIN / "doit"), "-n", "8", "--continue"]


@pytest.mark.snakemake
def test_snakemakes_verbose_flag_names_the_records(completed: Callable[[str], Path], tmp_path: Path) -> None:
    project = copy_of(completed("snakemake"), tmp_path / "iris")
    shutil.rmtree(project / "derived_data" / "results")

    quiet = run([str(BIN / "snakemake"), "-n", "all"], project, environment(**FEW_EPOCHS))
    verbose = run([str(BIN / "snakemake"), "-n", "--verbose", "all"], project, environment(**FEW_EPOCHS))

    assert [] == lines_naming_records(quiet.stdout + quiet.stderr)
    assert lines_naming_records(verbose.stdout + verbose.stderr)
