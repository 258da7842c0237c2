"""A search's budget (fidelity) and pruner, declared with the search and checked before anything runs.

A budget names a key (``n_epochs``) whose values are *rungs*: a trial is run at the
lowest rung first, its objective reported to the trial at that budget, and the pruner
decides whether it goes on to the next rung. Each rung of a trial is a result of its
own (the key is a key: it defines a result), so a rung already done, by this search,
another study or a grid, is never trained again, and a step that declares
``continues=`` goes on from the largest lower rung instead of starting over.

This module imports no optimisation library: a pruner is named here (``'hyperband'``,
``'successive_halving'``, ``'median'``) or given as an object, and the search driver
builds Optuna's own pruner from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from phyper._errors import SearchDefinitionError, did_you_mean

__all__ = ["PRUNERS", "Budget", "budget", "check_pruner"]

PRUNERS = ("hyperband", "successive_halving", "median")
"""The pruner names a search takes: Optuna's HyperbandPruner, SuccessiveHalvingPruner and MedianPruner."""


@dataclass(frozen=True)
class Budget:
    """The rungs of a search's fidelity key: made by `budget`."""

    key: str
    """The key whose value is the budget (``n_epochs``)."""
    rungs: tuple[int | float, ...]
    """The budgets a trial is run at, increasing; the last one is the full budget."""

    @property
    def low(self) -> int | float:
        """The first rung."""
        return self.rungs[0]

    @property
    def high(self) -> int | float:
        """The last rung: the full budget."""
        return self.rungs[-1]

    def lower_than(self, value: int | float) -> tuple[int | float, ...]:
        """The rungs below ``value``, increasing."""
        return tuple(rung for rung in self.rungs if rung < value)

    def describe(self) -> str:
        """``n_epochs`` at 10, 30, 90, 270."""
        return f"{self.key} at {', '.join(map(str, self.rungs))}"


def _number(name: str, value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SearchDefinitionError(f"phyper.budget(): {name}={value!r} must be a finite number")
    return value


def budget(
    key: str,
    *,
    low: int | float | None = None,
    high: int | float | None = None,
    factor: int | float = 3,
    rungs: Iterable[int | float] | None = None,
) -> Budget:
    """The budget of a search: the key it sets and the rungs a trial climbs.

    Either ``low``, ``high`` and ``factor`` (rungs ``low``, ``low * factor``, ... up to
    ``high``, which is always the last rung: ``budget('n_epochs', low=10, high=270,
    factor=3)`` gives 10, 30, 90, 270), or the ``rungs`` themselves.

    Args:
        key: the hyperparameter that is the budget; it must be a key of the parser.
        low: the first rung.
        high: the full budget, the last rung.
        factor: how much each rung multiplies the one before (more than 1).
        rungs: the rungs, increasing, instead of ``low``/``high``/``factor``.

    Raises:
        SearchDefinitionError: rungs that do not increase, a factor of 1 or less, a
            missing or non-numeric bound, or both forms at once.
    """
    if not isinstance(key, str) or not key:
        raise SearchDefinitionError(f"phyper.budget(): the key must be a hyperparameter's name, not {key!r}")
    if rungs is not None:
        if low is not None or high is not None:
            raise SearchDefinitionError(
                f"phyper.budget({key!r}): give either rungs=[...] or low=/high=/factor=, not both"
            )
        listed = tuple(_number("rungs", value) for value in rungs)
        if not listed:
            raise SearchDefinitionError(f"phyper.budget({key!r}): rungs=[] lists no budget; list at least one")
    else:
        if low is None or high is None:
            raise SearchDefinitionError(
                f"phyper.budget({key!r}): give low= and high= (e.g. low=10, high=270, factor=3), or rungs=[...]"
            )
        low, high, factor = _number("low", low), _number("high", high), _number("factor", factor)
        if factor <= 1:
            raise SearchDefinitionError(
                f"phyper.budget({key!r}): factor={factor!r} gives rungs that do not increase; give a factor above 1"
            )
        if low <= 0:
            raise SearchDefinitionError(f"phyper.budget({key!r}): low={low!r} must be above 0")
        integral = all(isinstance(value, int) for value in (low, high))
        made: list[int | float] = []
        value: int | float = low
        while value < high:
            made.append(round(value) if integral else value)
            value = value * factor
        listed = (*made, high)
    if any(later <= earlier for earlier, later in zip(listed, listed[1:])):
        raise SearchDefinitionError(
            f"phyper.budget({key!r}): the rungs {', '.join(map(str, listed))} do not increase; "
            "each rung must be above the one before"
        )
    if listed[0] <= 0:
        raise SearchDefinitionError(f"phyper.budget({key!r}): the rungs must be above 0, not {listed[0]!r}")
    return Budget(key, listed)


def check_pruner(search_name: str, pruner: Any, fidelity: Budget | None) -> Any:
    """``pruner`` if a search can use it: a name of `PRUNERS`, an object with ``prune``, or None."""
    if pruner is None:
        return None
    if fidelity is None:
        raise SearchDefinitionError(
            f"search `{search_name}`: pruner={pruner!r} needs a budget to prune along: give "
            "fidelity=phyper.budget('n_epochs', low=..., high=..., factor=3)"
        )
    if isinstance(pruner, str):
        if pruner not in PRUNERS:
            raise SearchDefinitionError(
                f"search `{search_name}`: unknown pruner {pruner!r}{did_you_mean(pruner, PRUNERS)} "
                f"(pruners: {', '.join(PRUNERS)}, or an optuna.pruners object)"
            )
        return pruner
    if not callable(getattr(pruner, "prune", None)):
        raise SearchDefinitionError(
            f"search `{search_name}`: pruner={pruner!r} is neither a name ({', '.join(PRUNERS)}) "
            "nor an optuna.pruners object (it has no prune method)"
        )
    return pruner
