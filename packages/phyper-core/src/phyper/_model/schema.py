"""Collecting hyperparameters from class attributes: names, types, defaults, key-ness.

A hyperparameter is a public, non-callable class attribute. It is a *key* when the
class that first declares it (the most basic class in the MRO that has it) derives
from [`phyper.Parser`][phyper.Parser], and a *non-key* when that class is a plain mixin. So
overriding a non-key's default in a subclass keeps it a non-key, and subclassing an
``Instance`` keeps its keys keys.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any

from phyper._errors import (
    HyperparameterDefinitionError,
    HyperparameterTypeError,
    HyperparameterValueError,
    UnknownHyperparameterError,
    UnsupportedValueError,
    did_you_mean,
)
from phyper._model.types import ValueType, type_from_annotation, type_from_default

__all__ = ["Field", "Hyperparameter", "Schema", "build_schema"]


@dataclass(frozen=True)
class Hyperparameter:
    """One declared hyperparameter."""

    name: str
    default: Any
    value_type: ValueType
    is_key: bool
    declared_in: str


class Field:
    """The descriptor phyper installs for each hyperparameter of a Parser subclass.

    On the class it gives the default (``Instance.n_epochs == 2000``); on an instance,
    the instance's value. Assigning is refused: an instance's values name its folder.
    """

    __slots__ = ("default", "index", "name")

    def __init__(self, name: str, index: int, default: Any) -> None:
        self.name = name
        self.index = index
        self.default = default

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self.default
        return instance._phyper_values[self.index]

    def __set__(self, instance: Any, value: Any) -> None:
        from phyper._errors import FrozenInstanceError

        raise FrozenInstanceError(
            f"cannot set `{self.name}`: instances are immutable because their values "
            f"name their folders; use instance.replace({self.name}=...) for a new instance"
        )


class Schema:
    """The ordered hyperparameters of one Parser subclass."""

    def __init__(self, hyperparameters: list[Hyperparameter]) -> None:
        self.hyperparameters = tuple(hyperparameters)
        self.names = tuple(h.name for h in hyperparameters)
        self.index = {name: position for position, name in enumerate(self.names)}
        self.defaults = tuple(h.default for h in hyperparameters)
        self.keys = tuple(h.name for h in hyperparameters if h.is_key)
        self.non_keys = tuple(h.name for h in hyperparameters if not h.is_key)

    def __getitem__(self, name: str) -> Hyperparameter:
        return self.hyperparameters[self.position(name)]

    def position(self, name: str, *, context: str = "") -> int:
        """The index of ``name``; an [`UnknownHyperparameterError`][phyper.UnknownHyperparameterError] if it is unknown."""
        try:
            return self.index[name]
        except (KeyError, TypeError):
            where = f" in {context}" if context else ""
            raise UnknownHyperparameterError(
                f"unknown hyperparameter `{name}`{where}{did_you_mean(str(name), self.names)} "
                f"(known: {', '.join(self.names)})"
            ) from None

    def normalize(self, name: str, value: Any) -> Any:
        """Validate ``value`` for ``name`` and return it normalised to the declared type."""
        return self.hyperparameters[self.position(name)].value_type.normalize(name, value)


def _annotations(klass: type) -> dict[str, Any]:
    try:
        return dict(inspect.get_annotations(klass, eval_str=True))
    except Exception as error:  # a NameError from a string annotation, most often
        raise HyperparameterDefinitionError(
            f"cannot evaluate the annotations of class {klass.__qualname__}: {error}; "
            "import every name the annotations use"
        ) from error


def _is_hyperparameter_attribute(name: str, raw: Any) -> bool:
    if name.startswith("_"):
        return False
    return not (callable(raw) or hasattr(type(raw), "__get__"))


def build_schema(cls: type, skip: tuple[type, ...], parser_base: type, reserved: set[str]) -> Schema:
    """Collect the hyperparameters of ``cls`` (see the module docstring for the rules)."""
    declared: dict[str, Hyperparameter] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass in skip:
            continue
        annotations = _annotations(klass)
        own = vars(klass)
        for name, annotation in annotations.items():
            if typing.get_origin(annotation) is typing.ClassVar or name.startswith("_"):
                continue
            if name not in own:
                raise HyperparameterDefinitionError(
                    f"hyperparameter `{name}` of {klass.__qualname__} has an annotation but no "
                    f"default; give it one, e.g. `{name}: {getattr(annotation, '__name__', annotation)} = ...`"
                )
        for name, raw in own.items():
            if isinstance(raw, Field):
                # a parent Parser class was already collected: take its declaration whole
                declared[name] = vars(klass)["_phyper_schema"][name]
                continue
            if not _is_hyperparameter_attribute(name, raw):
                continue
            if name in reserved:
                raise HyperparameterDefinitionError(
                    f"`{name}` is a phyper method or attribute of the parser and cannot be a "
                    "hyperparameter name; rename it"
                )
            previous = declared.get(name)
            if name in annotations:
                value_type = type_from_annotation(name, annotations[name])
            elif previous is not None:
                value_type = previous.value_type
            else:
                value_type = type_from_default(name, raw)
            try:
                default = value_type.normalize(name, raw)
            except (HyperparameterTypeError, HyperparameterValueError, UnsupportedValueError) as error:
                raise HyperparameterDefinitionError(
                    f"default of `{name}` in {klass.__qualname__}: {error}"
                ) from None
            is_key = previous.is_key if previous is not None else issubclass(klass, parser_base)
            declared_in = previous.declared_in if previous is not None else klass.__qualname__
            declared[name] = Hyperparameter(name, default, value_type, is_key, declared_in)
    return Schema(list(declared.values()))
