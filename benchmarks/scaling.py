"""How phyper and its engines scale to huge grids, with and without batches (a benchmark, not a test).

A synthetic project of the Iris shape (transformation x centering x n_hidden_layers x
cv_fold x seed; steps transform (3 jobs), preprocess (6), train (one per instance),
score (aggregate)) is generated in a temporary folder with cheap steps that write
tiny text files (the phyper side of ``engine_overhead.py``'s project). ``--instances`` sets the grid size through the number of seeds
(90 instances per seed). Training is batched with ``PHYPER_BATCH=train=<N>``
(``--batch 0``: one engine job per instance, as before batches existed).

For each size it runs, each command in a fresh process under ``/usr/bin/time``
(wall seconds, CPU seconds user+sys, peak resident memory of the process tree's
largest process):

* ``plan``: ``python -c "import pipeline; pipeline.pipeline.plan()"`` (grid + plan);
* ``snakemake -n``: ``snakemake --dry-run --quiet rules --cores 1`` (whole DAG);
* ``doit list --all --status``: doit's dry run (every task with its up-to-date status);
* ``phyper status``: ``python -m phyper status pipeline:pipeline``.

With ``--complete`` it then completes every job in one process (the cheap step and
its completion record, without the runner's lock, manifest and log line), and times a no-op rerun by each engine
(``snakemake -j2 all``, ``doit -n 2``), checking from phyper's job log that no job ran.

Usage::

    python benchmarks/scaling.py --instances 100000 --batch 1000
    python benchmarks/scaling.py --instances 100000 --batch 0         # unbatched baseline
    python benchmarks/scaling.py --instances 1000000 --batch 1000 --skip snakemake
    python benchmarks/scaling.py --instances 100000 --batch 1000 --complete
    python benchmarks/scaling.py --instances 100000 --batch 0 --share   # phyper's share, unbatched

``--share`` runs each engine's dry run again with a stack sampler in its process
(see ``SAMPLER``) and prints the fraction of samples with a phyper frame on the stack:
phyper's code and what it calls (the grid, the path functions), against the engine's;
once as a project's first start (no plan cache), once as a start of the project after
it has run (its state folder holds the plan cache).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# the same synthetic project as engine_overhead.py (its phyper side): one generator for both
import engine_overhead
from engine_overhead import CONFIG_PY, PACKAGES, PIPELINE_PY, REPO
from engine_overhead import PHYPER_DODO as DODO_PY
from engine_overhead import PHYPER_SNAKEFILE as SNAKEFILE

TIME = "/usr/bin/time"

COMPLETE_PY = '''\
# Completes every job fast, without engines: the cheap step, then its completion record
# as the runner writes it (no lock, manifest, log line or fsync: this only sets the scene).
import os, sys, time
sys.path.insert(0, ".")
import phyper._state.records
from phyper._state.records import Records, stat_fingerprint


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


phyper._state.records.atomic_write_text = write_text
from pipeline import pipeline
plan = pipeline.plan()
records = Records(pipeline.state, pipeline.codes)
start = time.perf_counter()
code_of_step = {}


def complete(job):
    step = pipeline.steps[job.step]
    for path in job.outputs:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    step.function(pipeline.subject(step, job.key))
    if job.step not in code_of_step:  # the code that made the result, as the runner records it
        field = pipeline.codes.today_field(job.step)
        code_of_step[job.step] = {} if field is None else {"code": field}
    records.write(job, {path: stat_fingerprint(path) for path in job.inputs}, code_of_step[job.step])


# in the order the engines would: a batch's record after its members', a step's after its upstream's
for engine_job in plan.engine_jobs():
    if engine_job.is_batch:
        for member in plan.members(engine_job):
            complete(member)
        records.write(engine_job, {}, {"members": sorted(engine_job.members)})
    else:
        complete(engine_job)
print(f"completed {len(plan):,} jobs in {time.perf_counter() - start:.1f} s", file=sys.stderr)
'''


# Run inside an engine's process (--share): a thread samples the main thread's stack
# every millisecond (in practice at each switch of the interpreter lock, about every
# 5 ms) and counts the samples with a phyper frame anywhere on the stack: phyper's own
# code and everything it calls (the user's grid and path functions included), as
# opposed to the engine's. Written to $PHYPER_BENCH_SHARE at exit as "phyper total".
SAMPLER = """
import atexit, os, sys, threading, time
_roots = tuple(os.environ["PHYPER_BENCH_ROOTS"].split(os.pathsep))
_main = threading.main_thread().ident
_counts = [0, 0]
def _sample():
    frames = sys._current_frames
    while True:
        time.sleep(0.001)
        frame = frames().get(_main)
        if frame is None:
            return
        mine = 0
        while frame is not None:
            if frame.f_code.co_filename.startswith(_roots):
                mine = 1
                break
            frame = frame.f_back
        _counts[mine] += 1
def _report():
    with open(os.environ["PHYPER_BENCH_SHARE"], "w") as handle:
        handle.write(f"{_counts[1]} {_counts[0] + _counts[1]}")
threading.Thread(target=_sample, daemon=True).start()
atexit.register(_report)
"""

ENGINE_MAINS = {
    "snakemake": "sys.argv = ['snakemake', *sys.argv[1:]]\nfrom snakemake.cli import main\nmain()",
    "doit": "sys.argv = ['doit', *sys.argv[1:]]\nfrom doit.__main__ import main\nsys.exit(main())",
}


def phyper_share(engine: str, arguments: list[str], folder: Path, env: dict[str, str]) -> tuple[float, int]:
    """(phyper's share of the samples, number of samples) of one engine command (see SAMPLER)."""
    share_file = folder / ".phyper-share"
    env = {**env, "PHYPER_BENCH_SHARE": str(share_file),
           "PHYPER_BENCH_ROOTS": os.pathsep.join(str(REPO / "packages" / name / "src") for name in PACKAGES)}
    code = SAMPLER + "import sys\n" + ENGINE_MAINS[engine]
    completed = subprocess.run([sys.executable, "-c", code, *arguments], cwd=folder, env=env, capture_output=True, text=True)
    if completed.returncode != 0 or not share_file.exists():
        raise SystemExit(f"{engine} {' '.join(arguments)} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    mine, total = (int(number) for number in share_file.read_text().split())
    share_file.unlink()
    return mine / max(total, 1), total


def environment(batch: int) -> dict[str, str]:
    """engine_overhead.py's environment (this checkout's phyper, bytecode cache on), with batches."""
    env = engine_overhead.environment()
    env["PHYPER_BATCH"] = f"train={batch}"
    env.pop("PHYPER_NON_KEYS", None)
    return env


def timed(command: list[str], folder: Path, env: dict[str, str]) -> dict[str, Any]:
    """Wall s, CPU s (user+sys) and peak MiB of one command (``/usr/bin/time``)."""
    marker = "PHYPER-BENCH"
    completed = subprocess.run(
        [TIME, "-f", f"{marker} %e %U %S %M", *command], cwd=folder, env=env, capture_output=True, text=True
    )
    line = next((text for text in completed.stderr.splitlines()[::-1] if text.startswith(marker)), None)
    if completed.returncode != 0 or line is None:
        raise SystemExit(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    _, wall, user, system, peak_kib = line.split()
    output = "\n".join(text for text in (completed.stdout + completed.stderr).splitlines() if not text.startswith(marker))
    return {"wall": float(wall), "cpu": float(user) + float(system), "peak_mib": int(peak_kib) / 1024, "output": output}


def done_entries(folder: Path) -> int:
    log = folder / "derived_data" / ".phyper" / "jobs.jsonl"
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if line.strip() and json.loads(line).get("status", "done") == "done")


def main() -> None:
    command_line = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    command_line.add_argument("--instances", type=int, default=100_000)
    command_line.add_argument("--batch", type=int, default=1000, help="train jobs per engine job (0: unbatched)")
    command_line.add_argument("--complete", action="store_true", help="also complete every job and time no-op reruns")
    command_line.add_argument("--skip", nargs="*", default=[], choices=["plan", "snakemake", "doit", "status"])
    command_line.add_argument("--share", action="store_true",
                              help="also measure phyper's share of each engine's dry run (a stack sampler in the engine's process)")
    command_line.add_argument("--keep", type=Path, help="build in this (new) folder and keep it")
    arguments = command_line.parse_args()

    n_seeds = max(1, round(arguments.instances / 90))
    root = arguments.keep or Path(tempfile.mkdtemp(prefix="phyper-scaling-"))
    root.mkdir(parents=True, exist_ok=True)
    folder = root / "project"
    folder.mkdir()
    files = {"config.py": CONFIG_PY.format(n_seeds=n_seeds, n_instances=90 * n_seeds), "pipeline.py": PIPELINE_PY,
             "Snakefile": SNAKEFILE, "dodo.py": DODO_PY, "complete.py": COMPLETE_PY}
    for name, text in files.items():
        (folder / name).write_text(text)
    env = environment(arguments.batch)
    python, snakemake, doit = sys.executable, str(Path(sys.executable).with_name("snakemake")), str(Path(sys.executable).with_name("doit"))
    commands = {
        "plan": [python, "-c", "import sys; sys.path.insert(0, '.'); import pipeline; "
                 "plan = pipeline.pipeline.plan(); print(len(plan), 'jobs', sum(1 for _ in plan.engine_jobs()), 'engine jobs')"],
        "snakemake": [snakemake, "--dry-run", "--quiet", "rules", "--cores", "1"],
        "doit": [doit, "list", "--all", "--status"],
        "status": [python, "-m", "phyper", "status", "pipeline:pipeline"],
    }
    names = {"plan": "plan (import + plan())", "snakemake": "snakemake -n", "doit": "doit list --all --status",
             "status": "phyper status"}
    rows = []
    load = os.getloadavg()[0]
    began = time.perf_counter()
    try:
        for key, command in commands.items():
            if key in arguments.skip:
                continue
            result = timed(command, folder, env)
            shutil.rmtree(folder / ".snakemake", ignore_errors=True)
            rows.append((names[key], result))
            if key == "plan":
                print(result["output"].strip().splitlines()[-1])
        shares = []
        if arguments.share:
            engines = [(engine, commands[engine][1:]) for engine in ("snakemake", "doit") if engine not in arguments.skip]
            # a project's first start (nothing has run: no state folder, so no plan cache) ...
            for engine, engine_arguments in engines:
                share, samples = phyper_share(engine, engine_arguments, folder, env)
                shutil.rmtree(folder / ".snakemake", ignore_errors=True)
                for database in folder.glob(".doit.db*"):
                    database.unlink()
                shares.append((f"{names[engine]} (first start)", share, samples))
            # ... and a start of the same project once it has run (its plan cache written
            # by one untimed start, read by the measured one)
            (folder / "derived_data" / ".phyper").mkdir(parents=True, exist_ok=True)
            for engine, engine_arguments in engines:
                for _run in ("writes the cache", "measured"):
                    share, samples = phyper_share(engine, engine_arguments, folder, env)
                    shutil.rmtree(folder / ".snakemake", ignore_errors=True)
                    for database in folder.glob(".doit.db*"):
                        database.unlink()
                shares.append((f"{names[engine]} (project that has run)", share, samples))
            shutil.rmtree(folder / "derived_data", ignore_errors=True)
        if arguments.complete:
            result = timed([python, "complete.py"], folder, env)
            print(result["output"].strip().splitlines()[-1], f"(peak {result['peak_mib']:.0f} MiB)")
            before = done_entries(folder)
            for label, command in (("no-op rerun: snakemake -j2 all", [snakemake, "-j2", "all"]),
                                   ("no-op rerun: doit -n 2", [doit, "-n", "2"])):
                result = timed(command, folder, env)
                ran = done_entries(folder) - before
                rows.append((f"{label} ({ran} jobs ran)", result))
    finally:
        if not arguments.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{90 * n_seeds:,} instances, PHYPER_BATCH=train={arguments.batch}; {os.cpu_count()} CPUs, load average "
          f"{load:.1f} at start, {os.getloadavg()[0]:.1f} at end; total {time.perf_counter() - began:.0f} s")
    print(f"{'command':<46} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}")
    for label, result in rows:
        print(f"{label:<46} {result['wall']:>8.1f} {result['cpu']:>8.1f} {result['peak_mib']:>9.0f}")
    for label, share, samples in shares:
        print(f"phyper's share of {label}: {100 * share:.1f} % of {samples} stack samples")


if __name__ == "__main__":
    main()
