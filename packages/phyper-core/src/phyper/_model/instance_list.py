"""Operations on lists of instances: hashes, lookup by hash, filtering, projections."""

from __future__ import annotations

import enum
import importlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, SupportsIndex, TypeVar, cast

from phyper._errors import (
    MissingDependencyError,
    UnknownHashError,
    UnknownHyperparameterError,
    did_you_mean,
)
from phyper._model.hashing import hash_key_values, is_hash

if TYPE_CHECKING:
    import pandas

    from phyper._model.instance import Instance

__all__ = [
    "InstanceList",
    "get_filtered_instances",
    "get_instance_from_hash",
    "get_instances_hashes",
    "get_projections",
]

T = TypeVar("T", bound="Instance")


def _invalidating(method_name: str) -> Any:
    method = getattr(list, method_name)

    def wrapper(self: InstanceList[Any], *args: Any, **kwargs: Any) -> Any:
        self._phyper_indexes = {}
        return method(self, *args, **kwargs)

    wrapper.__name__ = method_name
    wrapper.__doc__ = method.__doc__
    return wrapper


class InstanceList(list[T]):
    """A list of instances that keeps a hash index per resource for O(1) lookups.

    It is a plain ``list`` in every other way; any mutation drops the indexes, which
    are rebuilt on the next lookup.
    """

    _phyper_indexes: dict[str | None, dict[str, T]]

    def __init__(self, iterable: Iterable[T] = ()) -> None:
        super().__init__(iterable)
        self._phyper_indexes = {}

    def hash_index(self, resource_name: str | None = None) -> dict[str, T]:
        """Hash -> first instance with that hash, for a resource (cached)."""
        index = self._phyper_indexes.get(resource_name)
        if index is None:
            index = self._phyper_indexes[resource_name] = _build_index(self, resource_name)
        return index

    append = _invalidating("append")
    extend = _invalidating("extend")
    insert = _invalidating("insert")
    pop = _invalidating("pop")
    remove = _invalidating("remove")
    clear = _invalidating("clear")
    sort = _invalidating("sort")
    reverse = _invalidating("reverse")
    __setitem__ = _invalidating("__setitem__")
    __delitem__ = _invalidating("__delitem__")
    __iadd__ = _invalidating("__iadd__")
    __imul__ = _invalidating("__imul__")

    def __getitem__(self, item: SupportsIndex | slice) -> Any:
        if isinstance(item, slice):
            return InstanceList(list.__getitem__(self, item))
        return list.__getitem__(self, item)

    def __reduce__(self) -> tuple[Any, ...]:
        return (InstanceList, (list(self),))


def _build_index(instances: Iterable[T], resource_name: str | None) -> dict[str, T]:
    instances = instances if isinstance(instances, list) else list(instances)
    hashes = [instance.get_instance_hash(resource_name) for instance in instances]
    index = dict(zip(hashes, instances))
    if len(index) == len(instances):
        return index  # all distinct (full hashes): the C-speed dict() is already right
    # repeated hashes: keep each hash's first instance, in first-seen order
    index = {}
    for resource_hash, instance in zip(hashes, instances):
        index.setdefault(resource_hash, instance)
    return index


def get_instances_hashes(instances: Iterable[Instance], resource_name: str | None = None) -> list[str]:
    """The distinct hashes of the instances for a resource, in first-seen order."""
    if isinstance(instances, InstanceList):
        return list(instances.hash_index(resource_name))
    return list(_build_index(instances, resource_name))


def get_instance_from_hash(hash: str, instances: Sequence[T], resource_name: str | None = None) -> T:
    """The (first) instance whose hash for ``resource_name`` is ``hash``.

    O(1) amortised on an [`InstanceList`][phyper.InstanceList] (what phyper returns); a plain list is
    indexed on each call.

    Raises:
        UnknownHashError: no instance has that hash for that resource.
    """
    if len(instances) == 0:
        raise UnknownHashError(f"cannot look up hash `{hash}`: the list of instances is empty")
    instances[0]._phyper_shared.check_resource(resource_name)
    if isinstance(instances, InstanceList):
        index = instances.hash_index(resource_name)
    else:
        index = _build_index(instances, resource_name)
    found: T | None = index.get(hash)
    if found is None:
        what = f"resource `{resource_name}`" if resource_name else "full instance (resource_name=None)"
        shape = "" if isinstance(hash, str) and is_hash(hash) else " (it is not even a 32-hex-digit hash)"
        raise UnknownHashError(
            f"no instance has {what} hash `{hash}`{shape} among {len(index)} distinct hashes; "
            "check the resource name, or whether the grid changed since this hash was made"
        )
    return found


def _allowed_values(instances: Sequence[Instance], criteria: Mapping[str, Any]) -> list[tuple[int, set[Any]]]:
    schema = instances[0]._phyper_shared.schema
    allowed: list[tuple[int, set[Any]]] = []
    for name, wanted in criteria.items():
        position = schema.position(name, context="the filter")
        options = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
        allowed.append((position, {(type(v), v) for v in (schema.normalize(name, o) for o in options)}))
    return allowed


def get_filtered_instances(instances: Sequence[T], criteria: Mapping[str, Any]) -> InstanceList[T]:
    """The instances whose values match ``criteria`` (name -> value, or list of accepted values)."""
    if len(instances) == 0:
        return InstanceList()
    allowed = _allowed_values(instances, criteria)
    return InstanceList(
        instance
        for instance in instances
        if all(
            (type(value), value) in accepted
            for position, accepted in allowed
            for value in (instance._phyper_values[position],)
        )
    )


class _RowValues(enum.Enum):
    """The default of ``get_projections``' ``resource_name``: hash each row's own values."""

    HASH = "the hash of the row's values"


def get_projections(
    instances: Sequence[Instance],
    hyperparameter_names: Sequence[str],
    resource_name: str | None | _RowValues = _RowValues.HASH,
) -> pandas.DataFrame:
    """A DataFrame with one row per distinct combination of the named values.

    Without ``resource_name``, the index, named ``hash``, holds the hash of each
    combination, which is the resource hash when the names are a resource's
    dependencies. Requires pandas.

    Args:
        instances: the instances to project.
        hyperparameter_names: the columns, in order (one name may be given as a string).
        resource_name: phyper 0.x's third argument. When given, the index holds each
            row's hash for that resource (``None``: the full instance hash) and a row is
            a distinct (hash, values) pair, so a combination that several of those
            hashes share appears once per hash.

    Raises:
        MissingDependencyError: pandas is not installed.
        UnknownHyperparameterError: a name is not a hyperparameter.
        UnknownResourceError: ``resource_name`` is not registered.
    """
    try:
        pd = importlib.import_module("pandas")
    except ImportError:
        raise MissingDependencyError(
            "get_projections() returns a pandas DataFrame and pandas is not installed; "
            "install it with `pip install pandas` (or `pip install 'phyper-core[pandas]'`)"
        ) from None
    if isinstance(hyperparameter_names, str):
        hyperparameter_names = [hyperparameter_names]
    names = list(hyperparameter_names)
    if len(instances) == 0:
        return cast("pandas.DataFrame", pd.DataFrame({name: [] for name in names}, index=pd.Index([], name="hash")))
    shared = instances[0]._phyper_shared
    schema = shared.schema
    positions = []
    for name in names:
        if name not in schema.index:
            raise UnknownHyperparameterError(
                f"unknown hyperparameter `{name}` in the projection{did_you_mean(name, schema.names)}"
            )
        positions.append(schema.index[name])
    # each row: its typed values (1 is not True), then the hash it is indexed by
    rows: dict[tuple[Any, ...], str | None] = {}
    if resource_name is _RowValues.HASH:
        for instance in instances:
            values = instance._phyper_values
            rows.setdefault(tuple((type(values[p]), values[p]) for p in positions))
    else:
        shared.check_resource(resource_name)
        for instance in instances:
            values = instance._phyper_values
            resource_hash = instance.get_instance_hash(resource_name)
            rows.setdefault((resource_hash, *((type(values[p]), values[p]) for p in positions)), resource_hash)
    columns: dict[str, list[Any]] = {name: [] for name in names}
    hashes = []
    for row, row_hash in rows.items():
        plain = [value for _, value in (row if row_hash is None else row[1:])]
        for name, value in zip(names, plain):
            columns[name].append(value)
        hashes.append(hash_key_values(dict(zip(names, plain))) if row_hash is None else row_hash)
    data: dict[str, Any] = {}
    for name, column in columns.items():
        kinds = {type(value) for value in column}
        # pandas would turn None into NaN (and [1, None] into floats) and coerce 1,
        # True and 1.0 to one type: keep such columns as the Python values themselves
        data[name] = column if len(kinds) == 1 and type(None) not in kinds else pd.array(column, dtype=object)
    return cast("pandas.DataFrame", pd.DataFrame(data, index=pd.Index(hashes, name="hash")))
