"""Running the real engines on a copy of a project, as a user would, for the tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IRIS = REPO / "examples" / "iris"
TOY = REPO / "tests" / "fixtures" / "toy"
BIN = Path(sys.executable).parent
BACKENDS = ("snakemake", "doit")

_GENERATED = (
    "derived_data", ".snakemake", ".doit.db*", "__pycache__", ".ipynb_checkpoints",
    # `phyper view`'s tree of links into derived_data (README: the `phyper` command)
    "views",
    # virtual environments and the documentation site a user may have built in the folder
    ".venv", "venv", "site",
)


def copy_project(source: Path, destination: Path) -> Path:
    """Copy a project's sources (never its generated data) into ``destination``.

    Whatever a user ran in ``source`` first (the README's `phyper view` makes a tree of
    links into ``derived_data``), the copy holds the sources only: the generated folders
    are left out, and any other symbolic link is copied as a link, never followed (a
    followed link would copy the results it points to).
    """
    shutil.copytree(source, destination, symlinks=True, ignore=shutil.ignore_patterns(*_GENERATED))
    return destination


def engine_command(backend: str, jobs: int = 8) -> list[str]:
    """The command a user types: ``snakemake -j8 all`` or ``doit -n 8``."""
    if backend == "snakemake":
        return [str(BIN / "snakemake"), f"-j{jobs}", "all"]
    if backend == "doit":
        return [str(BIN / "doit"), *(["-n", str(jobs)] if jobs > 1 else [])]
    raise ValueError(backend)


def environment(**extra: str) -> dict[str, str]:
    """The test process's environment with the engines' folder first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PHYPER_NON_KEYS", None)
    env.update(extra)
    return env


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure, show everything it printed."""
    completed = subprocess.run(command, cwd=cwd, env=env or environment(), capture_output=True, text=True)
    if check and completed.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {completed.returncode}\n--- stdout\n{completed.stdout[-8000:]}"
            f"\n--- stderr\n{completed.stderr[-8000:]}"
        )
    return completed


def run_engine(backend: str, project: Path, jobs: int = 8, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the engine over the project's whole pipeline."""
    return run(engine_command(backend, jobs), project, environment(**env))


def job_log(project: Path) -> list[dict[str, object]]:
    """Every job completion phyper logged in the project, oldest first."""
    path = project / "derived_data" / ".phyper" / "jobs.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def counts_since(project: Path, before: int) -> Counter[str]:
    """Jobs per step that ran to completion since the log had ``before`` lines.

    The log also holds jobs that found their work done ("skipped") and failures."""
    return Counter(str(entry["step"]) for entry in job_log(project)[before:] if entry.get("status", "done") == "done")


def output_files(project: Path) -> set[str]:
    """Every file under derived_data except the engine-neutral bookkeeping."""
    root = project / "derived_data"
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and ".phyper" not in path.parts
    }


# -- what each tool says is to run (the one answer every tool must give) ---------------------


def status_to_run(project: Path, **env: str) -> set[str]:
    """The jobs (batch members, not batches) `phyper status -v` lists to run."""
    lines = run([sys.executable, "-m", "phyper", "status", "-v"], project, environment(**env)).stdout.splitlines()
    heading = next((index for index, line in enumerate(lines) if line.startswith("to run (")), None)
    if heading is None:
        return set()
    listed = []
    for line in lines[heading + 1 :]:
        if not line.startswith("  "):
            break
        listed.append(line.strip().split(": ", 1)[0])
    assert int(lines[heading].split("(")[1].split(")")[0]) == len(listed)
    return set(listed)


def snakemake_plan(project: Path, *options: str, **env: str) -> set[str]:
    """The engine jobs `snakemake -n` would run, from the commands it prints."""
    dry = run([str(BIN / "snakemake"), "-n", "-p", *options], project, environment(**env)).stdout
    jobs = set(re.findall(r" -m phyper run pipeline:pipeline (\S+) (\S+) --engine snakemake", dry))
    assert ("Nothing to be done" in dry) == (not jobs), dry[-2000:]
    return {f"{step}:{key}" for step, key in jobs}


def doit_plan(project: Path, **env: str) -> set[str]:
    """The sub-tasks `doit list --all --status` shows as to run (`R`)."""
    listing = run([str(BIN / "doit"), "list", "--all", "--status"], project, environment(**env)).stdout
    return {line.split()[1] for line in listing.splitlines() if line.startswith("R ") and ":" in line.split()[1]}

