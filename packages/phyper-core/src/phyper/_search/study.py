"""The search's Optuna study: Optuna imported on demand, the space as distributions, the
sampler and the pruner a search names, the journal in the state folder.

Optuna is optional (the ``search`` extra) and imported here only, inside functions.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from phyper._errors import DamagedStudyError, MissingDependencyError, did_you_mean
from phyper._search.space import Choice, IntRange, LogUniform, Search, SearchDefinitionError, TrialState, Uniform

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.samplers import BaseSampler
    from optuna.study import Study

    from phyper._planning.pipeline import Pipeline

__all__ = [
    "INSTALL_HINT",
    "distributions",
    "find_search",
    "import_optuna",
    "load_study",
    "make_pruner",
    "make_sampler",
    "open_study",
    "rung_steps",
    "trial_state",
]

INSTALL_HINT = "pip install 'phyper-core[search]'"


def import_optuna() -> Any:
    """Optuna, or a `MissingDependencyError` naming the install command."""
    import importlib

    try:
        # by name: phyper-core installs nothing, and its type check runs without Optuna
        optuna = importlib.import_module("optuna")
    except ImportError as error:
        raise MissingDependencyError(
            f"phyper search needs Optuna (the `search` extra), which is not installed: {INSTALL_HINT}"
        ) from error
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def find_search(pipeline: Pipeline, name: str | None) -> Search:
    """The pipeline's search called ``name``, or its only one when ``name`` is None."""
    if not pipeline.searches:
        raise SearchDefinitionError(
            "the pipeline declares no search: list one in phyper.Pipeline(instances, searches=[phyper.Search(...)])"
        )
    if name is None:
        if len(pipeline.searches) > 1:
            names = ", ".join(search.name for search in pipeline.searches)
            raise SearchDefinitionError(f"the pipeline declares several searches ({names}): name one with --search NAME")
        return pipeline.searches[0]
    for search in pipeline.searches:
        if search.name == name:
            return search
    known = [search.name for search in pipeline.searches]
    raise SearchDefinitionError(f"no search `{name}`{did_you_mean(name, known)} (searches: {', '.join(known)})")


def distributions(search: Search) -> dict[str, BaseDistribution]:
    """The space as Optuna distributions."""
    optuna = import_optuna()
    made: dict[str, BaseDistribution] = {}
    for key, dimension in search.space.items():
        if isinstance(dimension, Choice):
            made[key] = optuna.distributions.CategoricalDistribution(dimension.values)
        elif isinstance(dimension, IntRange):
            made[key] = optuna.distributions.IntDistribution(
                dimension.low, dimension.high, log=dimension.log, step=dimension.step
            )
        elif isinstance(dimension, Uniform):
            made[key] = optuna.distributions.FloatDistribution(dimension.low, dimension.high)
        elif isinstance(dimension, LogUniform):
            made[key] = optuna.distributions.FloatDistribution(dimension.low, dimension.high, log=True)
    return made


def make_sampler(search: Search, *, offset: int = 0) -> BaseSampler:
    """The Optuna sampler the search names, seeded with its seed (plus ``offset``, see `open_study`)."""
    optuna = import_optuna()
    samplers = optuna.samplers
    seed = None if search.seed is None else search.seed + offset
    made: BaseSampler
    if search.sampler == "tpe":
        made = samplers.TPESampler(seed=seed)
        return made
    if search.sampler == "random":
        made = samplers.RandomSampler(seed=seed)
        return made
    if search.sampler == "gp":
        made = samplers.GPSampler(seed=seed)
        return made
    if search.sampler == "cmaes":
        import importlib.util

        if importlib.util.find_spec("cmaes") is None:  # what Optuna's CMA-ES sampler imports when it samples
            raise MissingDependencyError(f"the cmaes sampler needs the cmaes package: {INSTALL_HINT}")
        made = samplers.CmaEsSampler(seed=seed)
        return made
    grid: dict[str, list[Any]] = {}
    for key, dimension in search.space.items():
        if isinstance(dimension, Choice):
            grid[key] = list(dimension.values)
        elif isinstance(dimension, IntRange):
            grid[key] = list(range(dimension.low, dimension.high + 1, dimension.step))
    made = samplers.GridSampler(grid, seed=seed)
    return made


def rung_steps(search: Search) -> tuple[int, ...]:
    """The Optuna step each rung is reported at: the rung itself when every rung is a whole
    number (epochs), else the rung in units of the first (0.25, 0.5, 1.0 -> 1, 2, 4).

    Raises:
        SearchDefinitionError: fractional rungs that are not distinct multiples of the first.
    """
    fidelity = search.fidelity
    if fidelity is None:
        return ()
    rungs = fidelity.rungs
    if all(float(rung).is_integer() for rung in rungs):
        return tuple(int(rung) for rung in rungs)
    steps = tuple(round(rung / rungs[0]) for rung in rungs)
    if any(later <= earlier for earlier, later in zip(steps, steps[1:])) or any(
        abs(step * rungs[0] - rung) > 1e-9 * abs(rung) for step, rung in zip(steps, rungs)
    ):
        raise SearchDefinitionError(
            f"search `{search.name}`: the rungs {fidelity.describe()} are not whole numbers, nor whole multiples of "
            "the first rung: Optuna takes a trial's reports at whole steps; give rungs that are"
        )
    return steps


def make_pruner(search: Search) -> Any:
    """Optuna's pruner for the search: built from its name and the budget's rungs, the object given, or none.

    ``'hyperband'``: ``HyperbandPruner(min_resource=low, max_resource=high, reduction_factor=factor)``;
    ``'successive_halving'``: ``SuccessiveHalvingPruner(min_resource=low, reduction_factor=factor)``;
    ``'median'``: ``MedianPruner()``; the factor is the ratio of the first two rungs, the
    resources are the rungs' steps (`rung_steps`). Without a pruner,
    Optuna's `NopPruner` (Optuna's own default would be the median pruner).
    """
    pruners = import_optuna().pruners
    pruner = search.pruner
    if pruner is None or search.fidelity is None:
        return pruners.NopPruner()
    if not isinstance(pruner, str):
        return pruner
    rungs = rung_steps(search)
    factor = max(2, round(rungs[1] / rungs[0])) if len(rungs) > 1 else 3
    if pruner == "hyperband":
        return pruners.HyperbandPruner(
            min_resource=int(rungs[0]), max_resource=int(rungs[-1]), reduction_factor=factor
        )
    if pruner == "successive_halving":
        return pruners.SuccessiveHalvingPruner(min_resource=int(rungs[0]), reduction_factor=factor)
    return pruners.MedianPruner()


def _storage(search: Search) -> Any:
    """The study's storage: ``storage=``, or the journal file in the search's folder."""
    if search.storage is not None:
        return search.storage
    journal = import_optuna().storages.journal
    path = search.store.journal_path()
    return journal.JournalStorage(journal.JournalFileBackend(path, lock_obj=journal.JournalFileOpenLock(path)))


def _damaged_study(search: Search, error: Exception) -> DamagedStudyError:
    where = search.storage or os.path.join(search.folder, "journal.log")
    return DamagedStudyError(
        f"the study of search `{search.name}` in {where} cannot be read ({type(error).__name__}: {error}): a line of "
        "its journal is damaged. Move the file away to start the study anew (the trial records and every result are "
        "kept: points already done are told from the records, with no job), or restore it from a backup"
    )


def open_study(search: Search) -> Study:
    """The search's Optuna study (created on first use), in the state folder or ``storage=``.

    Raises:
        DamagedStudyError: Optuna cannot read the journal.
    """
    optuna = import_optuna()
    try:
        study: Study = optuna.create_study(
            study_name=search.name,
            storage=_storage(search),
            sampler=make_sampler(search),
            pruner=make_pruner(search),
            direction=search.direction,
            load_if_exists=True,
        )
        existing = len(study.get_trials(deepcopy=False))
    except (ValueError, TypeError, AttributeError, OSError) as error:  # a damaged line (one cut short is skipped), a folder
        raise _damaged_study(search, error) from error
    if existing:
        # a driver that continues a study must not replay the seeded sampler's first
        # draws (they would all be duplicates, told from the records but spending the
        # trial budget): its seed moves on by the trials already there
        study.sampler = make_sampler(search, offset=existing)
    return study



def load_study(search: Search) -> Study | None:
    """The search's study as it is, or None when it has none yet (then Optuna is not needed).

    Raises:
        DamagedStudyError: Optuna cannot read the journal.
    """
    if search.storage is None and not os.path.lexists(os.path.join(search.folder, "journal.log")):
        return None
    optuna = import_optuna()
    try:
        study: Study = optuna.load_study(study_name=search.name, storage=_storage(search))
        study.get_trials(deepcopy=False)
    except KeyError:
        return None  # the storage holds no study of this name yet
    except (ValueError, TypeError, AttributeError, OSError) as error:
        raise _damaged_study(search, error) from error
    return study


def trial_state(state: Any) -> TrialState:
    """Optuna's state of a trial as phyper names it."""
    return TrialState[{"FAIL": "FAILED"}.get(state.name, state.name)]
