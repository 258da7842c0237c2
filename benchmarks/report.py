"""How long ``phyper.report`` takes and how big its page is on big grids (a benchmark, not a test).

The project is the synthetic Iris-shaped one of ``engine_overhead.py`` (as in
``scaling.py``: ``--instances`` sets the number of seeds, 90 instances each), with
one addition: the pipeline names a metric (``pipeline.metrics``) that reads each
model's file. For each size it times, in a fresh process (import, grid, plan,
verdicts, records, metrics, page):

* the report of the grid before anything ran;
* the report after every job completed (``scaling.py``'s ``complete.py`` completes
  them without engines);

and prints the wall time and the page's size. ``--group-by RESOURCE`` writes one row
per hash of that resource (what a grid of 100,000 instances and more needs).

Usage::

    python benchmarks/report.py                                   # 10,000 instances
    python benchmarks/report.py --instances 100000 --group-by cross_validated_model
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the same synthetic project as engine_overhead.py and scaling.py: one generator for all
import engine_overhead
from engine_overhead import CONFIG_PY, PIPELINE_PY
from scaling import COMPLETE_PY

METRICS_PY = '''

@pipeline.metrics
def read_metrics(instance):
    """A made-up accuracy from what the model's file holds (read, as a real loader would)."""
    with open(mpath(instance)) as handle:
        text = handle.read()
    return {"accuracy": 0.5 + 0.1 * instance.n_hidden_layers - 0.01 * instance.cv_fold + 0.001 * (len(text) % 7)}
'''

TARGET_SECONDS = 20.0
TARGET_BYTES = 15_000_000


def timed_report(folder: Path, output: Path, group_by: str | None) -> float:
    code = (
        "import sys; sys.path.insert(0, '.'); import phyper, pipeline; "
        f"phyper.report(pipeline.pipeline, {str(output)!r}, group_by={group_by!r})"
    )
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", code], cwd=folder, env=engine_overhead.environment(),
                               capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"report failed:\n{completed.stdout}\n{completed.stderr}")
    return wall


def main() -> None:
    command_line = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    command_line.add_argument("--instances", type=int, default=10_000)
    command_line.add_argument("--group-by", default=None, help="one row per hash of this resource")
    command_line.add_argument("--keep", type=Path, help="build in this (new) folder and keep it")
    arguments = command_line.parse_args()

    n_seeds = max(1, round(arguments.instances / 90))
    root = arguments.keep or Path(tempfile.mkdtemp(prefix="phyper-report-"))
    folder = root / "project"
    folder.mkdir(parents=True)
    files = {"config.py": CONFIG_PY.format(n_seeds=n_seeds, n_instances=90 * n_seeds),
             "pipeline.py": PIPELINE_PY + METRICS_PY, "complete.py": COMPLETE_PY}
    for name, text in files.items():
        (folder / name).write_text(text)
    load = os.getloadavg()[0]
    rows: list[tuple[str, float, int]] = []
    try:
        before = folder / "report-before-run.html"
        rows.append(("before any job ran", timed_report(folder, before, arguments.group_by), before.stat().st_size))
        subprocess.run([sys.executable, "complete.py"], cwd=folder, env=engine_overhead.environment(), check=True)
        after = folder / "report-complete.html"
        rows.append(("every job complete", timed_report(folder, after, arguments.group_by), after.stat().st_size))
        print_figures(arguments, n_seeds, load, rows)  # before removing the folder: that can take minutes
    finally:
        if not arguments.keep:
            shutil.rmtree(root, ignore_errors=True)


def print_figures(arguments: argparse.Namespace, n_seeds: int, load: float, rows: list[tuple[str, float, int]]) -> None:
    print(f"{90 * n_seeds:,} instances, group_by={arguments.group_by}; {os.cpu_count()} CPUs, load average "
          f"{load:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    print(f"{'report':<24} {'wall s':>8} {'MB':>7}   target at 10,000 instances: <= {TARGET_SECONDS:.0f} s, "
          f"<= {TARGET_BYTES / 1e6:.0f} MB")
    for label, wall, size in rows:
        verdict = "ok" if wall <= TARGET_SECONDS and size <= TARGET_BYTES else "OVER TARGET"
        verdict = verdict if 90 * n_seeds <= 10_000 else ""
        print(f"{label:<24} {wall:>8.1f} {size / 1e6:>7.2f}   {verdict}", flush=True)


if __name__ == "__main__":
    main()
