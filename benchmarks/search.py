"""A search with an expensive shared resource: plain Optuna against ``phyper search run`` (a benchmark, not a test).

The toy (written to a temporary folder): a key ``prep`` with three values names the
``preprocessed`` resource; ``lr`` (log-uniform) and ``width`` (1..8) only change the
training. Preprocessing takes ``--preprocess-s`` seconds (default 4), a training a
tenth of it; both stand for real work by sleeping (so the two cores this machine
shares with others measure the orchestration, not contention), and each execution
appends a line to a file: the executions are counted, not inferred.

Measured in this one process, with the same sampler, seed and trial count:

* **plain Optuna**: ``study.optimize(objective, n_trials=N)``, whose objective computes
  its whole chain (preprocess, then train), as users write it; once with
  ``n_jobs=1`` (the usual loop) and once with ``n_jobs=2`` (threads, the same
  parallelism as phyper's ``-j 2``);
* **phyper**: ``phyper search run --trials N -j 2`` with Snakemake and with doit
  (subprocesses, as users run it), each on a fresh copy of the project.

Printed: the resource executions of each (phyper: one per distinct hash), the wall
times and the phyper/plain ratios (target: phyper <= 0.5x the plain loop at 40
trials), and phyper's overhead per trial for each engine: the same search on the
same toy with zero-second steps (driver, engine start, planning and job processes,
with no work left to hide them), wall time divided by the trial count.

Usage::

    python benchmarks/search.py                       # 40 trials, preprocessing 4 s
    python benchmarks/search.py --trials 20 --preprocess-s 2
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

CONFIG = '''
import phyper


class Instance(phyper.Parser):
    prep = 'standard'
    lr = 0.01
    width = 1


parser = Instance(hashed_resources_folder='derived_data')
parser.register_new_resource(name='preprocessed', dependencies=['prep'])
instances = parser.get_instances_from_dictionary({})
'''

PIPELINE = '''
import json
import math
import os
import time

import phyper
from config import instances, parser

PREPROCESS_S = float(os.environ.get('BENCH_PREPROCESS_S', '4'))
TRAIN_S = PREPROCESS_S / 10
SHIFT = {'standard': 0.0, 'robust': 0.3, 'none': 0.8}

search = phyper.Search(
    parser,
    space={'prep': phyper.choice(['standard', 'robust', 'none']), 'lr': phyper.log_uniform(1e-3, 1.0),
           'width': phyper.int_range(1, 8)},
    objective='loss', direction='minimize', sampler='tpe', seed=0,
)
pipeline = phyper.Pipeline(instances, searches=[search])


def executed(step):
    with open('executions.txt', 'a') as handle:
        handle.write(step + '\\n')


def preprocess_value(prep):
    time.sleep(PREPROCESS_S)
    executed('preprocess')
    return SHIFT[prep]


def train_value(shift, lr, width):
    time.sleep(TRAIN_S)
    executed('train')
    return (math.log10(lr) + 2) ** 2 + 0.05 * (width - 5) ** 2 + shift


def preprocessed_path(instance):
    return os.path.join(instance.get_resources_path('preprocessed'), 'shift.json')


def metrics_path(instance):
    return os.path.join(instance.get_resources_path(), 'metrics.json')


def write(path, value):
    with phyper.atomic_output(path) as temporary, open(temporary, 'w') as handle:
        json.dump(value, handle)


@pipeline.metrics
def metrics(instance):
    with open(metrics_path(instance)) as handle:
        return {'loss': json.load(handle)}


@pipeline.per_resource('preprocessed', outputs=[preprocessed_path])
def preprocess(instance):
    write(preprocessed_path(instance), preprocess_value(instance.prep))


@pipeline.per_instance(inputs=[preprocessed_path], outputs=[metrics_path])
def train(instance):
    with open(preprocessed_path(instance)) as handle:
        shift = json.load(handle)
    write(metrics_path(instance), train_value(shift, instance.lr, instance.width))
'''

SNAKEFILE = '''import phyper_snakemake
phyper_workflow = phyper_snakemake.load("pipeline:pipeline")
include: phyper_snakemake.SNAKEFILE

rule all:
    default_target: True
    input: phyper_workflow.targets
'''

DODO = '''import phyper_doit

DOIT_CONFIG = phyper_doit.DOIT_CONFIG
task_phyper = phyper_doit.tasks("pipeline:pipeline")
'''


def write_project(folder: Path, config: str = CONFIG, pipeline: str = PIPELINE) -> Path:
    """A toy project in ``folder``: its ``config.py`` and ``pipeline.py``, a Snakefile and a dodo.py."""
    folder.mkdir(parents=True)
    for name, text in (("config.py", config), ("pipeline.py", pipeline), ("Snakefile", SNAKEFILE), ("dodo.py", DODO)):
        (folder / name).write_text(text)
    return folder


def import_pipeline(folder: Path) -> ModuleType:
    """The project's ``pipeline`` module, imported in this process from ``folder`` (made the working folder)."""
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    for name in ("config", "pipeline"):
        sys.modules.pop(name, None)
    try:
        return importlib.import_module("pipeline")
    finally:
        sys.path.remove(str(folder))


def suggest(trial: Any, search: Any) -> dict[str, Any]:
    """The point a plain Optuna objective asks ``trial`` for: the search's space, dimension by dimension."""
    from phyper._search.space import Choice, IntRange, LogUniform, Uniform

    params: dict[str, Any] = {}
    for key, dimension in search.space.items():
        if isinstance(dimension, Choice):
            params[key] = trial.suggest_categorical(key, list(dimension.values))
        elif isinstance(dimension, IntRange):
            params[key] = trial.suggest_int(key, dimension.low, dimension.high, step=dimension.step, log=dimension.log)
        elif isinstance(dimension, LogUniform):
            params[key] = trial.suggest_float(key, dimension.low, dimension.high, log=True)
        elif isinstance(dimension, Uniform):
            params[key] = trial.suggest_float(key, dimension.low, dimension.high)
    return params


def run_phyper(folder: Path, arguments: list[str], environment: dict[str, str]) -> tuple[float, str]:
    """``python -m phyper ARGUMENTS`` in ``folder`` (a subprocess, as users run it): its wall time and output."""
    command = [sys.executable, "-m", "phyper", *arguments]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=folder, env=dict(os.environ, **environment), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    return wall, completed.stdout


def counts(folder: Path) -> dict[str, int]:
    path = folder / "executions.txt"
    lines = path.read_text().split() if path.exists() else []
    return {step: lines.count(step) for step in ("preprocess", "train")}


def plain_optuna(folder: Path, trials: int, n_jobs: int) -> tuple[float, dict[str, int], float]:
    """study.optimize over the same space, sampler and seed; each objective computes its whole chain."""
    import optuna

    from phyper._search.study import make_sampler

    pipeline_module = import_pipeline(folder)
    search = pipeline_module.search
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, search)
        shift = pipeline_module.preprocess_value(params["prep"])
        return float(pipeline_module.train_value(shift, params["lr"], params["width"]))

    study = optuna.create_study(sampler=make_sampler(search), direction=search.direction)
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_jobs=n_jobs)
    wall = time.perf_counter() - started
    return wall, counts(folder), float(study.best_value)


def phyper_search(folder: Path, trials: int, engine: str, preprocess_s: float) -> tuple[float, dict[str, int], str]:
    arguments = ["search", "run", "--trials", str(trials), "--engine", engine, "-j", "2"]
    wall, output = run_phyper(folder, arguments, {"BENCH_PREPROCESS_S": str(preprocess_s)})
    best = next((line for line in output.splitlines() if line.startswith("best:")), "best: ?")
    return wall, counts(folder), best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--preprocess-s", type=float, default=4.0, help="seconds of one preprocessing (training: a tenth)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated projects in this folder")
    arguments = parser.parse_args()
    root = arguments.keep or Path(tempfile.mkdtemp(prefix="phyper-search-bench-"))
    here = os.getcwd()
    os.environ["BENCH_PREPROCESS_S"] = str(arguments.preprocess_s)
    n = arguments.trials
    p = arguments.preprocess_s
    print(f"{n} trials, TPE seed 0, preprocessing {p:g} s, training {p / 10:g} s (3 distinct preprocessings)")

    results: list[tuple[str, float, dict[str, int]]] = []
    for n_jobs in (1, 2):
        wall, executed, best = plain_optuna(write_project(root / f"plain-{n_jobs}"), n, n_jobs)
        os.chdir(here)
        results.append((f"plain Optuna study.optimize(n_jobs={n_jobs})", wall, executed))
        print(f"  {results[-1][0]:<44} {wall:7.1f} s  preprocess x{executed['preprocess']:<3} "
              f"train x{executed['train']:<3} best loss {best:.4g}")
    plain_wall = results[0][1]
    plain_parallel_wall = results[1][1]
    for engine in ("snakemake", "doit"):
        wall, executed, best_line = phyper_search(write_project(root / f"phyper-{engine}"), n, engine, p)
        print(f"  {'phyper search run -j 2 --engine ' + engine:<44} {wall:7.1f} s  preprocess x{executed['preprocess']:<3} "
              f"train x{executed['train']:<3} {best_line}")
        print(f"      ratio to plain n_jobs=1: {wall / plain_wall:.2f}x (target <= 0.5x); "
              f"to plain n_jobs=2: {wall / plain_parallel_wall:.2f}x")
    print("phyper's overhead per trial (the same search, zero-second steps, -j 2):")
    for engine in ("snakemake", "doit"):
        wall, _, _ = phyper_search(write_project(root / f"overhead-{engine}"), n, engine, 0.0)
        print(f"  {engine:<10} {wall / n:.2f} s per trial ({wall:.1f} s for {n} trials; 2 trials at a time)")
    if arguments.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
