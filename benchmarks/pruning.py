"""A pruned search: plain Optuna with Hyperband against ``phyper search run`` with Hyperband (a benchmark, not a test).

The toy (written to a temporary folder, beside `search.py`'s): a key ``prep`` with three
values names the shared ``preprocessed`` resource; ``lr`` (seven values) and ``width``
(1..8) only change the training, whose budget is the key ``n_epochs``. The training
state is one number saved per rung (``state <- state + 3 lr (1 - state)`` per epoch),
so continuing from a lower rung gives the same number as training from scratch; the
loss is ``(1 - state)^2`` plus a penalty of the preprocessing and the width. A bad
configuration is visibly bad at the first rung (a learning rate of 0.001 is still at
loss 1, a wrong preprocessing adds 0.5), and the best needs the top rung.

An epoch takes ``--epoch-s`` seconds (default 0.2) and a preprocessing ten times the
first rung (``--preprocess-s``, default 2 s); both sleep (so the two cores this machine
shares with others measure the orchestration, not contention), and each execution
appends a line to ``executions.txt``: preprocessings and epochs are counted, not
inferred.

Measured in this one process, for each seed, with the same sampler (TPE), pruner
(Hyperband over ``n_epochs`` 1, 3, 9, 27), seed, and trial count, two at a time:

* **plain Optuna**: ``study.optimize(objective, n_trials=N, n_jobs=2)`` whose objective
  preprocesses, then trains epoch by epoch, reports the loss at the rung epochs and
  raises ``optuna.TrialPruned`` when ``trial.should_prune()`` (Optuna's documented
  pattern; the study has the name of phyper's, which places trials in Hyperband's brackets);
* **phyper**: ``phyper search run --trials N -j 2`` with Snakemake and with doit
  (subprocesses, as users run it), each on a fresh copy of the project.

Printed for each: epochs trained, preprocessings, rungs run (training jobs), wall time,
best loss, and the **floor**: the distinct (configuration, epoch) pairs the search
reached, read from the study (each distinct configuration counted up to the highest
rung any of its trials reached), which is what a search that never trains an epoch twice
trains. Targets: phyper's epochs equal the floor, its wall <= 0.5x the plain loop, its
best loss no worse (``--seeds 0 1 2`` prints the bests of three seeds side by side).

Then a second study (``wide``: the top budget three times larger, 81) on the project of
the first seed's last engine, against the same study on a fresh project: the epochs each
trained. Last, phyper's overhead per rung for each engine: the same search with
zero-second steps (driver, engine starts, planning, job processes), wall time divided by
the rungs run.

Usage::

    python benchmarks/pruning.py                      # 40 trials, seed 0, both engines
    python benchmarks/pruning.py --seeds 0 1 2        # the bests over three seeds
    python benchmarks/pruning.py --quick              # a smoke run (8 trials, short epochs)
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search import import_pipeline, run_phyper, suggest, write_project

CONFIG = '''
import phyper


class Instance(phyper.Parser):
    prep = 'standard'
    lr = 0.01
    width = 1
    n_epochs = 27


parser = Instance(hashed_resources_folder='derived_data')
parser.register_new_resource(name='preprocessed', dependencies=['prep'])
instances = parser.get_instances_from_dictionary({})
'''

PIPELINE = '''
import json
import os
import time

import phyper
from config import instances, parser

EPOCH_S = float(os.environ.get('BENCH_EPOCH_S', '0.2'))
PREPROCESS_S = float(os.environ.get('BENCH_PREPROCESS_S', str(10 * EPOCH_S)))
SEED = int(os.environ.get('BENCH_SEED', '0'))
SHIFT = {'standard': 0.0, 'robust': 0.1, 'none': 0.5}
SPACE = {
    'prep': phyper.choice(['standard', 'robust', 'none']),
    'lr': phyper.choice([0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.6]),
    'width': phyper.int_range(1, 8),
}
FIDELITY = phyper.budget('n_epochs', low=1, high=27, factor=3)
WIDE = phyper.budget('n_epochs', low=1, high=81, factor=3)  # the second study: three times the top budget

search = phyper.Search(parser, space=SPACE, objective='loss', direction='minimize', sampler='tpe', seed=SEED,
                       fidelity=FIDELITY, pruner='hyperband')
wide = phyper.Search(parser, space=SPACE, objective='loss', direction='minimize', sampler='tpe', seed=SEED,
                     fidelity=WIDE, pruner='hyperband', name='wide')
# today's search, for the overhead's ceiling: no budget, each trial one job at n_epochs 27
flat = phyper.Search(parser, space=SPACE, objective='loss', direction='minimize', sampler='tpe', seed=SEED, name='flat')
pipeline = phyper.Pipeline(instances, searches=[search, wide, flat])
RUNGS = sorted(set(FIDELITY.rungs) | set(WIDE.rungs))


def executed(*words):
    with open('executions.txt', 'a') as handle:
        handle.write(' '.join(map(str, words)) + '\\n')


def configuration(prep, lr, width):
    return f'{prep}/{lr!r}/{width}'


def preprocess_value(prep):
    time.sleep(PREPROCESS_S)
    executed('preprocess', prep)
    return SHIFT[prep]


def train_epoch(state, lr, config, epoch):
    time.sleep(EPOCH_S)
    executed('epoch', config, epoch)
    return state + 3 * lr * (1 - state)


def loss_value(state, shift, lr, width):
    # the fastest learning rate is not the best one: the best loss needs the top rung
    return (1 - state) ** 2 + shift + 0.02 * (width - 5.5) ** 2 + 0.05 * lr


def preprocessed_path(instance):
    return os.path.join(instance.get_resources_path('preprocessed'), 'shift.json')


def state_path(instance):
    return os.path.join(instance.get_resources_path(), 'state.json')


def metrics_path(instance):
    return os.path.join(instance.get_resources_path(), 'metrics.json')


def read(path):
    with open(path) as handle:
        return json.load(handle)


def write(path, value):
    with phyper.atomic_output(path) as temporary, open(temporary, 'w') as handle:
        json.dump(value, handle)


@pipeline.metrics
def metrics(instance):
    return {'loss': read(metrics_path(instance))}


@pipeline.per_resource('preprocessed', outputs=[preprocessed_path])
def preprocess(instance):
    write(preprocessed_path(instance), preprocess_value(instance.prep))


@pipeline.per_instance(inputs=[preprocessed_path], outputs=[state_path, metrics_path], continues='n_epochs')
def train(instance):
    shift = read(preprocessed_path(instance))
    lower = phyper.continued_from(instance, budgets=RUNGS)
    state, start = (0.0, 0) if lower is None else (read(state_path(lower)), lower.n_epochs)
    config = configuration(instance.prep, instance.lr, instance.width)
    for epoch in range(start + 1, instance.n_epochs + 1):
        state = train_epoch(state, instance.lr, config, epoch)
    executed('train', config, instance.n_epochs, start)
    write(state_path(instance), state)
    write(metrics_path(instance), loss_value(state, shift, instance.lr, instance.width))
'''


@dataclass
class Run:
    """What one search did: counted from the execution lines, read from its study."""

    label: str
    wall: float
    preprocessings: int
    epochs: int
    rungs: int
    floor: int
    best: float


def executions(folder: Path) -> list[list[str]]:
    path = folder / "executions.txt"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def reached(study: Any, search: Any) -> dict[tuple[Any, ...], float]:
    """Each distinct configuration of the study -> the highest budget any of its trials reached."""
    import optuna

    top: dict[tuple[Any, ...], float] = {}
    for trial in study.get_trials(deepcopy=False):
        steps = list(trial.intermediate_values)
        if steps:
            budget = max(steps)
        elif trial.state == optuna.trial.TrialState.COMPLETE:
            budget = search.fidelity.high if search.fidelity is not None else 27  # `flat`: the parser's n_epochs
        else:
            continue
        point = tuple(trial.params[key] for key in search.space)
        top[point] = max(top.get(point, 0), budget)
    return top


def floor(study: Any, search: Any) -> int:
    """The distinct (configuration, epoch) pairs the search reached: the epochs of a search that trains none twice."""
    return int(sum(reached(study, search).values()))


def measure(label: str, folder: Path, wall: float, study: Any, search: Any) -> Run:
    lines = executions(folder)
    completed = [trial for trial in study.get_trials(deepcopy=False) if trial.value is not None
                 and trial.state.name == "COMPLETE"]
    best = min(float(trial.value) for trial in completed) if completed else float("nan")
    return Run(
        label,
        wall,
        preprocessings=sum(1 for line in lines if line[0] == "preprocess"),
        epochs=sum(1 for line in lines if line[0] == "epoch"),
        rungs=sum(1 for line in lines if line[0] == "train"),
        floor=floor(study, search),
        best=best,
    )


def plain_optuna(folder: Path, trials: int) -> Run:
    """study.optimize(n_jobs=2) over the same space, sampler, pruner and seed: preprocess, then train epoch by epoch."""
    import optuna

    from phyper._search.study import make_pruner, make_sampler, rung_steps

    pipeline_module = import_pipeline(folder)
    search = pipeline_module.search
    rungs = search.fidelity.rungs
    steps = dict(zip(rungs, rung_steps(search)))  # the step Optuna takes each rung's report at, as phyper's driver
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, search)
        config = pipeline_module.configuration(params["prep"], params["lr"], params["width"])
        shift = pipeline_module.preprocess_value(params["prep"])
        state, loss = 0.0, float("nan")
        for epoch in range(1, rungs[-1] + 1):
            state = pipeline_module.train_epoch(state, params["lr"], config, epoch)
            if epoch in rungs:
                loss = float(pipeline_module.loss_value(state, shift, params["lr"], params["width"]))
                trial.report(loss, steps[epoch])
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return loss

    study = optuna.create_study(
        study_name=search.name, sampler=make_sampler(search), pruner=make_pruner(search), direction=search.direction
    )
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_jobs=2)
    wall = time.perf_counter() - started
    return measure("plain study.optimize(n_jobs=2)", folder, wall, study, search)


def load_study(folder: Path, name: str) -> Any:
    """The study phyper's driver left in the project's state folder (Optuna's journal file)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    (path,) = folder.rglob(f"search/{name}/journal.log")
    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(path))))


def phyper_search(folder: Path, trials: int, engine: str, environment: dict[str, str], name: str = "search") -> Run:
    arguments = ["search", "run", "--search", name, "--trials", str(trials), "--engine", engine, "-j", "2"]
    wall, _ = run_phyper(folder, arguments, environment)
    os.environ.update(environment)
    search = getattr(import_pipeline(folder), name)
    return measure(f"phyper search run --engine {engine}", folder, wall, load_study(folder, name), search)


def print_runs(runs: list[Run]) -> None:
    plain = runs[0]
    print(f"  {'':<36} {'wall':>8} {'ratio':>6} {'preproc':>8} {'rungs':>6} {'epochs':>7} {'floor':>6} "
          f"{'epochs/floor':>12} {'best loss':>10}")
    for run in runs:
        ratio = run.wall / plain.wall
        print(f"  {run.label:<36} {run.wall:7.1f}s {ratio:6.2f} {run.preprocessings:8d} "
              f"{run.rungs if run is not plain else '-':>6} {run.epochs:7d} {run.floor:6d} "
              f"{run.epochs / run.floor if run.floor else float('nan'):12.2f} {run.best:10.4g}")
    print("  targets: phyper's epochs/floor = 1.00; its wall ratio <= 0.50; its best loss <= plain's")
    for run in runs[1:]:
        print(f"    {run.label}: epochs {run.epochs} vs floor {run.floor} "
              f"({'met' if run.epochs == run.floor else 'NOT met'}); wall {run.wall / plain.wall:.2f}x "
              f"({'met' if run.wall <= 0.5 * plain.wall else 'NOT met'}); best {run.best:.4g} vs {plain.best:.4g} "
              f"({'met' if run.best <= plain.best else 'NOT met'})")


def compare(
    root: Path, n: int, engines: list[str], environment: dict[str, str], bests: dict[str, dict[int, float]], seed: int
) -> Path:
    """Plain Optuna, then phyper with each engine, on fresh projects; prints the table; the last project."""
    here = os.getcwd()
    os.environ.update(environment)
    runs = [plain_optuna(write_project(root / f"plain-{seed}", CONFIG, PIPELINE), n)]
    os.chdir(here)
    project = root
    for engine in engines:
        project = write_project(root / f"phyper-{engine}-{seed}", CONFIG, PIPELINE)
        runs.append(phyper_search(project, n, engine, environment))
        os.chdir(here)
    print(f"seed {seed} (load average {os.getloadavg()[0]:.1f} at the end):", flush=True)
    print_runs(runs)
    for run in runs:
        bests.setdefault(run.label, {})[seed] = run.best
    return project


def second_study(root: Path, project: Path, n: int, engine: str, environment: dict[str, str]) -> None:
    """The study `wide` (top budget x3) on the first study's project, against the same on a fresh project."""
    here = os.getcwd()
    before = executions(project)
    again = phyper_search(project, n, engine, environment, name="wide")
    os.chdir(here)
    again.epochs -= sum(1 for line in before if line[0] == "epoch")
    again.rungs -= sum(1 for line in before if line[0] == "train")
    again.preprocessings -= sum(1 for line in before if line[0] == "preprocess")
    fresh = phyper_search(
        write_project(root / f"wide-fresh-{engine}", CONFIG, PIPELINE), n, engine, environment, name="wide"
    )
    os.chdir(here)
    print(f"a second study `wide` (n_epochs 1, 3, 9, 27, 81; {n} trials, --engine {engine}):")
    print(f"  {'':<36} {'wall':>8} {'preproc':>8} {'rungs':>6} {'epochs':>7} {'floor':>6} {'best loss':>10}")
    for label, run in (("after the first study, same project", again), ("on a fresh project", fresh)):
        print(
            f"  {label:<36} {run.wall:7.1f}s {run.preprocessings:8d} {run.rungs:6d} {run.epochs:7d} "
            f"{run.floor:6d} {run.best:10.4g}"
        )
    print(
        f"  epochs trained: {again.epochs} against a fresh study's {fresh.epochs} "
        f"({again.epochs / fresh.epochs if fresh.epochs else float('nan'):.2f}x)",
        flush=True,
    )


def overhead(root: Path, n: int, engines: list[str], seed: int) -> None:
    """The same search with zero-second steps: wall per rung run, beside today's wall per trial (no budget)."""
    here = os.getcwd()
    print(
        "phyper's overhead per rung (the same search, zero-second steps, -j 2), against its overhead per trial "
        "without a budget (search `flat`: one job per trial; 0.98 s with Snakemake, 0.18 s with doit on a quiet "
        "machine, docs/searching.md), measured here beside it:"
    )
    zero = {"BENCH_EPOCH_S": "0", "BENCH_PREPROCESS_S": "0", "BENCH_SEED": str(seed)}
    for engine in engines:
        run = phyper_search(write_project(root / f"overhead-{engine}", CONFIG, PIPELINE), n, engine, zero)
        os.chdir(here)
        flat = phyper_search(write_project(root / f"flat-{engine}", CONFIG, PIPELINE), n, engine, zero, "flat")
        os.chdir(here)
        per_rung = run.wall / run.rungs if run.rungs else float("nan")
        per_trial = flat.wall / n
        print(
            f"  {engine:<10} {per_rung:.2f} s per rung ({run.wall:.1f} s for {run.rungs} rungs of {n} trials); "
            f"today {per_trial:.2f} s per trial ({flat.wall:.1f} s for {n} trials, {flat.rungs} jobs); "
            f"ratio {per_rung / per_trial:.2f} (target <= 1)",
            flush=True,
        )
    print(f"  load average {os.getloadavg()[0]:.1f} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epoch-s", type=float, default=0.2, help="seconds of one epoch")
    parser.add_argument("--preprocess-s", type=float, default=None,
                        help="seconds of one preprocessing (default: 10 epochs, ten times the first rung)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--engines", nargs="+", default=["snakemake", "doit"], choices=["snakemake", "doit"])
    parser.add_argument("--skip-second", action="store_true", help="leave out the second study (top budget x3)")
    parser.add_argument("--skip-overhead", action="store_true", help="leave out the zero-second searches")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 8 trials, epochs of 0.02 s")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated projects in this folder")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.trials, arguments.epoch_s = 8, 0.02
    epoch_s = arguments.epoch_s
    preprocess_s = 10 * epoch_s if arguments.preprocess_s is None else arguments.preprocess_s
    root = arguments.keep or Path(tempfile.mkdtemp(prefix="phyper-pruning-bench-"))
    here = os.getcwd()
    n = arguments.trials
    timed = {"BENCH_EPOCH_S": str(epoch_s), "BENCH_PREPROCESS_S": str(preprocess_s)}
    print(f"{n} trials, TPE + Hyperband over n_epochs 1, 3, 9, 27, two at a time; an epoch {epoch_s:g} s, "
          f"a preprocessing {preprocess_s:g} s (3 distinct); load average {os.getloadavg()[0]:.1f} at the start")

    bests: dict[str, dict[int, float]] = {}
    for index, seed in enumerate(arguments.seeds):
        project = compare(root, n, arguments.engines, dict(timed, BENCH_SEED=str(seed)), bests, seed)
        os.chdir(here)
        if index == 0:  # the first seed's second study and overhead before the other seeds
            if not arguments.skip_second:
                second_study(root, project, n, arguments.engines[-1], dict(timed, BENCH_SEED=str(seed)))
                os.chdir(here)
            if not arguments.skip_overhead:
                overhead(root, n, arguments.engines, seed)
                os.chdir(here)
    if len(arguments.seeds) > 1:
        print("best loss by seed (target: phyper's no worse than plain's at every seed):")
        print(f"  {'':<36} " + " ".join(f"{'seed ' + str(seed):>10}" for seed in arguments.seeds))
        for label, by_seed in bests.items():
            print(f"  {label:<36} " + " ".join(f"{by_seed[seed]:10.4g}" for seed in arguments.seeds))
    if arguments.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
