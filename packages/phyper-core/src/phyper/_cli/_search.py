"""Searching: ``phyper search run`` drives a `phyper.Search`, ``phyper search show`` lists its trials."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phyper._cli._command import JSON, Command, option
from phyper._cli._output import JsonObject, Output
from phyper._planning.pipeline import Pipeline
from phyper._search.space import Search, SearchDefinitionError, TrialState

if TYPE_CHECKING:
    from phyper._search.driver import SearchTrials, TrialResult, TrialRow

__all__ = ["COMMANDS", "SearchRunResult", "search"]


@dataclass(frozen=True)
class SearchRunResult(JsonObject):
    """``phyper search run --json``: what this run told, and the study's best (docs/cli.md)."""

    search: str
    finished: int
    """Trials of the study that are complete or failed, every driver counted."""
    exhausted: bool
    """The sampler had no new point (a grid sampler used up)."""
    told: tuple[TrialResult, ...]
    """The trials this run told, in the order it told them."""
    best: TrialRow | None


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def _best_lines(trials: SearchTrials) -> list[str]:
    """The best trial, said once: whether it is stale, and then the best current one."""
    best, current = trials.best, trials.best_current

    def described(row: TrialRow) -> str:
        shown = " ".join(f"{key}={_format(row.params[key])}" for key in trials.keys)
        return f"trial {row.number} {shown} {trials.objective}={_format(row.objective)}"

    if best is None:
        return ["best: none yet (no complete trial)"]
    if not best.stale:
        return [f"best: {described(best)}"]
    lines = [f"best: {described(best)} (stale: told from results made by older code)"]
    if current is not None:
        lines.append(f"best current: {described(current)}")
    else:
        lines.append("best current: none (every complete trial is stale)")
    return lines


def _show(pipeline: Pipeline, search: Search) -> Output:
    from phyper._search.driver import search_trials

    trials = search_trials(pipeline, search)
    keys = list(trials.keys)
    fidelity = search.fidelity
    header = ["number", *keys, "hash", *([fidelity.key] if fidelity is not None else []), "state", "objective"]
    table = [header] + [
        [str(row.number), *(_format(row.params[key]) for key in keys), row.hash[:12],
         *([_format(row.budget) if row.budget is not None else "-"] if fidelity is not None else []),
         row.state.value + (" (stale)" if row.stale else ""), _format(row.objective)]
        for row in trials.trials
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    stale = sum(row.stale for row in trials.trials)
    pruned = sum(row.state is TrialState.PRUNED for row in trials.trials)
    lines = [f"search `{search.name}`: {len(trials.trials)} trials, {search.direction} {search.objective}"
             + (f", rungs {fidelity.describe()}, {pruned} pruned" if fidelity is not None else "")
             + (f", {stale} stale (made by older code)" if stale else "")]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table]
    lines += _best_lines(trials)
    return Output(data=trials, lines=lines)


def _run(pipeline: Pipeline, search: Search, arguments: argparse.Namespace) -> Output:
    from phyper._search.driver import Source, drive, search_trials

    def report(result: TrialResult) -> None:
        shown = " ".join(f"{key}={_format(value)}" for key, value in result.params.items())
        told = f"{search.objective}={_format(result.objective)}" if result.objective is not None else "FAILED"
        if result.budget is not None and search.fidelity is not None:
            told += f" at {search.fidelity.key}={_format(result.budget)}"
        if result.state is TrialState.PRUNED:
            told += ", pruned"
        how = (f"from the records, no job: {result.seconds * 1000:.0f} ms" if result.source is Source.RECORDS
               else f"{result.seconds:.1f} s")
        print(f"trial {result.number}: {shown} -> {told} ({how})", flush=True)

    engine_args = list(getattr(arguments, "engine_args", None) or [])
    summary = drive(
        pipeline, search, arguments.trials, engine=arguments.engine, jobs=arguments.jobs,
        engine_args=engine_args, report=report if not arguments.json else None,
    )
    trials = search_trials(pipeline, search)
    failed = sum(result.state is TrialState.FAILED for result in summary.results)
    pruned = sum(result.state is TrialState.PRUNED for result in summary.results)
    lines = [f"search `{search.name}`: {summary.finished} trials finished ({len(summary.results)} told by this run, "
             + (f"{pruned} pruned, " if search.fidelity is not None else "") + f"{failed} failed)"]
    if summary.exhausted:
        lines.append("the sampler has no new point (its grid is used up)")
    if trials.best is not None:
        lines += _best_lines(trials)
    data = SearchRunResult(search.name, summary.finished, summary.exhausted, tuple(summary.results), trials.best)
    return Output(data=data, lines=lines)


def search(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper search run|show``: drive a search, or list its trials."""
    from phyper._search.driver import find_search

    chosen = find_search(pipeline, arguments.search)
    if arguments.action == "show":
        if getattr(arguments, "engine_args", None):
            raise SearchDefinitionError(f"phyper search show takes no engine arguments: {arguments.engine_args}")
        return _show(pipeline, chosen)
    if arguments.trials is None:
        raise SearchDefinitionError("phyper search run needs --trials N (how many trials the study should hold)")
    return _run(pipeline, chosen, arguments)


SEARCH = Command(
    "search", search, "run an adaptive search (Optuna) whose trials reuse every result, or list its trials",
    "`phyper search run --trials N [--engine ENGINE] [-j J] [-- ENGINE ARGS]` asks the search's "
    "sampler for points, records each as instances of the pipeline, runs them through the engine "
    "(a subprocess: profiles and clusters work), reads the objective from the completed jobs' metrics and "
    "tells the sampler, until the study holds N finished trials. A point whose jobs are already complete "
    "is told from the records without any job. `phyper search show` lists the trials and the best one. "
    "Words after `--` go to the engine (e.g. `-- --profile profiles/slurm`).",
    (
        option("action", choices=["run", "show"], help="run: drive the search; show: list its trials"),
        option("--search", default=None, metavar="NAME", help="the search's name (needed when the pipeline has several)"),
        option("--trials", type=int, default=None, metavar="N", help="run: how many finished trials the study should hold"),
        option("--engine", default="snakemake", metavar="ENGINE",
               help="run: the engine (default snakemake); an unknown name lists those the installed backends registered"),
        option("-j", "--jobs", type=int, default=1, metavar="J", help="run: trials run at once (one engine process each)"),
        JSON,
    ),
    passthrough="engine_args",
)

COMMANDS = (SEARCH,)
