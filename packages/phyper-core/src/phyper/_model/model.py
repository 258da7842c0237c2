"""The hyperparameter model: typed class attributes, immutable instances, hashes, paths.

`ParserModel` is everything `phyper.Parser` is except phyper 0.x's names,
which `phyper._model.compat` adds on top (this module never imports it);
`phyper._model.parser` composes the public class.
"""

from __future__ import annotations

import copy
import gc
import itertools
import operator
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from phyper._errors import (
    DuplicateInstanceError,
    FrozenInstanceError,
    GridValueError,
    ParserUsageError,
)
from phyper._model.context import Context
from phyper._model.instance_list import (
    InstanceList,
    get_filtered_instances,
    get_instance_from_hash,
    get_instances_hashes,
    get_projections,
)
from phyper._model.overrides import resolve_non_key_overrides
from phyper._model.schema import Field, Schema, build_schema

__all__ = ["ParserModel"]

P = TypeVar("P", bound="ParserModel")


class ParserModel:
    """A hyperparameter set: the model behind `phyper.Parser` (see its docstring).

    A class that holds ``_phyper_base = True`` in its own body is one of phyper's
    bases (this one, the 0.x layer, the public ``Parser``): it declares no
    hyperparameters, its public names cannot be hyperparameter names, and it cannot
    be instantiated. Every subclass without it is a user's hyperparameter class.
    """

    __slots__ = ("_phyper_full_hash", "_phyper_is_parser", "_phyper_shared", "_phyper_values")
    _phyper_schema: Schema
    # the slots' types, for type checkers (annotations without values create nothing)
    _phyper_values: tuple[Any, ...]
    _phyper_shared: Context
    _phyper_is_parser: bool
    _phyper_full_hash: str | None
    _phyper_base: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if vars(cls).get("_phyper_base"):
            return
        bases = tuple(klass for klass in cls.__mro__ if vars(klass).get("_phyper_base"))
        reserved = {name for base in bases for name in dir(base) if not name.startswith("_")}
        schema = build_schema(cls, skip=bases, parser_base=ParserModel, reserved=reserved)
        cls._phyper_schema = schema
        for position, hyperparameter in enumerate(schema.hyperparameters):
            setattr(cls, hyperparameter.name, Field(hyperparameter.name, position, hyperparameter.default))

    def __init__(self, hashed_resources_folder: str | os.PathLike[str] | None = None, **values: Any) -> None:
        if vars(type(self)).get("_phyper_base"):
            raise ParserUsageError("subclass phyper.Parser and declare hyperparameters on it")
        if values:
            raise ParserUsageError(
                f"{type(self).__name__}(...) creates the parser and takes only "
                f"hashed_resources_folder, got {', '.join(values)}; create instances with "
                "parser.get_instances_from_dictionary({...}) or parser.get_instance(name=value)"
            )
        schema = type(self)._phyper_schema
        self._set("_phyper_values", schema.defaults)
        self._set("_phyper_shared", Context(schema, hashed_resources_folder))
        self._set("_phyper_is_parser", True)
        self._set("_phyper_full_hash", None)

    # -- construction --------------------------------------------------------------

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(
            f"cannot set `{name}`: phyper instances and parsers are immutable; use "
            "instance.replace(...) to derive a new instance"
        )

    def _new(self: P, values: tuple[Any, ...]) -> P:
        return _restore(type(self), values, self._phyper_shared, False, None)

    def _factory(self: P) -> Callable[[tuple[Any, ...]], P]:
        """A function making instances of this parser from full tuples of normalised values."""
        cls = type(self)
        shared = self._phyper_shared
        new = object.__new__
        # the slots' own descriptors: faster than object.__setattr__, which we must use
        # because __setattr__ refuses everything
        set_values, set_shared, set_is_parser, set_full_hash = _SLOT_SETTERS

        def make(values: tuple[Any, ...]) -> P:
            instance: P = new(cls)
            set_values(instance, values)
            set_shared(instance, shared)
            set_is_parser(instance, False)
            set_full_hash(instance, None)
            return instance

        return make

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _restore,
            (type(self), self._phyper_values, self._phyper_shared, self._phyper_is_parser, self._phyper_full_hash),
        )

    def __copy__(self: P) -> P:
        return self

    def __deepcopy__(self: P, memo: dict[int, Any]) -> P:
        if self._phyper_is_parser:
            # a parser can still register resources: its deep copy gets its own
            return _restore(type(self), self._phyper_values, copy.deepcopy(self._phyper_shared, memo), True, None)
        return self  # instances are immutable

    def _require_parser(self, what: str) -> Context:
        if not self._phyper_is_parser:
            raise ParserUsageError(
                f"{what} is a parser operation: call it on the parser made by "
                f"{type(self).__name__}(hashed_resources_folder=...), not on an instance"
            )
        return self._phyper_shared

    def _require_instance(self, what: str) -> Context:
        if self._phyper_is_parser:
            raise ParserUsageError(
                f"{what} was called on the parser, which is not an instance: its values are "
                "only the defaults. Use the instances from parser.get_instances_from_dictionary() "
                "or parser.get_instance(...)"
            )
        return self._phyper_shared

    # -- resources -----------------------------------------------------------------

    @property
    def hashed_resources_folder(self) -> str | None:
        """The folder under which every hashed folder lives."""
        return self._phyper_shared.folder

    def register_new_resource(self, name: str, dependencies: Iterable[str]) -> None:
        """Register an intermediate resource defined by a subset of the keys.

        Raises:
            UnknownHyperparameterError: a dependency is not a hyperparameter.
            ParserUsageError: a dependency is a non-key, or the name is not usable.
            DuplicateResourceError: the name is already registered.
        """
        self._require_parser("register_new_resource()").register(name, dependencies)

    def get_dependencies_for_resources(self, *resource_names: str) -> list[str]:
        """The keys the named resources depend on, in order, each once (a new list)."""
        shared = self._phyper_shared
        names: list[str] = []
        for resource_name in resource_names:
            for dependency in shared.dependencies(resource_name):
                if dependency not in names:
                    names.append(dependency)
        return names

    @property
    def resources(self) -> dict[str, list[str]]:
        """The registered resources and their dependencies (a copy)."""
        return {name: list(deps) for name, deps in self._phyper_shared.resources.items()}

    # -- instances -------------------------------------------------------------------

    def get_instances_from_dictionary(
        self: P,
        grid: Mapping[str, Iterable[Any]],
        *,
        non_key_overrides: Mapping[str, Any] | None = None,
    ) -> InstanceList[P]:
        """The cartesian product of the listed values; others take their defaults.

        Args:
            grid: hyperparameter name -> list of values.
            non_key_overrides: values for non-keys that replace the defaults for every
                instance (no hash changes). When None, they are read from the
                ``PHYPER_NON_KEYS`` environment variable (``"n_epochs=5,log_interval=1"``).

        Raises:
            GridValueError: the grid is not a dict of lists, or a list is empty.
            UnknownHyperparameterError: a name is not a hyperparameter.
            HyperparameterTypeError: a value has the wrong type.
            HyperparameterValueError: a value is not allowed (NaN, outside a ``Literal``).
            UnsupportedValueError: a value of a type phyper cannot hash (a set, an object).
            DuplicateInstanceError: two instances would be the same (a repeated value,
                or several values for a non-key).
        """
        shared = self._require_parser("get_instances_from_dictionary()")
        schema = shared.schema
        if not isinstance(grid, Mapping):
            raise GridValueError(
                f"the grid must be a dict of hyperparameter name -> list of values, got {type(grid).__name__}"
            )
        base = list(self._defaults_with_overrides(non_key_overrides))
        positions: list[int] = []
        value_lists: list[list[Any]] = []
        for name, raw_values in grid.items():
            position = schema.position(name, context="the grid")
            values = _grid_values(schema, name, raw_values)
            if len(values) > 1 and name in schema.non_keys:
                raise DuplicateInstanceError(
                    f"`{name}` is a non-key but the grid lists {len(values)} values for it: "
                    "instances that differ only in non-keys would share one hash and one folder; "
                    f"make `{name}` a key (declare it in the Parser subclass) or run one grid per value"
                )
            positions.append(position)
            value_lists.append(values)
        # One product over every hyperparameter, the grid's names first in the grid's
        # order (so the first grid name varies slowest, as in the seed), then each
        # combination put back in declaration order: both loops run in C.
        listed = set(positions)
        order = positions + [position for position in range(len(base)) if position not in listed]
        columns = value_lists + [[base[position]] for position in order[len(positions):]]
        combinations: Iterable[tuple[Any, ...]] = itertools.product(*columns)
        if order != sorted(order):
            to_declaration_order = [0] * len(order)
            for column, position in enumerate(order):
                to_declaration_order[position] = column
            combinations = map(operator.itemgetter(*to_declaration_order), combinations)
        # The new instances hold no reference cycles, but each full collection of the
        # garbage collector would walk all of them again: a million instances took
        # twice as long with it on. Paused for this loop only, then restored.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return InstanceList(map(self._factory(), combinations))
        finally:
            if collecting:
                gc.enable()

    def _defaults_with_overrides(self, non_key_overrides: Mapping[str, Any] | None) -> tuple[Any, ...]:
        """Every default, the non-keys overridden (by ``PHYPER_NON_KEYS`` when None is given)."""
        schema = self._phyper_shared.schema
        base = list(schema.defaults)
        for name, value in resolve_non_key_overrides(schema, non_key_overrides).items():
            base[schema.index[name]] = value
        return tuple(base)

    def get_instance(self: P, **values: Any) -> P:
        """One instance with the given values; the others take their defaults."""
        shared = self._require_parser("get_instance()")
        return self._with_values(shared.schema.defaults, values)

    def replace(self: P, **changes: Any) -> P:
        """A new instance equal to this one except for ``changes`` (validated)."""
        self._require_instance("replace()")
        return self._with_values(self._phyper_values, changes)

    def _with_values(self: P, start: tuple[Any, ...], changes: Mapping[str, Any]) -> P:
        schema = self._phyper_shared.schema
        values = list(start)
        for name, value in changes.items():
            values[schema.position(name)] = schema.normalize(name, value)
        return self._new(tuple(values))

    # -- hashes and paths --------------------------------------------------------------

    def get_instance_hash(self, resource_name: str | None = None) -> str:
        """The hash of this instance's keys, or of the keys ``resource_name`` depends on."""
        # the hot path of every pipeline: keep it to a few attribute reads
        if resource_name is None:
            full_hash: str | None = self._phyper_full_hash
            if full_hash is not None:
                return full_hash
        if self._phyper_is_parser:
            self._require_instance("get_instance_hash()")
        shared = self._phyper_shared
        try:
            hasher = shared._hashers[resource_name]
        except (KeyError, TypeError):
            hasher = shared.hasher(resource_name)
        resource_hash = hasher.hash_values(self._phyper_values)
        if resource_name is None:
            _SLOT_SETTERS[3](self, resource_hash)
        return resource_hash

    def get_resources_path(self, resource_name: str | None = None) -> str:
        """``<hashed_resources_folder>/<resource_name or 'all'>/<hash>`` (nothing is created)."""
        shared = self._require_instance("get_resources_path()")
        return shared.hashed_path_prefix(resource_name) + self.get_instance_hash(resource_name)

    def get_key_values(self, resource_name: str | None = None) -> dict[str, Any]:
        """The key values that define this instance, or one of its resources."""
        shared = self._phyper_shared
        names = shared.dependencies(resource_name)
        return {name: self._phyper_values[shared.schema.index[name]] for name in names}

    def to_dict(self) -> dict[str, Any]:
        """Every hyperparameter's value, keys and non-keys, in declaration order."""
        return dict(zip(self._phyper_shared.schema.names, self._phyper_values))

    @classmethod
    def key_names(cls) -> list[str]:
        """The names of the keys (hyperparameters declared in Parser subclasses)."""
        return list(cls._phyper_schema.keys)

    @classmethod
    def non_key_names(cls) -> list[str]:
        """The names of the non-keys (hyperparameters declared in plain mixins)."""
        return list(cls._phyper_schema.non_keys)

    # -- manifests ---------------------------------------------------------------------

    def write_manifest(self, resource_name: str | None = None) -> str:
        """Write (atomically) the manifest of this instance's folder for a resource.

        Returns the manifest's path. If a manifest is already there and agrees, nothing
        is written; if it disagrees, `ManifestMismatchError` is raised.
        """
        from phyper._model.manifest import write_manifest

        self._require_instance("write_manifest()")
        return write_manifest(self, resource_name)

    def instance_from_manifest(self: P, path: str | os.PathLike[str]) -> P:
        """Rebuild an instance from a manifest (a file or its folder); non-recorded values default."""
        from phyper._model.manifest import instance_from_manifest

        self._require_parser("instance_from_manifest()")
        return instance_from_manifest(self, path)

    def migrate_hashed_folders(self, *, dry_run: bool = False) -> list[tuple[str, str]]:
        """Move hashed folders whose manifests hash differently under the current class.

        After adding a key with a non-None default, existing folders' manifests lack
        it; each is read back (the new key at its default), rehashed, and its folder
        renamed to the new hash with a new manifest. Returns the (old, new) moves.
        """
        from phyper._model.manifest import migrate_hashed_folders

        self._require_parser("migrate_hashed_folders()")
        return migrate_hashed_folders(self, dry_run=dry_run)

    # -- operations on lists (static, as in the seed: Instance.get_projections(...)) -----

    get_instances_hashes = staticmethod(get_instances_hashes)
    get_instance_from_hash = staticmethod(get_instance_from_hash)
    get_filtered_instances = staticmethod(get_filtered_instances)
    get_projections = staticmethod(get_projections)

    # -- dunder ------------------------------------------------------------------------

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        kind = "parser" if self._phyper_is_parser else "instance"
        return f"<{type(self).__name__} {kind} {fields}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParserModel) or type(other) is not type(self):
            return NotImplemented
        return (
            self._phyper_is_parser == other._phyper_is_parser
            and _typed(self._phyper_values) == _typed(other._phyper_values)
        )

    def __hash__(self) -> int:
        return hash(_typed(self._phyper_values))


_SLOT_SETTERS = tuple(
    getattr(ParserModel, name).__set__
    for name in ("_phyper_values", "_phyper_shared", "_phyper_is_parser", "_phyper_full_hash")
)


def _restore(cls: type[P], values: tuple[Any, ...], shared: Any, is_parser: bool, full_hash: str | None) -> P:
    """Unpickle a parser or an instance (``__setattr__`` refuses the default way)."""
    instance: P = object.__new__(cls)
    for setter, value in zip(_SLOT_SETTERS, (values, shared, is_parser, full_hash)):
        setter(instance, value)
    return instance


def _typed(values: tuple[Any, ...]) -> tuple[tuple[type, Any], ...]:
    return tuple((type(value), value) for value in values)


def _grid_values(schema: Schema, name: str, raw_values: Any) -> list[Any]:
    if isinstance(raw_values, (str, bytes)) or not isinstance(raw_values, (list, tuple, range)):
        hint = " (a set has no order; use a sorted list)" if isinstance(raw_values, (set, frozenset)) else ""
        raise GridValueError(
            f"grid value for `{name}` must be a list of values, got {raw_values!r}{hint}; "
            f"write `{name!r}: [{raw_values!r}]` for a single value"
        )
    if len(raw_values) == 0:
        raise GridValueError(
            f"grid value for `{name}` is an empty list, which would make no instances; "
            "list at least one value or leave it out to use the default"
        )
    values: list[Any] = []
    seen: set[tuple[type, Any]] = set()
    for raw in raw_values:
        value = schema.normalize(name, raw)
        if (type(value), value) in seen:
            raise DuplicateInstanceError(
                f"the grid lists `{name}` = {value!r} twice (after normalisation to "
                f"{schema[name].value_type.describe()}); list each value once"
            )
        seen.add((type(value), value))
        values.append(value)
    return values

