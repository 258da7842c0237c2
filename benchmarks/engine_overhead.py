"""phyper's overhead over hand-written Snakemake and doit workflows (a benchmark, not a test).

For each size N it builds, in a temporary folder, a synthetic pipeline of the Iris
shape whose grid is scaled by the ``seed`` key (transformation x centering x
n_hidden_layers x cv_fold x seed):

* ``transform``: per resource ``transformed_data`` (3 jobs);
* ``preprocess``: per resource ``preprocessed_data`` (6 jobs);
* ``train``: per instance (90 x seeds jobs);
* ``score``: one aggregate over every instance.

N = 90 x seeds + 10 jobs, so 11 seeds give exactly 1,000 jobs and 111 seeds 10,000.
The step functions write tiny text files (they never run here: every measurement is
a dry run or a listing on a folder where nothing is built).

Two workflows per size, in two sibling folders, with the same jobs and the same
files (``derived_data/<resource>/<hash>/file.txt`` and phyper's completion records
``derived_data/.phyper/done/<step>/<hash>.json``):

* ``phyper/``: ``config.py`` + ``pipeline.py`` and the documented Snakefile
  (``phyper_snakemake.load`` + ``include:`` + ``rule all``) and dodo.py
  (``phyper_doit.tasks``);
* ``hand/``: a Snakefile with plain ``rule``s, wildcards, ``expand`` and input
  functions over dicts, and a dodo.py of plain task dicts with
  ``file_dep``/``targets``/``actions``. Neither imports phyper: the hashes are
  precomputed (by phyper, in this script) into ``hashes.json``, which both files
  read with ``json.load``. Their job commands are the same ``python -m phyper run``
  strings, so a real run would produce the same files; they are never run here.

Before timing, the script checks that the phyper plan's targets equal the
hand-written target list, and every timed run checks that both workflows report
the same job counts per rule/step (Snakemake's job stats table, doit's task list).

Measured, interleaved (hand/phyper order alternates between repetitions), after
one untimed warm-up of each command, and reported as the median wall time and the
median CPU time (user + sys) of the child processes, which is steadier when other
work shares the machine:

* ``snakemake --dry-run --quiet rules`` on a fresh folder (``.snakemake`` removed
  before each run; ``rules`` keeps the job stats table, which holds the counts);
* ``doit list --all`` (task generation) and ``doit list --all --status``
  (``.doit.db`` removed before each run);
* for context, in a fresh process per repetition: building the grid
  (``import config``), ``pipeline.plan()`` (first call) and ``plan()`` again.

Before each timed run nothing is built and no engine state is left (``.snakemake``,
``.doit.db`` and ``derived_data`` removed), except phyper's plan cache
(``derived_data/.phyper`` with its ``plan-cache``), which the untimed warm-up writes: the figures
are those of a start on an unchanged project, the common case. Without the cache
(a project's very first start, or after an edit) add about "plan() first" above.
Python's bytecode cache is on for both (``PYTHONDONTWRITEBYTECODE`` is dropped).

The phyper/hand ratio is compared with the 10 % target (ratio <= 1.10), which
applies at 10,000 jobs.

Usage::

    python benchmarks/engine_overhead.py                       # N = 1000 and 10000, 3 repeats
    python benchmarks/engine_overhead.py --sizes 1000 --repeats 5
    python benchmarks/engine_overhead.py --keep /tmp/eo        # keep the generated folders
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("phyper-core", "phyper-snakemake", "phyper-doit")
TARGET_RATIO = 1.10
TARGET_SIZE = 10_000
STEPS = ("transform", "preprocess", "train", "score")

# -- the generated files ---------------------------------------------------------------

CONFIG_PY = '''\
"""Iris-shaped grid scaled by the `seed` key: {n_seeds} seeds, {n_instances} instances."""
import phyper


class NonKeys:
    n_epochs = 2000
    batch_size = 32
    learning_rate = 0.001
    log_interval = 200


class Instance(phyper.Parser, NonKeys):
    seed = 0
    n_hidden_layers = 3
    cv_k = 5
    cv_fold = 0
    transformation = "identity"
    centering = False


parser = Instance(hashed_resources_folder="derived_data")
parser.register_new_resource(name="transformed_data", dependencies=["transformation"])
parser.register_new_resource(name="preprocessed_data", dependencies=["transformation", "centering"])
parser.register_new_resource(
    name="cross_validated_model",
    dependencies=parser.get_dependencies_for_resources("preprocessed_data") + ["n_hidden_layers"],
)
grid = {{
    "transformation": ["identity", "log", "square"],
    "centering": [True, False],
    "n_hidden_layers": [1, 2, 3],
    "cv_fold": list(range(5)),
    "seed": list(range({n_seeds})),
}}
instances = parser.get_instances_from_dictionary(grid)
'''

PIPELINE_PY = '''\
"""Trivial steps of the Iris shape writing tiny text files."""
import os

import phyper
from config import instances, parser


def tpath(instance):
    return os.path.join(instance.get_resources_path("transformed_data"), "t.txt")


def ppath(instance):
    return os.path.join(instance.get_resources_path("preprocessed_data"), "p.txt")


def mpath(instance):
    return os.path.join(instance.get_resources_path(), "m.txt")


def spath():
    return os.path.join(parser.hashed_resources_folder, "results", "scores.txt")


pipeline = phyper.Pipeline(instances)


@pipeline.per_resource("transformed_data", outputs=[tpath])
def transform(instance):
    """Transform."""
    with open(tpath(instance), "w") as handle:
        handle.write(instance.transformation)


@pipeline.per_resource("preprocessed_data", inputs=[tpath], outputs=[ppath])
def preprocess(instance):
    """Preprocess."""
    with open(tpath(instance)) as source, open(ppath(instance), "w") as handle:
        handle.write(source.read() + str(instance.centering))


@pipeline.per_instance(inputs=[ppath], outputs=[mpath])
def train(instance):
    """Train."""
    with open(ppath(instance)) as source, open(mpath(instance), "w") as handle:
        handle.write(source.read() + str(instance.seed))


@pipeline.aggregate(inputs=[mpath], outputs=[spath])
def score(instances):
    """Score."""
    with open(spath(), "w") as handle:
        handle.write(str(len(instances)))
'''

PHYPER_SNAKEFILE = '''\
import phyper_snakemake

phyper_workflow = phyper_snakemake.load("pipeline:pipeline")


include: phyper_snakemake.SNAKEFILE


rule all:
    default_target: True
    input:
        phyper_workflow.targets,
'''

PHYPER_DODO = '''\
import phyper_doit

DOIT_CONFIG = phyper_doit.DOIT_CONFIG
task_phyper = phyper_doit.tasks("pipeline:pipeline")
'''

HAND_SNAKEFILE = '''\
# Hand-written: plain rules, wildcards, expand and input functions over dicts.
# hashes.json holds the precomputed hashes; nothing here imports phyper.
import json

with open("hashes.json") as handle:
    H = json.load(handle)

D = "derived_data"
DONE = D + "/.phyper/done"
HASH = "[0-9a-f]{32}"
RUN = "python -m phyper run pipeline:pipeline"


rule all:
    default_target: True
    input:
        expand(D + "/transformed_data/{hash}/t.txt", hash=H["transform"]),
        expand(DONE + "/transform/{hash}.json", hash=H["transform"]),
        expand(D + "/preprocessed_data/{hash}/p.txt", hash=list(H["preprocess"])),
        expand(DONE + "/preprocess/{hash}.json", hash=list(H["preprocess"])),
        expand(D + "/all/{hash}/m.txt", hash=list(H["train"])),
        expand(DONE + "/train/{hash}.json", hash=list(H["train"])),
        D + "/results/scores.txt",
        DONE + "/score/all.json",


rule transform:
    output:
        D + "/transformed_data/{hash}/t.txt",
        DONE + "/transform/{hash}.json",
    wildcard_constraints:
        hash=HASH,
    shell:
        RUN + " transform {wildcards.hash} --engine snakemake"


rule preprocess:
    input:
        lambda wildcards: D + "/transformed_data/" + H["preprocess"][wildcards.hash] + "/t.txt",
    output:
        D + "/preprocessed_data/{hash}/p.txt",
        DONE + "/preprocess/{hash}.json",
    wildcard_constraints:
        hash=HASH,
    shell:
        RUN + " preprocess {wildcards.hash} --engine snakemake"


rule train:
    input:
        lambda wildcards: D + "/preprocessed_data/" + H["train"][wildcards.hash] + "/p.txt",
    output:
        D + "/all/{hash}/m.txt",
        DONE + "/train/{hash}.json",
    wildcard_constraints:
        hash=HASH,
    shell:
        RUN + " train {wildcards.hash} --engine snakemake"


rule score:
    input:
        expand(D + "/all/{hash}/m.txt", hash=list(H["train"])),
    output:
        D + "/results/scores.txt",
        DONE + "/score/all.json",
    shell:
        RUN + " score all --engine snakemake"
'''

HAND_DODO = '''\
"""Hand-written: plain doit task dicts (file_dep, targets, actions); no phyper import."""
import json

DOIT_CONFIG = {"backend": "sqlite3", "dep_file": ".doit.db", "verbosity": 2}

with open("hashes.json") as handle:
    H = json.load(handle)

D = "derived_data"
DONE = D + "/.phyper/done"
RUN = "python -m phyper run pipeline:pipeline"


def task_transform():
    """Transform."""
    for key in H["transform"]:
        yield {
            "name": key,
            "actions": [f"{RUN} transform {key} --engine doit"],
            "targets": [f"{D}/transformed_data/{key}/t.txt", f"{DONE}/transform/{key}.json"],
        }


def task_preprocess():
    """Preprocess."""
    for key, source in H["preprocess"].items():
        yield {
            "name": key,
            "actions": [f"{RUN} preprocess {key} --engine doit"],
            "file_dep": [f"{D}/transformed_data/{source}/t.txt"],
            "targets": [f"{D}/preprocessed_data/{key}/p.txt", f"{DONE}/preprocess/{key}.json"],
        }


def task_train():
    """Train."""
    for key, source in H["train"].items():
        yield {
            "name": key,
            "actions": [f"{RUN} train {key} --engine doit"],
            "file_dep": [f"{D}/preprocessed_data/{source}/p.txt"],
            "targets": [f"{D}/all/{key}/m.txt", f"{DONE}/train/{key}.json"],
        }


def task_score():
    """Score."""
    yield {
        "name": "all",
        "actions": [f"{RUN} score all --engine doit"],
        "file_dep": [f"{D}/all/{key}/m.txt" for key in H["train"]],
        "targets": [f"{D}/results/scores.txt", f"{DONE}/score/all.json"],
    }
'''


def n_seeds_for(size: int) -> int:
    """Seeds giving 90 x seeds + 10 jobs as close to ``size`` as possible."""
    return max(1, round((size - 10) / 90))


# -- children (run in the generated phyper folder, in a fresh interpreter) ---------------


def child_setup() -> None:
    """Write ../hand/hashes.json from phyper's hashes; check the targets; print the counts."""
    sys.path.insert(0, os.getcwd())
    import phyper  # noqa: F401  (imported before the user's modules, as a Snakefile would)
    from config import instances
    from pipeline import pipeline

    hashes: dict[str, Any] = {"transform": [], "preprocess": {}, "train": {}}
    for instance in instances:
        transformed = instance.get_instance_hash("transformed_data")
        preprocessed = instance.get_instance_hash("preprocessed_data")
        if transformed not in hashes["transform"]:
            hashes["transform"].append(transformed)
        hashes["preprocess"].setdefault(preprocessed, transformed)
        hashes["train"][instance.get_instance_hash()] = preprocessed
    with open(os.path.join("..", "hand", "hashes.json"), "w") as handle:
        json.dump(hashes, handle)

    done = "derived_data/.phyper/done"
    hand_targets = {"derived_data/results/scores.txt", f"{done}/score/all.json"}
    for key in hashes["transform"]:
        hand_targets |= {f"derived_data/transformed_data/{key}/t.txt", f"{done}/transform/{key}.json"}
    for key in hashes["preprocess"]:
        hand_targets |= {f"derived_data/preprocessed_data/{key}/p.txt", f"{done}/preprocess/{key}.json"}
    for key in hashes["train"]:
        hand_targets |= {f"derived_data/all/{key}/m.txt", f"{done}/train/{key}.json"}
    plan = pipeline.plan()
    phyper_targets = [os.path.normpath(path) for path in plan.targets()]
    if len(phyper_targets) != len(set(phyper_targets)) or set(phyper_targets) != hand_targets:
        raise SystemExit(
            f"target mismatch: phyper {len(phyper_targets)} ({len(set(phyper_targets))} distinct), "
            f"hand-written {len(hand_targets)}; only in phyper: "
            f"{sorted(set(phyper_targets) - hand_targets)[:3]}, only hand: {sorted(hand_targets - set(phyper_targets))[:3]}"
        )
    counts = {step.name: len(plan.jobs_of(step.name)) for step in plan.steps}
    print(json.dumps({"instances": len(instances), "jobs": len(plan), "per_step": counts, "targets": len(hand_targets)}))


def child_plan() -> None:
    """Time the grid, the first plan() and a second plan() in this fresh process."""
    sys.path.insert(0, os.getcwd())
    import phyper  # noqa: F401

    start = time.perf_counter()
    import config  # noqa: F401  (builds the grid)

    grid = time.perf_counter() - start
    start = time.perf_counter()
    from pipeline import pipeline

    steps = time.perf_counter() - start
    start = time.perf_counter()
    plan = pipeline.plan()
    first = time.perf_counter() - start
    start = time.perf_counter()
    again = pipeline.plan()
    second = time.perf_counter() - start
    assert len(plan) == len(again)
    print(json.dumps({"grid": grid, "steps": steps, "plan": first, "plan_again": second, "jobs": len(plan)}))


# -- running and timing ------------------------------------------------------------------


def tool(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"`{name}` not found next to {sys.executable} or on PATH")
    return found


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    # measure the phyper next to this script (the environment may hold another checkout)
    # as users run Python: with its bytecode cache (the installed engines have theirs;
    # without it phyper and the project would be compiled from source at every start)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(str(REPO / "packages" / name / "src") for name in PACKAGES)
    return env


def timed(command: list[str], folder: Path, clean: Callable[[], None]) -> tuple[float, float, str]:
    """(wall s, children CPU s, combined output) of one run of ``command`` in ``folder``."""
    clean()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=folder, env=environment(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if completed.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} failed in {folder} (exit {completed.returncode}):\n"
            f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        )
    return wall, cpu, completed.stdout + completed.stderr


def snakemake_counts(output: str) -> dict[str, int]:
    """The job stats table of a dry run: {rule: count, ..., 'total': n}."""
    table = output.split("Job stats:", 1)
    if len(table) != 2:
        raise SystemExit(f"no job stats in the Snakemake output:\n{output[-2000:]}")
    counts = {}
    for line in table[1].splitlines():
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if match:
            counts[match[1]] = int(match[2])
            if match[1] == "total":
                break
    return counts


def doit_counts(output: str) -> dict[str, int]:
    """Sub-tasks per step in a ``doit list --all`` listing (status letters stripped)."""
    counts: dict[str, int] = {}
    for line in output.splitlines():
        fields = line.split()
        if not fields:
            continue
        name = fields[1] if len(fields) > 1 and fields[0] in {"R", "U", "I", "D"} and ":" not in fields[0] else fields[0]
        if ":" in name:
            step = name.split(":", 1)[0]
            counts[step] = counts.get(step, 0) + 1
    counts["total"] = sum(counts.values())
    return counts


class Size:
    """The two generated workflows of one size."""

    def __init__(self, root: Path, size: int) -> None:
        self.size = size
        self.n_seeds = n_seeds_for(size)
        self.folder = root / f"n{size}"
        self.phyper = self.folder / "phyper"
        self.hand = self.folder / "hand"
        for folder in (self.phyper, self.hand):
            folder.mkdir(parents=True)
            (folder / "config.py").write_text(CONFIG_PY.format(n_seeds=self.n_seeds, n_instances=90 * self.n_seeds))
            (folder / "pipeline.py").write_text(PIPELINE_PY)
        (self.phyper / "Snakefile").write_text(PHYPER_SNAKEFILE)
        (self.phyper / "dodo.py").write_text(PHYPER_DODO)
        (self.hand / "Snakefile").write_text(HAND_SNAKEFILE)
        (self.hand / "dodo.py").write_text(HAND_DODO)
        completed = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child-setup"],
            cwd=self.phyper, env=environment(), capture_output=True, text=True, check=False,
        )
        if completed.returncode != 0:
            raise SystemExit(f"setup of N={size} failed:\n{completed.stdout}\n{completed.stderr}")
        self.info = json.loads(completed.stdout)
        self.jobs = self.info["jobs"]
        self.counts: dict[str, int] = {}  # total jobs each command reported (hand = phyper)

    def clean(self, folder: Path) -> Callable[[], None]:
        def clean() -> None:
            # nothing built, nothing of an engine's own state; phyper's state folder and its
            # plan cache stay, as for users between two starts of an unchanged project that
            # has run (the untimed warm-up writes the cache; "plan() first" below is the
            # cost without it)
            shutil.rmtree(folder / ".snakemake", ignore_errors=True)
            derived = folder / "derived_data"
            if derived.exists():
                for entry in derived.iterdir():
                    if entry.name != ".phyper":
                        shutil.rmtree(entry, ignore_errors=True)
                for entry in (derived / ".phyper").iterdir():
                    if entry.name != "plan-cache":
                        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            for name in folder.glob(".doit.db*"):
                name.unlink()
            if folder == self.phyper:  # a project that has run has its state folder (the cache's home)
                (folder / "derived_data" / ".phyper").mkdir(parents=True, exist_ok=True)

        return clean


def measurements(snakemake: str, doit: str, with_status: bool) -> list[tuple[str, list[str], Callable[[str], dict[str, int]]]]:
    items: list[tuple[str, list[str], Callable[[str], dict[str, int]]]] = [
        ("snakemake -n", [snakemake, "--dry-run", "--quiet", "rules", "--cores", "1"], snakemake_counts),
        ("doit list --all", [doit, "list", "--all"], doit_counts),
    ]
    if with_status:
        items.append(("doit list --all --status", [doit, "list", "--all", "--status"], doit_counts))
    return items


def main() -> None:
    command_line = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    command_line.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="jobs (default 1000 10000)")
    command_line.add_argument("--repeats", type=int, default=3, help="timed repetitions (median reported)")
    command_line.add_argument("--no-status", action="store_true", help="skip `doit list --all --status`")
    command_line.add_argument("--engines", nargs="+", choices=["snakemake", "doit"], default=["snakemake", "doit"],
                              help="which engines to measure (default both)")
    command_line.add_argument("--keep", type=Path, help="build in this (new) folder and keep it")
    command_line.add_argument("--child-setup", action="store_true", help=argparse.SUPPRESS)
    command_line.add_argument("--child-plan", action="store_true", help=argparse.SUPPRESS)
    arguments = command_line.parse_args()
    if arguments.child_setup:
        child_setup()
        return
    if arguments.child_plan:
        child_plan()
        return

    began = time.perf_counter()
    load_start = os.getloadavg()
    snakemake, doit = tool("snakemake"), tool("doit")
    if arguments.keep:
        arguments.keep.mkdir(parents=True)
        root = arguments.keep
    else:
        root = Path(tempfile.mkdtemp(prefix="phyper-engine-overhead-"))
    try:
        sizes = [Size(root, size) for size in arguments.sizes]
        items = [item for item in measurements(snakemake, doit, not arguments.no_status)
                 if item[0].split()[0] in arguments.engines]
        times: dict[tuple[str, int, str], list[tuple[float, float]]] = {}
        plan_times: dict[int, list[dict[str, float]]] = {size.size: [] for size in sizes}

        def run(name: str, command: list[str], parse: Callable[[str], dict[str, int]], size: Size,
                order: tuple[str, ...], record: bool) -> None:
            counts = {}
            for variant in order:
                folder = size.phyper if variant == "phyper" else size.hand
                wall, cpu, output = timed(command, folder, size.clean(folder))
                counts[variant] = parse(output)
                if record:
                    times.setdefault((name, size.size, variant), []).append((wall, cpu))
            if counts["phyper"] != counts["hand"]:
                raise SystemExit(f"{name}, N={size.size}: job counts differ: phyper {counts['phyper']}, hand {counts['hand']}")
            expected = {"transform": 3, "preprocess": 6, "train": 90 * size.n_seeds, "score": 1}
            if any(counts["phyper"].get(step) != n for step, n in expected.items()):
                raise SystemExit(f"{name}, N={size.size}: unexpected job counts {counts['phyper']} (expected {expected})")
            size.counts[name] = counts["phyper"]["total"]

        # warm-up (untimed; also checks the counts once)
        for size in sizes:
            for name, command, parse in items:
                run(name, command, parse, size, ("hand", "phyper"), record=False)
        for repetition in range(arguments.repeats):
            order = ("hand", "phyper") if repetition % 2 == 0 else ("phyper", "hand")
            for size in sizes:
                for name, command, parse in items:
                    run(name, command, parse, size, order, record=True)
                completed = subprocess.run(
                    [sys.executable, str(Path(__file__).resolve()), "--child-plan"],
                    cwd=size.phyper, env=environment(), capture_output=True, text=True, check=True,
                )
                plan_times[size.size].append(json.loads(completed.stdout))
    finally:
        if not arguments.keep:
            shutil.rmtree(root, ignore_errors=True)

    import doit as doit_module
    import phyper
    import snakemake as snakemake_module

    print(f"python {sys.version.split()[0]}, snakemake {snakemake_module.__version__}, "
          f"doit {'.'.join(map(str, doit_module.__version__))}, phyper {phyper.__version__}, "
          f"{os.cpu_count()} CPUs; median of {arguments.repeats} interleaved runs; wall seconds and\n"
          f"child CPU seconds (user+sys); load average at start {load_start[0]:.1f}, at end {os.getloadavg()[0]:.1f}")
    for size in sizes:
        print(f"N={size.size:,}: {size.n_seeds} seeds, {size.info['instances']:,} instances, "
              f"{size.jobs:,} jobs {size.info['per_step']}; job counts reported (hand = phyper): "
              + ", ".join(f"{name}: {total:,}" for name, total in size.counts.items()))
    header = (f"{'engine':<25} {'N':>6} {'hand s':>7} {'phyper s':>8} {'ratio':>5} {'+s':>7} "
              f"{'cpu hand':>8} {'cpu phyper':>10} {'cpu ratio':>9}  10% target (wall / cpu)")
    print(header)
    print("-" * len(header))
    failed = False
    for name, _, _ in items:
        for size in sizes:
            hand_runs, our_runs = times[(name, size.size, "hand")], times[(name, size.size, "phyper")]
            h, p = statistics.median(w for w, _ in hand_runs), statistics.median(w for w, _ in our_runs)
            hc, pc = statistics.median(c for _, c in hand_runs), statistics.median(c for _, c in our_runs)
            if size.size >= TARGET_SIZE:
                verdict = " / ".join("met" if r <= TARGET_RATIO else "NOT met" for r in (p / h, pc / hc))
                failed |= p / h > TARGET_RATIO
            else:
                verdict = f"(applies at {TARGET_SIZE:,})"
            print(f"{name:<25} {size.size:>6,} {h:>7.3f} {p:>8.3f} {p / h:>5.2f} {p - h:>+7.3f} "
                  f"{hc:>8.3f} {pc:>10.3f} {pc / hc:>9.2f}  {verdict}")
    print()
    print("in-process context (fresh interpreter per repetition, medians, seconds):")
    print(f"{'N':>7} {'grid (import config)':>21} {'steps (import pipeline)':>24} {'plan() first':>13} {'plan() again':>13}")
    for size in sizes:
        rows = plan_times[size.size]
        med = {key: statistics.median(row[key] for row in rows) for key in ("grid", "steps", "plan", "plan_again")}
        print(f"{size.size:>7,} {med['grid']:>21.3f} {med['steps']:>24.3f} {med['plan']:>13.3f} {med['plan_again']:>13.3f}")
    print(f"\ntotal benchmark time {time.perf_counter() - began:.1f} s"
          + (f"; folders kept in {root}" if arguments.keep else ""))
    if failed:
        print(f"phyper's overhead is above {round((TARGET_RATIO - 1) * 100)} % at {TARGET_SIZE:,} jobs for at least one engine")


if __name__ == "__main__":
    main()
