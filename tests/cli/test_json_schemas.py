"""Every command's `--json` holds to the schema docs/cli.md writes for it.

The schemas are read from the page itself (its ```json title="phyper ..." blocks); the
real `python -m phyper` runs on a real project (tests/fixtures/results, its jobs run
with `phyper run`, as an engine would), in situations where every list of a schema
has items to check: a job to run, non-keys changed, a grid that shrank, a key added.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engines import REPO, copy_project, environment

RESULTS = REPO / "tests" / "fixtures" / "results"
BLOCK = re.compile(r'^```json title="(?P<title>[^"]+)"\n(?P<body>.*?)^```', re.MULTILINE | re.DOTALL)
LEAVES = {
    "str": lambda value: isinstance(value, str),
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "bool": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "object": lambda value: isinstance(value, dict),
    "any": lambda value: True,
}


def documented() -> dict[str, Any]:
    """Title -> schema, for every schema of docs/cli.md."""
    page = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    return {match["title"]: json.loads(match["body"]) for match in BLOCK.finditer(page)}


def mismatches(value: Any, schema: Any, where: str = "$") -> list[str]:
    """Where ``value`` departs from ``schema`` (the notation of docs/cli.md), as readable lines."""
    if isinstance(schema, str):
        kinds = [kind.strip() for kind in schema.split("|")]
        unknown = [kind for kind in kinds if kind not in LEAVES]
        if unknown:
            return [f"{where}: the schema names no type {unknown}"]
        return [] if any(LEAVES[kind](value) for kind in kinds) else [f"{where}: {value!r} is not {schema}"]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [line for index, item in enumerate(value) for line in mismatches(item, schema[0], f"{where}[{index}]")]
    if value is None and schema.get("|") == "null":
        return []
    if not isinstance(value, dict):
        return [f"{where}: {value!r} is not an object"]
    keys = {key: item for key, item in schema.items() if key != "|"}
    if set(keys) == {"*"}:
        return [line for key, item in value.items() for line in mismatches(item, keys["*"], f"{where}.{key}")]
    if set(value) != set(keys):
        return [f"{where}: keys {sorted(value)}, the schema's {sorted(keys)}"]
    return [line for key, item in value.items() for line in mismatches(item, keys[key], f"{where}.{key}")]


def phyper(project: Path, *arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "phyper", *arguments], cwd=project, env=environment(**env), capture_output=True,
        text=True,
    )


def printed(project: Path, *arguments: str, status: int = 0, **env: str) -> Any:
    completed = phyper(project, *arguments, **env)
    assert status == completed.returncode, completed.stderr
    return json.loads(completed.stdout)


def nonempty(document: Any, *paths: str) -> list[str]:
    """The paths (``folders``, ``jobs.0.code``) whose value is empty or null: they would check nothing."""
    empty = []
    for path in paths:
        value = document
        for part in path.split("."):
            value = value[int(part)] if isinstance(value, list) else value[part]
        if not value:
            empty.append(path)
    return empty


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project with every job run by `python -m phyper run` (copied before each change)."""
    project = copy_project(RESULTS, tmp_path_factory.mktemp("finished") / "results")
    for job in printed(project, "plan")["jobs"]:
        assert 0 == phyper(project, "run", job["step"], job["key"]).returncode
    return project


def copy(finished: Path, destination: Path) -> Path:
    return Path(shutil.copytree(finished, destination, symlinks=True))


def test_the_page_documents_a_schema_per_json_form() -> None:
    assert [
        "phyper status --json", "phyper ls --json", "phyper show HASH --json", "phyper show --where NAME=VALUE --json",
        "phyper show HASH --code-diff --json", "phyper view --json", "phyper collect --json",
        "phyper collect -o FILE --json", "phyper report --json", "phyper gc --json", "phyper migrate --json",
        "phyper accept --json", "phyper run STEP KEY --json", "phyper plan --json",
    ] == list(documented()), "a schema of docs/cli.md that no test below checks: run its command here too"


def test_the_checker_finds_a_missing_key_a_wrong_type_and_an_unexpected_null() -> None:
    schema = {"a": "int", "b": [{"c": "str | null"}], "d": {"|": "null", "e": "bool"}, "f": {"*": "int"}}

    assert [] == mismatches({"a": 1, "b": [{"c": None}], "d": None, "f": {"x": 2}}, schema)
    assert [
        "$: keys ['a', 'b', 'd'], the schema's ['a', 'b', 'd', 'f']",
    ] == mismatches({"a": 1, "b": [], "d": None}, schema)
    assert [
        "$.a: True is not int", "$.b[0].c: 3 is not str | null", "$.d.e: 'no' is not bool", "$.f.x: 'y' is not int",
    ] == mismatches({"a": True, "b": [{"c": 3}], "d": {"e": "no"}, "f": {"x": "y"}}, schema)
    assert ["$.a: None is not an object"] == mismatches({"a": None}, {"a": {"b": "int"}})


def test_status_ls_show_view_collect_report_accept_run_and_plan_hold_to_their_schemas(
    finished: Path, tmp_path: Path
) -> None:
    schemas = documented()
    project = copy(finished, tmp_path / "results")
    plan = printed(project, "plan", "--json")
    trained = [job["key"] for job in plan["jobs"] if job["step"] == "train"]
    # one job to run (its output gone), and every complete job made with other non-keys
    (project / "derived_data" / "all" / trained[0] / "metrics.json").unlink()
    outputs = {
        "phyper status --json": printed(project, "status", "--json", PHYPER_NON_KEYS="n_epochs=5"),
        "phyper ls --json": printed(project, "ls", "--json"),
        "phyper show HASH --json": printed(project, "show", trained[1][:8], "--json"),
        "phyper show --where NAME=VALUE --json": printed(project, "show", "--where", "transformation=log", "--json"),
        "phyper show HASH --code-diff --json": printed(project, "show", trained[1], "--code-diff", "--json"),
        "phyper view --json": printed(project, "view", "--json"),
        "phyper collect --json": printed(project, "collect", "--metrics", "metrics:load", "--json"),
        "phyper collect -o FILE --json": printed(project, "collect", "-o", "table.csv", "--json"),
        "phyper report --json": printed(project, "report", "-o", "report.html", "--json"),
        "phyper accept --json": printed(project, "accept", "--json"),
        "phyper run STEP KEY --json": printed(project, "run", "train", trained[0], "--json"),
        "phyper plan --json": plan,
    }

    assert {title: [] for title in outputs} == {
        title: mismatches(output, schemas[title]) for title, output in outputs.items()
    }
    assert [] == nonempty(outputs["phyper status --json"], "steps", "listed", "drifted")
    assert [] == nonempty(outputs["phyper show HASH --json"], "files", "jobs", "jobs.0.code", "non_keys", "job_log")
    assert [] == nonempty(outputs["phyper collect --json"], "rows", "columns")
    assert [] == nonempty(outputs["phyper run STEP KEY --json"], "record")
    assert [] == nonempty(outputs["phyper plan --json"], "steps", "jobs")


def test_gc_holds_to_its_schema_with_orphans_and_a_folder_left_alone(finished: Path, tmp_path: Path) -> None:
    project = copy(finished, tmp_path / "results")
    config = project / "config.py"
    config.write_text(config.read_text().replace("'fold': [0, 1]", "'fold': [0]"))
    (project / "derived_data" / "all" / ("0" * 32)).mkdir()  # no manifest: left alone, exit status 1

    listed = printed(project, "gc", "--json", status=1)

    assert [] == mismatches(listed, documented()["phyper gc --json"])
    assert [] == nonempty(listed, "folders", "records", "left_alone")


def test_migrate_holds_to_its_schema_with_moves(finished: Path, tmp_path: Path) -> None:
    project = copy(finished, tmp_path / "results")
    config = project / "config.py"
    config.write_text(config.read_text().replace("    fold = 0\n", "    fold = 0\n    dropout = 0.5\n"))

    dry_run = printed(project, "migrate", "--json")

    assert [] == mismatches(dry_run, documented()["phyper migrate --json"])
    assert [] == nonempty(dry_run, "moves", "records")
