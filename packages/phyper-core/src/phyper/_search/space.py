"""Declaring an adaptive search beside the grid, and the trials it recorded.

A `Search` names a space of key values (`choice`, `int_range`,
`uniform`, `log_uniform`), keys each trial repeats over (``expand``, for
example the folds), the metric to optimise (named by ``@pipeline.metrics``) and a
sampler. It imports no optimisation library: the driver (`phyper._search.driver`,
``phyper search run``) asks Optuna for points and records each one here.

**Trials are instances.** A trial is one point of the space, identified by phyper's
own hash (the hash of the ``group_by`` resource, or the full hash when nothing is
expanded); its instances are that point times the ``expand`` values. The records live
in ``<state folder>/search/<name>/trials/<hash>.json``, one small file per point,
written atomically; ``phyper.Pipeline(instances, searches=[search])`` reads them
when the pipeline module is imported, so the pipeline's instances are the grid plus
every trial recorded so far and every engine, ``phyper status``, ``ls``, ``collect``,
``report`` and ``gc`` see them like the grid's own. A resource a trial shares with
earlier work has the same hash, hence the same folder and completion record: it is
never computed again.

A record holds the point alone (its hash and key values). Who owns what: the Optuna
study owns trial numbers, states (`TrialState`) and objectives; the completion
records of the trial's jobs, judged by the pipeline's verdicts, own what is done; a
trial whose results were made by older code is *stale*, computed, never stored (see
``docs/state-files.md``).
"""

from __future__ import annotations

import enum
import itertools
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from phyper._errors import PhyperError, SearchDefinitionError, did_you_mean
from phyper._fs import atomic_write_text
from phyper._search.fidelity import Budget, check_pruner
from phyper._state.formats import (
    TRIAL_RECORD,
    TRIAL_RECORD_FORMAT_VERSION,
    DamagedStateFile,
    phyper_version,
    read_json_file,
)

if TYPE_CHECKING:
    from phyper._model.model import ParserModel
    from phyper._state.store import SearchStore, StateStore

__all__ = [
    "SAMPLERS",
    "Choice",
    "IntRange",
    "LogUniform",
    "Search",
    "SearchDefinitionError",
    "TrialRecord",
    "TrialState",
    "Uniform",
    "choice",
    "int_range",
    "log_uniform",
    "uniform",
]

SAMPLERS = ("tpe", "random", "grid", "gp", "cmaes")
"""The sampler names a `Search` takes (Optuna's TPE, random, grid, GP and CMA-ES samplers)."""



# -- the space -------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One of a list of values (any key type): see `choice`."""

    values: tuple[Any, ...]

    def describe(self) -> str:
        """The dimension as written in the search (for messages and ``phyper search show``)."""
        return f"choice({list(self.values)!r})"


@dataclass(frozen=True)
class IntRange:
    """A whole number from ``low`` to ``high``, both included: see `int_range`."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def describe(self) -> str:
        """The dimension as written in the search."""
        return f"int_range({self.low}, {self.high}" + (f", step={self.step}" if self.step != 1 else "") + (
            ", log=True)" if self.log else ")"
        )


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from ``[low, high]``: see `uniform`."""

    low: float
    high: float

    def describe(self) -> str:
        """The dimension as written in the search."""
        return f"uniform({self.low}, {self.high})"


@dataclass(frozen=True)
class LogUniform:
    """A positive float drawn uniformly in log scale from ``[low, high]``: see `log_uniform`."""

    low: float
    high: float

    def describe(self) -> str:
        """The dimension as written in the search."""
        return f"log_uniform({self.low}, {self.high})"


Dimension = Choice | IntRange | Uniform | LogUniform


def choice(values: Iterable[Any]) -> Choice:
    """One of ``values`` (booleans, strings, numbers, ``None``), e.g. ``choice(['identity', 'log'])``.

    Raises:
        SearchDefinitionError: no value, or a value listed twice.
    """
    if isinstance(values, (str, bytes)):
        raise SearchDefinitionError(f"choice({values!r}): give a list of values, e.g. choice([{values!r}])")
    listed = tuple(values)
    if not listed:
        raise SearchDefinitionError("choice([]) is an empty range: list at least one value")
    if len(set(map(repr, listed))) != len(listed):
        raise SearchDefinitionError(f"choice({list(listed)!r}) lists a value twice")
    return Choice(listed)


def int_range(low: int, high: int, *, step: int = 1, log: bool = False) -> IntRange:
    """A whole number from ``low`` to ``high``, both included (``step`` apart, or in log scale).

    Raises:
        SearchDefinitionError: bounds that are not whole numbers, ``low > high`` (an
            empty range), a step below 1, or ``log=True`` with ``low < 1``.
    """
    for name, value in (("low", low), ("high", high), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SearchDefinitionError(f"int_range(): {name}={value!r} must be a whole number")
    if low > high:
        raise SearchDefinitionError(f"int_range({low}, {high}) is an empty range: low must be at most high")
    if step < 1:
        raise SearchDefinitionError(f"int_range({low}, {high}, step={step}): step must be at least 1")
    if log and (low < 1 or step != 1):
        raise SearchDefinitionError(f"int_range({low}, {high}, log=True) needs low >= 1 and step 1")
    return IntRange(low, high, step, log)


def _float_bounds(function: str, low: float, high: float) -> tuple[float, float]:
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SearchDefinitionError(f"{function}(): {name}={value!r} must be a finite number")
    if not low < high:
        raise SearchDefinitionError(
            f"{function}({low}, {high}) is an empty range: low must be below high "
            "(for a single value, fix the key in the grid instead)"
        )
    return float(low), float(high)


def uniform(low: float, high: float) -> Uniform:
    """A float drawn uniformly from ``[low, high]`` (a float key).

    Raises:
        SearchDefinitionError: bounds that are not finite numbers, or ``low >= high``.
    """
    return Uniform(*_float_bounds("uniform", low, high))


def log_uniform(low: float, high: float) -> LogUniform:
    """A positive float drawn uniformly in log scale (a learning rate: ``log_uniform(1e-4, 1e-1)``).

    Raises:
        SearchDefinitionError: bounds that are not finite numbers, ``low <= 0``, or ``low >= high``.
    """
    low, high = _float_bounds("log_uniform", low, high)
    if low <= 0:
        raise SearchDefinitionError(f"log_uniform({low}, {high}): low must be above 0 (a log scale)")
    return LogUniform(low, high)


class TrialState(enum.Enum):
    """Where an Optuna trial stands (the study owns it; see ``docs/state-files.md``)."""

    WAITING = "waiting"
    """Enqueued (``study.enqueue_trial``), not asked yet."""
    RUNNING = "running"
    """Asked, not told yet (its driver is running its jobs, or died and it awaits adoption)."""
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"

    @property
    def finished(self) -> bool:
        """Told: it counts toward ``--trials``."""
        return self not in (TrialState.WAITING, TrialState.RUNNING)


@dataclass(frozen=True)
class TrialRecord:
    """One point of the space: its hash and key values, written before any of its jobs runs.

    It tells the engines (new processes that import the pipeline module) which instances a
    search added. It holds no trial state: the Optuna study owns trial numbers, states and
    values; staleness is computed from the verdicts, never stored.
    """

    hash: str
    params: dict[str, Any]
    budget: Any = None
    """With a fidelity: the highest rung a trial of the point has started (written before
    that rung's jobs run); the point's instances at every rung up to it are the pipeline's.
    None without a fidelity."""

    def to_json(self) -> str:
        """The record's file content (``TRIAL_RECORD`` in `phyper._state.formats`)."""
        data: dict[str, Any] = {"format": TRIAL_RECORD_FORMAT_VERSION, "hash": self.hash, "params": self.params,
                                "phyper_version": phyper_version()}
        if self.budget is not None:
            data["budget"] = self.budget
        return json.dumps(data, sort_keys=True)


def read_trial_record(path: str) -> TrialRecord | None:
    """One trial record, or None if there is none.

    Raises:
        DamagedStateFile: it cannot be read or has the wrong shape (a named warning for callers to give).
        StateFormatError: a newer phyper wrote it.
    """
    try:
        data = read_json_file(path, TRIAL_RECORD)
    except FileNotFoundError:
        return None
    return TrialRecord(str(data["hash"]), dict(data["params"]), data.get("budget"))


# -- the declaration -----------------------------------------------------------------

Direction = Literal["maximize", "minimize"]


class Search:
    """An adaptive search over some keys, declared beside the grid; its trials become instances.

    Example (``pipeline.py``):

    ```python
    search = phyper.Search(
        parser,
        space={'transformation': phyper.choice(['identity', 'log', 'square']),
               'n_hidden_layers': phyper.int_range(1, 3),
               'learning_rate': phyper.log_uniform(1e-4, 1e-1)},
        expand={'cv_fold': range(5)},
        objective='validation_accuracy',
        direction='maximize',
        group_by='cross_validated_model',
    )
    pipeline = phyper.Pipeline(instances, searches=[search])
    ```

    ``phyper search run --trials 20`` then asks the sampler for points and runs them
    through an engine; ``phyper search show`` lists them.

    Args:
        parser: the parser of the grid (the one that made the pipeline's instances).
        space: key name -> `choice`, `int_range`, `uniform` or
            `log_uniform`. Keys not named take the parser's defaults.
        expand: key name -> values each trial is repeated over (folds, seeds); the
            objective is averaged over them.
        objective: the name of a metric the pipeline's ``@pipeline.metrics`` loader returns.
        direction: ``'maximize'`` or ``'minimize'``.
        group_by: the resource whose hash names a trial (every key of the space among
            its dependencies, no expanded key); needed when ``expand`` is given.
        sampler: one of ``'tpe'`` (default), ``'random'``, ``'grid'`` (every
            point of a space of choices and integer ranges), ``'gp'``, ``'cmaes'``.
        seed: the sampler's seed.
        name: the search's name (its folder); several searches need distinct names.
        storage: an Optuna storage URL (``sqlite:///…``, ``postgresql://…``) instead of
            the journal file in the state folder.
        fidelity: the budget a trial climbs (`budget`): each trial runs at the first
            rung, reports its objective to Optuna at that step, then (if the pruner lets
            it) the next rung, continuing from the one below (``continues=`` on the
            step); the key must be a key, neither searched nor expanded; the rungs whole
            numbers or whole multiples of the first. A trial keeps one hash from rung to rung
            (taken at the top rung).
        pruner: what stops a trial between rungs: ``'hyperband'``, ``'successive_halving'``,
            ``'median'`` (Optuna's pruners, built with the budget's rungs), any
            ``optuna.pruners`` object, or None (the default: every trial climbs every rung).

    Raises:
        SearchDefinitionError: a space naming a non-key or listing nothing, an expanded
            key also in the space, a ``group_by`` that does not separate trials, an
            unknown sampler or direction.
        UnknownHyperparameterError: a name that is not a hyperparameter.
        UnknownResourceError: ``group_by`` is not a registered resource.
    """

    def __init__(
        self,
        parser: ParserModel,
        *,
        space: Mapping[str, Dimension],
        objective: str,
        expand: Mapping[str, Iterable[Any]] | None = None,
        direction: Direction = "maximize",
        group_by: str | None = None,
        sampler: str = "tpe",
        seed: int | None = 0,
        name: str = "search",
        storage: str | None = None,
        fidelity: Budget | None = None,
        pruner: Any = None,
    ) -> None:
        shared = parser._require_parser("phyper.Search()")
        schema = shared.schema
        self.parser = parser
        if not isinstance(name, str) or not name.isidentifier():
            raise SearchDefinitionError(f"search name {name!r} must be a Python identifier (it names a folder)")
        self.name = name
        if not isinstance(space, Mapping) or not space:
            raise SearchDefinitionError(
                f"search `{name}`: space must be a dict key -> phyper.choice/int_range/uniform/log_uniform, "
                "with at least one key"
            )
        self.space: dict[str, Dimension] = {}
        for key, dimension in space.items():
            self._check_key(schema, key, "space")
            if not isinstance(dimension, (Choice, IntRange, Uniform, LogUniform)):
                raise SearchDefinitionError(
                    f"search `{name}`: space[{key!r}] = {dimension!r}: give phyper.choice([...]), "
                    "phyper.int_range(low, high), phyper.uniform(low, high) or phyper.log_uniform(low, high)"
                )
            values = dimension.values if isinstance(dimension, Choice) else (dimension.low, dimension.high)
            normalized = tuple(schema.normalize(key, value) for value in values)
            if isinstance(dimension, Choice):
                dimension = Choice(normalized)
            self.space[key] = dimension
        self.expand: dict[str, list[Any]] = {}
        for key, raw in (expand or {}).items():
            self._check_key(schema, key, "expand")
            if key in self.space:
                raise SearchDefinitionError(
                    f"search `{name}`: `{key}` is both searched (space) and expanded (expand); choose one"
                )
            if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
                raise SearchDefinitionError(f"search `{name}`: expand[{key!r}] must be a list of values")
            listed = [schema.normalize(key, value) for value in raw]
            if not listed:
                raise SearchDefinitionError(f"search `{name}`: expand[{key!r}] is an empty range: list its values")
            self.expand[key] = listed
        if fidelity is not None:
            if not isinstance(fidelity, Budget):
                raise SearchDefinitionError(
                    f"search `{name}`: fidelity={fidelity!r}: give phyper.budget('n_epochs', low=..., high=..., factor=3)"
                )
            key = fidelity.key
            schema.position(key, context=f"search `{name}`'s fidelity")
            if key in schema.non_keys:
                raise SearchDefinitionError(
                    f"search `{name}`: the fidelity `{key}` is a non-key, but a budget defines a result "
                    f"(a model trained to one budget is not the model trained to another): make `{key}` a key "
                    "(declare it in the Parser subclass, not in a non-key class)"
                )
            for where, taken in (("space", self.space), ("expand", self.expand)):
                if key in taken:
                    raise SearchDefinitionError(
                        f"search `{name}`: the fidelity `{key}` is also in {where}=: the search sets it rung by "
                        f"rung; take `{key}` out of {where}="
                    )
            fidelity = Budget(key, tuple(schema.normalize(key, rung) for rung in fidelity.rungs))
        self.fidelity = fidelity
        self.pruner = check_pruner(name, pruner, fidelity)
        if not isinstance(objective, str) or not objective:
            raise SearchDefinitionError(
                f"search `{name}`: objective must be the name of a metric of @pipeline.metrics, not {objective!r}"
            )
        self.objective = objective
        if direction not in ("maximize", "minimize"):
            raise SearchDefinitionError(f"search `{name}`: direction={direction!r}: give 'maximize' or 'minimize'")
        self.direction: Direction = direction
        if group_by is not None:
            shared.check_resource(group_by)
            dependencies = set(shared.dependencies(group_by))
            outside = [key for key in self.space if key not in dependencies]
            if outside:
                raise SearchDefinitionError(
                    f"search `{name}`: group_by='{group_by}' does not depend on {', '.join(map(repr, outside))}: "
                    "two trials would share one hash; register a resource over every searched key"
                )
            inside = [key for key in self.expand if key in dependencies]
            if inside:
                raise SearchDefinitionError(
                    f"search `{name}`: group_by='{group_by}' depends on the expanded {', '.join(map(repr, inside))}: "
                    "a trial's instances would not share its hash; group by a resource without them"
                )
        elif self.expand:
            raise SearchDefinitionError(
                f"search `{name}`: expand= needs group_by= (the resource that names a trial, "
                "e.g. group_by='cross_validated_model')"
            )
        self.group_by = group_by
        if sampler not in SAMPLERS:
            raise SearchDefinitionError(
                f"search `{name}`: unknown sampler {sampler!r}{did_you_mean(str(sampler), SAMPLERS)} "
                f"(samplers: {', '.join(SAMPLERS)})"
            )
        if sampler == "grid":
            continuous = [key for key, dimension in self.space.items() if isinstance(dimension, (Uniform, LogUniform))]
            if continuous:
                raise SearchDefinitionError(
                    f"search `{name}`: the grid sampler needs choices and integer ranges; "
                    f"{', '.join(map(repr, continuous))} are continuous"
                )
        self.sampler = sampler
        self.seed = seed
        self.storage = storage
        self._base: Any = None
        self.state: StateStore | None = None
        """Set by the pipeline that lists this search (``phyper.Pipeline(..., searches=[...])``)."""
        self._store: SearchStore | None = None

    def _check_key(self, schema: Any, key: str, where: str) -> None:
        schema.position(key, context=f"search `{self.name}`'s {where}")
        if key in schema.non_keys:
            raise SearchDefinitionError(
                f"search `{self.name}`: `{key}` in {where} is a non-key: trials that differ only in non-keys "
                f"would share one hash and one folder; make `{key}` a key (declare it in the Parser subclass)"
            )

    def __repr__(self) -> str:
        space = ", ".join(f"{key}={dimension.describe()}" for key, dimension in self.space.items())
        return f"Search({self.name!r}, {space}, objective={self.objective!r}, sampler={self.sampler!r})"

    # -- trials ------------------------------------------------------------------------

    def bind(self, state: StateStore) -> None:
        """Attach the search to a pipeline's state folder (what ``phyper.Pipeline`` does)."""
        if self.state is not None and self.state.root != state.root:
            raise SearchDefinitionError(
                f"search `{self.name}` is already listed by a pipeline with state folder {self.state.root}"
            )
        self.state = state
        self._store = state.search(self.name)

    @property
    def store(self) -> SearchStore:
        """The search's own store in its pipeline's state folder (study, trial records, locks, logs)."""
        if self._store is None:
            raise SearchDefinitionError(
                f"search `{self.name}` belongs to no pipeline: list it in phyper.Pipeline(instances, searches=[...])"
            )
        return self._store

    @property
    def folder(self) -> str:
        """Where this search's journal and trial records live."""
        return self.store.folder

    def trial_instances(self, params: Mapping[str, Any], budget: Any = None) -> list[Any]:
        """The instances of one point: ``params`` times every ``expand`` value (non-key overrides applied).

        With a fidelity, at the rung ``budget`` (None: the top rung, the full budget).
        """
        if self._base is None:
            # the defaults with PHYPER_NON_KEYS applied, as the grid's instances have them
            self._base = self.parser.get_instances_from_dictionary({})[0]
        base = self._base
        names = list(self.expand)
        at: dict[str, Any] = {}
        if self.fidelity is not None:
            at[self.fidelity.key] = self.fidelity.high if budget is None else budget
        return [
            base.replace(**params, **at, **dict(zip(names, combination)))
            for combination in itertools.product(*self.expand.values())
        ]

    def trial_hash(self, params: Mapping[str, Any]) -> str:
        """The hash naming the point ``params`` (the ``group_by`` resource's, or the full hash).

        With a fidelity, the hash at the top rung: a trial keeps its name from rung to rung.
        """
        first = self.trial_instances(params)[0]
        return str(first.get_instance_hash(self.group_by))

    def rungs_up_to(self, budget: Any) -> tuple[Any, ...]:
        """The rungs up to ``budget`` included (None: every rung); ``(None,)`` without a fidelity."""
        if self.fidelity is None:
            return (None,)
        if budget is None:
            return self.fidelity.rungs
        return tuple(rung for rung in self.fidelity.rungs if rung <= budget) or (self.fidelity.low,)

    def point_instances(self, record: TrialRecord) -> list[Any]:
        """The instances a recorded point adds to the pipeline: at every rung up to its record's budget."""
        return [
            instance for rung in self.rungs_up_to(record.budget) for instance in self.trial_instances(record.params, rung)
        ]

    def normalize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A sampler's point as key values of the declared types (an int key gets an int)."""
        schema = self.parser._phyper_shared.schema
        return {key: schema.normalize(key, params[key]) for key in self.space}

    def record_path(self, trial_hash: str) -> str:
        """Where the record of the point ``trial_hash`` lives."""
        return self.store.trial_record_path(trial_hash)

    def records(self) -> list[TrialRecord]:
        """Every point recorded so far, by hash.

        A damaged record is left out with a warning on stderr that names it: its point's
        trials stay in the study, and the next ``phyper search run`` writes it again from
        there. A record a newer phyper wrote stops the command.

        Raises:
            StateFormatError: a record in a newer format.
        """
        records = []
        for point_hash, path in self.store.iter_trial_records():
            try:
                record = read_trial_record(path)
            except DamagedStateFile as error:
                print(
                    f"phyper: warning: damaged trial record: {error.path} {error.what}; its point's instances are "
                    f"left out until `phyper search run` writes it again from the study",
                    file=sys.stderr,
                )
                continue
            if record is None:
                continue
            try:
                named = self.trial_hash(record.params)
            except PhyperError:
                named = point_hash  # a point of keys the class no longer has: kept, not an instance now
            if record.hash != point_hash or named != point_hash:
                print(
                    f"phyper: warning: damaged trial record: {path} holds the point {named} (recorded as "
                    f"{record.hash}), not {point_hash}; left out until `phyper search run` writes it again from the study",
                    file=sys.stderr,
                )
                continue
            records.append(record)
        return records

    def write_record(self, record: TrialRecord) -> None:
        """Write a point's record atomically (callers hold the point's lock)."""
        path = self.record_path(record.hash)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path):
            os.rmdir(path)  # an empty folder in the record's place (a damaged state): the record takes it back
        atomic_write_text(path, record.to_json())

    def recorded_instances(self) -> list[Any]:
        """The instances of every recorded point (what the pipeline adds to its grid)."""
        instances: list[Any] = []
        for record in self.records():
            try:
                instances.extend(self.point_instances(record))
            except PhyperError:
                continue  # a point of keys the class no longer has: not an instance of today's grid
        return instances
