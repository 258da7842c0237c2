"""The `phyper` command, engine-free: the real `python -m phyper` on a small project.

The project (tests/fixtures/results) is a config.py and a pipeline.py written as the
README tells a newcomer; its jobs are run one by one with `python -m phyper run`, as
an engine would. Each test works on its own copy of that finished project.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engines import REPO, copy_project, environment

RESULTS = REPO / "tests" / "fixtures" / "results"
JOBS = 2 + 8 + 1


def phyper(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m phyper ARGUMENTS`` in the project folder, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "phyper", *arguments], cwd=project, env=environment(), capture_output=True, text=True
    )


def ok(project: Path, *arguments: str) -> str:
    completed = phyper(project, *arguments)
    assert 0 == completed.returncode, completed.stderr
    return completed.stdout


def failing(project: Path, *arguments: str) -> str:
    """stderr of a command that must fail with a one-line message and no traceback."""
    completed = phyper(project, *arguments)
    assert 2 == completed.returncode, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
    assert 1 == len(completed.stderr.strip().splitlines()), completed.stderr
    return completed.stderr


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project with every job run by `python -m phyper run` (shared: copy before changing)."""
    project = copy_project(RESULTS, tmp_path_factory.mktemp("finished") / "results")
    plan = json.loads(ok(project, "plan"))
    for job in plan["jobs"]:
        ok(project, "run", job["step"], job["key"])
    return project


@pytest.fixture
def project(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished project, modification times kept."""
    return Path(shutil.copytree(finished, tmp_path / "results", symlinks=True))


def hashes(project: Path, resource: str | None = None) -> list[str]:
    code = f"import config; print(' '.join(config.Instance.get_instances_hashes(config.instances, {resource!r})))"
    completed = subprocess.run([sys.executable, "-c", code], cwd=project, env=environment(), capture_output=True,
                               text=True, check=True)
    return completed.stdout.split()


def test_version_and_help_describe_every_command() -> None:
    from phyper import __version__
    from phyper._cli import build_parser

    version = phyper(RESULTS, "--version")
    parser = build_parser()
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    undescribed = [
        (name, action.dest)
        for name, sub in commands.choices.items()
        for action in sub._actions
        if not action.help
    ]

    assert (0, f"phyper {__version__}\n") == (version.returncode, version.stdout)
    assert ["accept", "collect", "gc", "ls", "migrate", "plan", "report", "run", "search", "show", "status", "view"] == sorted(
        commands.choices
    )
    assert [] == undescribed
    for command in commands.choices:
        assert "--pipeline MODULE:ATTRIBUTE" in ok(RESULTS, command, "--help")


def test_legacy_positional_forms_still_work(project: Path) -> None:
    status = ok(project, "status", "pipeline:pipeline", "-v")
    plan = json.loads(ok(project, "plan", "pipeline:pipeline"))

    assert ["make_data: 2/2 complete", "train: 8/8 complete", "summarise: 1/1 complete"] == status.splitlines()
    assert JOBS == len(plan["jobs"])


def test_run_with_the_default_pipeline_and_with_an_explicit_one(project: Path) -> None:
    first = hashes(project)[0]
    shutil.rmtree(project / "derived_data" / "all" / first)

    ok(project, "run", "train", first, "--engine", "test")
    again = ok(project, "status")
    shutil.rmtree(project / "derived_data" / "all" / first)
    ok(project, "run", "pipeline:pipeline", "train", first)

    assert "train: 8/8 complete" in again.splitlines()
    assert (project / "derived_data" / "all" / first / "metrics.json").is_file()


def test_ls_counts_jobs_and_folders(project: Path) -> None:
    (project / "config.py").write_text(
        (project / "config.py").read_text().replace("'n_layers': [1, 2]", "'n_layers': [1, 2, 3]")
    )

    listed = json.loads(ok(project, "ls", "--json"))
    narrowed = json.loads(ok(project, "ls", "--json", "--step", "train"))
    text = ok(project, "ls")

    assert [
        {"step": "make_data", "kind": "resource", "resource": "data", "jobs": 2, "complete": 2, "to_run": 0, "failed": 0},
        {"step": "train", "kind": "instance", "resource": "all", "jobs": 12, "complete": 8, "to_run": 4, "failed": 0},
        {"step": "summarise", "kind": "aggregate", "resource": None, "jobs": 1, "complete": 0, "to_run": 1, "failed": 0},
    ] == listed["steps"]
    assert [
        {"resource": "all", "in_grid": 12, "on_disk": 8, "missing": 4, "orphaned": 0, "no_manifest": 0},
        {"resource": "data", "in_grid": 2, "on_disk": 2, "missing": 0, "orphaned": 0, "no_manifest": 0},
        {"resource": "model", "in_grid": 6, "on_disk": 0, "missing": None, "orphaned": 0, "no_manifest": 0},
    ] == listed["folders"]
    assert {"jobs": JOBS, "batches": 0, "orphaned": 0} == listed["records"]
    assert ["train"] == [row["step"] for row in narrowed["steps"]]
    assert ["all"] == [row["resource"] for row in narrowed["folders"]]
    assert "train       instance    12         8       4       0" in text


def test_show_a_prefix_names_the_resource_values_files_and_jobs(project: Path) -> None:
    data_hash = hashes(project, "data")[1]

    shown = json.loads(ok(project, "show", data_hash[:6], "--json"))
    text = ok(project, "show", data_hash[:6])

    assert ("data", data_hash, {"transformation": "log"}, 4) == (
        shown["resource"], shown["hash"], shown["key_values"], shown["instances_in_grid"]
    )
    assert {"n_epochs": 3} == shown["non_keys"]
    assert os.path.join("derived_data", "data", data_hash) == shown["folder"]
    assert ["data.txt", "phyper-manifest.json"] == [entry["path"] for entry in shown["files"]]
    assert [{"job": f"make_data:{data_hash}", "complete": True}] == [
        {"job": job["job"], "complete": job["complete"]} for job in shown["jobs"]
    ]
    assert text.startswith(f"{data_hash}  data\n")
    assert "  keys: transformation='log'" in text.splitlines()


def test_show_reports_the_non_keys_a_result_was_made_with(project: Path) -> None:
    first = hashes(project)[0]
    subprocess.run([sys.executable, "-m", "phyper", "run", "train", first, "--force"], cwd=project,
                   env=environment(PHYPER_NON_KEYS="n_epochs=7"), check=True, capture_output=True)

    shown = json.loads(ok(project, "show", first, "--json"))

    assert {"n_epochs": 7} == shown["non_keys"]
    assert {"accuracy": 0.6, "epochs": 7} == json.loads((project / "derived_data" / "all" / first / "metrics.json").read_text())


def test_show_where_finds_hashes_from_values(project: Path) -> None:
    full = [line.split()[0] for line in ok(project, "show", "--where", "transformation=log", "n_layers=2").splitlines()]
    models = json.loads(ok(project, "show", "--where", "transformation=log", "--resource", "model", "--json"))

    assert 2 == len(full) and set(full) <= set(hashes(project))
    assert [{"transformation": "log", "n_layers": 1}, {"transformation": "log", "n_layers": 2}] == [
        row["key_values"] for row in models
    ]
    assert {row["hash"] for row in models} <= set(hashes(project, "model"))


def test_bad_hashes_are_clear_errors(project: Path) -> None:
    all_hashes = hashes(project) + hashes(project, "data")
    first_digits = [h[0] for h in all_hashes]
    shared = next(d for d in first_digits if first_digits.count(d) > 1)

    ambiguous = failing(project, "show", shared)
    unknown = failing(project, "show", "ffffffffffffffff" if not any(h.startswith("ffff") for h in all_hashes) else "eeeeeeeeeeeeeeee")
    not_hex = failing(project, "show", "xyz")
    no_value = failing(project, "show", "--where", "transformation=cube")

    assert f"AmbiguousHashError: `{shared}` is the start of {first_digits.count(shared)} hashes" in ambiguous
    assert all(h in ambiguous for h in all_hashes if h.startswith(shared))
    assert "UnknownHashError: no hash of the grid and no hashed folder starts with" in unknown
    assert "is not a hash or a hash prefix" in not_hex
    assert "transformation" in no_value and "cube" in no_value


def test_a_pipeline_that_fails_to_import_is_one_line_without_traceback(project: Path) -> None:
    (project / "broken.py").write_text("import json\nimport torhc\n")

    missing_module = failing(project, "ls", "--pipeline", "pipelin:pipeline")
    broken = failing(project, "status", "broken:pipeline")
    debug = phyper(project, "status", "broken:pipeline", "--debug")
    wrong_attribute = failing(project, "ls", "--pipeline", "config:parser")

    assert "cannot import the pipeline `pipelin:pipeline`: module `pipelin` raised ModuleNotFoundError" in missing_module
    assert "run phyper from the folder holding pipelin.py" in missing_module
    assert "module `broken` raised ModuleNotFoundError: No module named 'torhc' (at broken.py:2)" in broken
    assert 2 == debug.returncode and "Traceback" in debug.stderr
    assert "PipelineDefinitionError: `config:parser` is a Instance, not a phyper.Pipeline" in wrong_attribute


def test_gc_lists_what_the_grid_no_longer_reaches_and_deletes_only_with_delete(project: Path) -> None:
    old = set(hashes(project))
    (project / "config.py").write_text((project / "config.py").read_text().replace("'fold': [0, 1]", "'fold': [0]"))
    kept = set(hashes(project))
    stray = project / "derived_data" / "all" / ("0" * 32)
    stray.mkdir()
    (project / "derived_data" / "all" / "notes").mkdir()
    before = sorted(p.name for p in (project / "derived_data" / "all").iterdir())

    dry_run = phyper(project, "gc", "--json")
    listed = json.loads(dry_run.stdout)
    after_dry_run = sorted(p.name for p in (project / "derived_data" / "all").iterdir())
    text = phyper(project, "gc")
    deleting = phyper(project, "gc", "--delete", "--json")
    deleted = json.loads(deleting.stdout)

    orphans = old - kept
    assert 4 == len(orphans)
    assert (False, orphans) == (listed["deleted"], {entry["hash"] for entry in listed["folders"]})
    assert all(entry["bytes"] > 0 for entry in listed["folders"])
    assert {f"train/{h}.json" for h in orphans} == {
        os.path.relpath(project / entry["path"], project / "derived_data" / ".phyper" / "done") for entry in listed["records"]
    }
    assert [str(stray.relative_to(project))] == [entry["path"] for entry in listed["left_alone"]]
    assert before == after_dry_run
    assert "run `phyper gc --delete` to delete them" in text.stdout
    # the folder phyper cannot identify is reported on stderr, with exit status 1
    assert [1, 1, 1] == [dry_run.returncode, text.returncode, deleting.returncode]
    assert text.stderr.startswith("phyper: left alone 1 folder(s) without a valid manifest")
    assert f"  {stray.relative_to(project)}: no phyper-manifest.json" in text.stderr.splitlines()
    assert True is deleted["deleted"]
    assert sorted([*kept, "0" * 32, "notes"]) == sorted(p.name for p in (project / "derived_data" / "all").iterdir())
    assert "train: 4/4 complete" in ok(project, "status").splitlines()
    again = json.loads(phyper(project, "gc", "--json").stdout)
    assert ([], [], 1) == (again["folders"], again["records"], len(again["left_alone"]))


def test_gc_leaves_a_folder_whose_manifest_is_not_its_own(project: Path) -> None:
    (project / "config.py").write_text((project / "config.py").read_text().replace("'fold': [0, 1]", "'fold': [0]"))
    all_folder = project / "derived_data" / "all"
    first_orphan = next(h for h in sorted(p.name for p in all_folder.iterdir()) if h not in hashes(project))
    moved = all_folder / ("1" * 32)
    (all_folder / first_orphan).rename(moved)

    listed = json.loads(phyper(project, "gc", "--json").stdout)
    deleting = phyper(project, "gc", "--delete")
    shown = failing(project, "show", "1" * 32)

    assert 1 == deleting.returncode
    assert f"ManifestError: {moved.relative_to(project)} is not reached by the grid and has no valid manifest" in shown
    assert [str(moved.relative_to(project))] == [entry["path"] for entry in listed["left_alone"]]
    assert "describes all/" in listed["left_alone"][0]["reason"]
    assert moved.is_dir()


def test_view_builds_the_tree_of_links_idempotently(project: Path) -> None:
    first = ok(project, "view")
    second = ok(project, "view")
    (project / "config.py").write_text((project / "config.py").read_text().replace("'n_layers': [1, 2]", "'n_layers': [1]"))
    third = json.loads(ok(project, "view", "--json"))

    views = project / "views"
    link = views / "all" / "transformation=log" / "n_layers=1" / "fold=1"
    # 8 instances, 2 data folders, and for each of the 4 models (no step writes their
    # folder) its instances' folders by fold
    assert "views: 18 links (18 created, 0 removed, 0 unchanged)" == first.strip()
    assert "views: 18 links (0 created, 0 removed, 18 unchanged)" == second.strip()
    assert {"into": "views", "links": 10, "created": 0, "removed": 8, "unchanged": 10} == third
    model_fold = views / "model" / "transformation=log" / "n_layers=1" / "fold=1"
    assert link.resolve() == model_fold.resolve()
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    manifest = json.loads((link / "phyper-manifest.json").read_text())
    assert ("all", {"transformation": "log", "n_layers": 1, "fold": 1}) == (manifest["resource"], manifest["key_values"])
    assert "log" == (views / "data" / "transformation=log" / "data.txt").read_text()
    assert not (views / "all" / "transformation=log" / "n_layers=2").exists()


def test_collect_writes_one_row_per_instance_with_metrics(project: Path) -> None:
    message = ok(project, "collect", "--metrics", "metrics:load", "-o", "out/results.csv")
    with open(project / "out" / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    per_model = ok(project, "collect", "--resource", "model")

    assert "wrote 8 rows (8 complete) to out/results.csv" == message.strip()
    assert ["hash", "transformation", "n_layers", "fold", "n_epochs", "data_hash", "model_hash", "folder",
            "complete", "status", "accuracy", "epochs"] == list(rows[0])
    assert sorted(hashes(project)) == sorted(row["hash"] for row in rows)
    first = next(row for row in rows if (row["transformation"], row["n_layers"], row["fold"]) == ("log", "2", "1"))
    assert (0.91, "3", "True", "complete") == (round(float(first["accuracy"]), 9), first["n_epochs"], first["complete"], first["status"])
    assert ["model_hash", "transformation", "n_layers", "data_hash", "folder", "complete", "status"] == [
        name for name in per_model.splitlines()[0].split(",") if name != "n_epochs"
    ]
    assert 1 + 4 == len(per_model.splitlines())
    assert all(",False,no step of the pipeline writes this folder" in line for line in per_model.splitlines()[1:])


def test_collect_marks_incomplete_results_and_skips_their_metrics(project: Path) -> None:
    first = hashes(project)[0]
    (project / "derived_data" / "all" / first / "metrics.json").write_text("{}")

    csv_text = ok(project, "collect", "--metrics", "metrics:load")

    row = next(line for line in csv_text.splitlines() if line.startswith(first))
    assert row.endswith(f",False,train:{first}: output derived_data/all/{first}/metrics.json changed size,,")
    assert 7 == sum(",True,complete," in line for line in csv_text.splitlines())


def test_migrate_after_a_new_key_moves_folders_and_records(project: Path) -> None:
    config = project / "config.py"
    config.write_text(config.read_text().replace("    fold = 0\n", "    fold = 0\n    dropout = 0.5\n"))
    old = sorted(p.name for p in (project / "derived_data" / "all").iterdir())
    record_times = {p.name: p.stat().st_mtime_ns for p in (project / "derived_data" / ".phyper" / "done" / "train").iterdir()}

    dry = json.loads(ok(project, "migrate", "--json"))
    unchanged = sorted(p.name for p in (project / "derived_data" / "all").iterdir())
    before = ok(project, "status")
    applied = ok(project, "migrate", "--apply")
    after = ok(project, "status")
    again = json.loads(ok(project, "migrate", "--json"))

    assert old == unchanged
    assert (8, 8 + 1) == (len(dry["moves"]), len(dry["records"]))
    assert "train: 0/8 complete, 8 to run" in before.splitlines()
    assert applied.startswith("moved 8 folder(s), rewrote 9 completion record(s)")
    assert ["make_data: 2/2 complete", "train: 8/8 complete", "summarise: 1/1 complete"] == after.splitlines()
    assert ([], []) == (again["moves"], again["records"])
    new = {p.name: p.stat().st_mtime_ns for p in (project / "derived_data" / ".phyper" / "done" / "train").iterdir()}
    assert sorted(record_times.values()) == sorted(new.values())
    assert set(hashes(project)) == {p.name for p in (project / "derived_data" / "all").iterdir()}
    manifest = json.loads((project / "derived_data" / "all" / hashes(project)[0] / "phyper-manifest.json").read_text())
    assert {"float": 0.5} == manifest["key_values"]["dropout"]


def test_migrate_refuses_when_two_folders_would_land_on_one_hash(project: Path) -> None:
    config = project / "config.py"
    # `fold` removed: the two folds of each model would share one folder
    config.write_text(config.read_text().replace("    fold = 0\n", "").replace(", 'fold': [0, 1]", ""))
    before = sorted(p.name for p in (project / "derived_data" / "all").iterdir())

    refused = phyper(project, "migrate", "--apply")

    assert 2 == refused.returncode
    assert "migrate refused: 4 target(s) would receive two or more folders" in refused.stderr
    assert 4 == sum(line.startswith("  ") and " <- " in line for line in refused.stderr.splitlines())
    assert before == sorted(p.name for p in (project / "derived_data" / "all").iterdir())


def test_migrate_renames_a_key(project: Path) -> None:
    config = project / "config.py"
    config.write_text(config.read_text().replace("n_layers", "depth"))
    (project / "pipeline.py").write_text((project / "pipeline.py").read_text().replace("n_layers", "depth"))

    dropped = phyper(project, "migrate")
    renamed = ok(project, "migrate", "--apply", "--rename", "n_layers=depth")

    assert 2 == dropped.returncode
    assert "(values dropped: n_layers, no longer keys): delete the extra folders, or use --rename OLD=NEW" in dropped.stderr
    assert renamed.startswith("moved 8 folder(s)")
    # the steps' code names the key, so it changed: the results are accepted as today's code's
    assert "train: 8/8 complete" not in ok(project, "status")
    assert "train: accepted today's code for 8 job(s)" in ok(project, "accept")
    assert ["make_data: 2/2 complete", "train: 8/8 complete", "summarise: 1/1 complete"] == ok(project, "status").splitlines()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from phyper._cli._output import Progress

    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        monkeypatch.setattr(sys, "stderr", stream)
        progress = Progress("scanning folders")
        for _ in range(150):
            progress.tick()
        progress.done()

    assert terminal.getvalue().startswith("\rscanning folders: 100\r")
    assert terminal.getvalue().endswith("\r")
    assert "" == pipe.getvalue()


# -- every command: --json, no abbreviations, "did you mean" ------------------------------


def test_every_command_takes_json_and_docs_cli_gives_its_schema() -> None:
    from phyper._cli import COMMANDS

    without_json = [c.name for c in COMMANDS if not any("--json" in declared.flags for declared in c.options)]
    page = (REPO / "docs" / "cli.md").read_text()
    undocumented = [c.name for c in COMMANDS if f"### `phyper {c.name} --json`" not in page]

    assert ([], []) == (without_json, undocumented)


def test_status_collect_plan_and_run_print_json(project: Path) -> None:
    first = hashes(project)[0]
    shutil.rmtree(project / "derived_data" / "all" / first)

    status = json.loads(ok(project, "status", "--json"))
    run = phyper(project, "run", "train", first, "--json")
    again = json.loads(ok(project, "run", "train", first, "--json"))
    collected = json.loads(ok(project, "collect", "--metrics", "metrics:load", "--json"))
    written = json.loads(ok(project, "collect", "-o", "out.csv", "--json"))
    plan = json.loads(ok(project, "plan", "--json"))

    assert [
        {"step": "make_data", "jobs": 2, "complete": 2, "to_run": 0, "failed": 0},
        {"step": "train", "jobs": 8, "complete": 7, "to_run": 1, "failed": 0},
        {"step": "summarise", "jobs": 1, "complete": 0, "to_run": 1, "failed": 0},
    ] == [{name: row[name] for name in ("step", "jobs", "complete", "to_run", "failed")} for row in status["steps"]]
    assert (2, [f"train:{first}", "summarise:all"]) == (status["to_run"], [job["job"] for job in status["listed"]])
    # the job's own lines went to stderr: stdout is one JSON document
    ran = json.loads(run.stdout)
    assert (0, True, "train", first) == (run.returncode, ran["ran"], ran["record"]["step"], ran["record"]["key"])
    job_lines = [line for line in run.stderr.splitlines() if line.startswith("phyper: train(")]
    assert [f"{first[:8]}: running", f"{first[:8]}: done in"] == [line.split(") ", 1)[1][:17] for line in job_lines]
    assert (False, None) == (again["ran"], again["record"])
    assert 8 == len(collected["rows"]) and "accuracy" in collected["columns"]
    assert {first: True} == {row["hash"]: row["complete"] for row in collected["rows"] if row["hash"] == first}
    assert {"path": "out.csv", "rows": 8, "complete": 8} == written
    assert json.loads(ok(project, "plan")) == plan


def test_abbreviations_are_refused_and_mistakes_get_did_you_mean(project: Path) -> None:
    (project / "config.py").write_text((project / "config.py").read_text().replace("'fold': [0, 1]", "'fold': [0]"))
    on_disk = sorted(p.name for p in (project / "derived_data" / "all").iterdir())

    abbreviated = phyper(project, "gc", "--delet")
    after = sorted(p.name for p in (project / "derived_data" / "all").iterdir())
    mistyped = phyper(project, "stauts")
    option = phyper(project, "status", "--verbos")
    deleted = phyper(project, "gc", "--delete")

    assert (2, "") == (abbreviated.returncode, abbreviated.stdout)
    assert "unrecognized argument `--delet`; did you mean `--delete`?" in abbreviated.stderr
    assert on_disk == after  # nothing deleted
    assert 2 == mistyped.returncode
    assert "unknown command `stauts`; did you mean `status`?" in mistyped.stderr
    assert (2, True) == (option.returncode, "did you mean `--verbose`?" in option.stderr)
    assert 0 == deleted.returncode and 4 == len(on_disk) - len(list((project / "derived_data" / "all").iterdir()))


def test_outside_a_project_the_error_names_the_projects_below(tmp_path: Path) -> None:
    at_root = failing(REPO, "status")
    empty = failing(tmp_path, "ls")

    assert at_root.startswith(f"phyper: no pipeline.py in {REPO}: run phyper from a project's folder (below here: "
                              "examples/digits, examples/iris, ")
    assert "e.g. `cd examples/digits` first), or pass --pipeline MODULE:ATTRIBUTE" in at_root
    assert f"phyper: no pipeline.py in {tmp_path}: run phyper from the folder holding your pipeline.py" in empty


def test_ls_counts_batch_records_apart_from_the_jobs(project: Path) -> None:
    batched = environment(PHYPER_BATCH="train=3")

    def command(*arguments: str) -> str:
        completed = subprocess.run([sys.executable, "-m", "phyper", *arguments], cwd=project, env=batched,
                                   capture_output=True, text=True, check=True)
        return completed.stdout

    plan = json.loads(command("plan", "--json"))
    batches = sorted({job["batch"] for job in plan["jobs"] if job["step"] == "train"})
    for key in batches:  # as an engine runs them: every member complete, each batch writes its own record
        command("run", "train", key)
    listed = json.loads(command("ls", "--json"))
    text = command("ls")

    assert 3 == len(batches)  # 8 models, at most 3 a batch
    assert {"jobs": JOBS, "batches": 3, "orphaned": 0} == listed["records"]
    assert f"completion records: {JOBS} of current jobs, 3 of batch jobs, 0 orphaned" == text.splitlines()[-1]


def test_json_output_is_strict_json_even_with_nan_metrics(project: Path) -> None:
    (project / "odd_metrics.py").write_text("def load(instance):\n    return {'loss': float('nan'), 'gain': float('inf')}\n")

    text = ok(project, "collect", "--metrics", "odd_metrics:load", "--json")

    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    rows = json.loads(text, parse_constant=refuse)["rows"]
    assert [(None, None)] * 8 == [(row["loss"], row["gain"]) for row in rows]
