"""What a parser shares with the instances it creates: folder, resources, hash memos."""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Callable
from hashlib import sha256
from typing import Any

from phyper._errors import (
    DuplicateResourceError,
    ParserUsageError,
    PhyperError,
    UnknownHyperparameterError,
    UnknownResourceError,
    did_you_mean,
)
from phyper._model.hashing import HASH_HEX_DIGITS, PREFIX, digest, encode_item
from phyper._model.schema import Schema

__all__ = ["FULL_INSTANCE", "Context"]

FULL_INSTANCE = "all"
"""The folder name of full instances: ``<hashed_resources_folder>/all/<hash>``."""

_RESOURCE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _selector(positions: tuple[int, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A function that picks ``positions`` out of a tuple of values, as a tuple."""
    if len(positions) >= 2:
        return operator.itemgetter(*positions)
    if len(positions) == 1:
        position = positions[0]
        return lambda values: (values[position],)
    return lambda values: ()


class _Hasher:
    """Hashes one fixed set of key names, memoising each value's encoded item.

    The memos are keyed by the values themselves when each name's type admits values
    of one Python type only (normalisation guarantees it, and NaN and -0.0 never get
    here). A type such as ``Literal[1, True, 1.0]`` admits equal values of different
    types (``1 == True == 1.0``), which a dict would confuse, so a hasher that has
    one keys its memos by (type, value) instead.
    """

    def __init__(self, schema: Schema, names: tuple[str, ...], memoise_hashes: bool) -> None:
        ordered = sorted(names)
        self.names = tuple(ordered)
        self.positions = tuple(schema.index[name] for name in ordered)
        self._select = _selector(self.positions)
        self._typed = any(len(schema[name].value_type.python_types()) > 1 for name in ordered)
        self._items: tuple[dict[Any, bytes], ...] = tuple({} for _ in ordered)
        self._hashes: dict[Any, str] | None = {} if memoise_hashes else None
        self.hash_values: Callable[[tuple[Any, ...]], str] = (
            self._hash_typed if self._typed else self._untyped_hash_function()
        )
        """The hash of these key names taken from a full tuple of values."""

    def _untyped_hash_function(self) -> Callable[[tuple[Any, ...]], str]:
        # A closure over locals: this runs once per instance and resource, and
        # attribute look-ups were a fifth of its time.
        select, items, encode, hashes = self._select, self._items, self._encode, self._hashes
        item_of, join = dict.__getitem__, b"".join

        def hash_values(values: tuple[Any, ...]) -> str:
            selected = select(values)
            if hashes is not None:
                cached = hashes.get(selected)
                if cached is not None:
                    return cached
            try:
                preimage = PREFIX + join(map(item_of, items, selected))
            except KeyError:
                preimage = encode(selected, selected)
            result = sha256(preimage).hexdigest()[:HASH_HEX_DIGITS]
            if hashes is not None:
                hashes[selected] = result
            return result

        return hash_values

    def _hash_typed(self, values: tuple[Any, ...]) -> str:
        selected = self._select(values)
        memo_keys = tuple([(type(value), value) for value in selected])
        hashes = self._hashes
        if hashes is not None:
            cached = hashes.get(memo_keys)
            if cached is not None:
                return cached
        result = digest(self._encode(selected, memo_keys))
        if hashes is not None:
            hashes[memo_keys] = result
        return result

    def _encode(self, selected: tuple[Any, ...], memo_keys: tuple[Any, ...]) -> bytes:
        parts = [PREFIX]
        for name, items, value, memo_key in zip(self.names, self._items, selected, memo_keys):
            item = items.get(memo_key)
            if item is None:
                item = items[memo_key] = encode_item(name, value)
            parts.append(item)
        return b"".join(parts)


class Context:
    """The parser's shared state: schema, hashed folder, resources and their hashers."""

    def __init__(self, schema: Schema, hashed_resources_folder: str | os.PathLike[str] | None) -> None:
        self.schema = schema
        self.folder = None if hashed_resources_folder is None else os.fspath(hashed_resources_folder)
        self.resources: dict[str, tuple[str, ...]] = {}
        self._hashers: dict[str | None, _Hasher] = {None: _Hasher(schema, schema.keys, False)}
        self._prefixes: dict[str | None, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        # the hashers are caches (and hold lambdas): rebuild them after unpickling
        return {"schema": self.schema, "folder": self.folder, "resources": self.resources}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.schema = state["schema"]
        self.folder = state["folder"]
        self.resources = dict(state["resources"])
        self._hashers = {None: _Hasher(self.schema, self.schema.keys, False)}
        for name, dependencies in self.resources.items():
            self._hashers[name] = _Hasher(self.schema, dependencies, True)
        self._prefixes = {}

    def register(self, name: str, dependencies: Any) -> None:
        if not isinstance(name, str) or not _RESOURCE_NAME.fullmatch(name) or name == FULL_INSTANCE:
            raise ParserUsageError(
                f"resource name {name!r} is not allowed: it names a folder, so use letters, "
                f"digits, '_', '-', '.' (not starting with a digit), and not `{FULL_INSTANCE}`"
            )
        if name in self.resources:
            raise DuplicateResourceError(
                f"resource `{name}` is already registered with dependencies "
                f"{list(self.resources[name])}; register each resource once"
            )
        if isinstance(dependencies, str) or not hasattr(dependencies, "__iter__"):
            raise ParserUsageError(
                f"dependencies of resource `{name}` must be a list of hyperparameter names, "
                f"got {dependencies!r}"
            )
        unique: list[str] = []
        for dependency in dependencies:
            if dependency not in self.schema.index:
                raise UnknownHyperparameterError(
                    f"resource `{name}` depends on unknown hyperparameter `{dependency}`"
                    f"{did_you_mean(str(dependency), self.schema.keys)}"
                )
            if dependency not in self.schema.keys:
                raise ParserUsageError(
                    f"resource `{name}` depends on `{dependency}`, which is a non-key: non-keys "
                    "do not define results, so they cannot define a resource; declare it in the "
                    "Parser subclass to make it a key"
                )
            if dependency not in unique:
                unique.append(dependency)
        self.resources[name] = tuple(unique)
        self._hashers[name] = _Hasher(self.schema, tuple(unique), True)

    def check_resource(self, resource_name: str | None) -> None:
        if resource_name is not None and resource_name not in self.resources:
            known = ", ".join(f"`{r}`" for r in self.resources) or "none registered yet"
            raise UnknownResourceError(
                f"unknown resource `{resource_name}`{did_you_mean(str(resource_name), self.resources)}"
                f" (known: {known}); register it with register_new_resource() or pass "
                "resource_name=None for the full instance"
            )

    def hasher(self, resource_name: str | None) -> _Hasher:
        try:
            return self._hashers[resource_name]
        except (KeyError, TypeError):
            self.check_resource(resource_name)
            raise

    def dependencies(self, resource_name: str | None) -> tuple[str, ...]:
        """The key names that define a resource (all keys for the full instance)."""
        if resource_name is None:
            return self.schema.keys
        self.check_resource(resource_name)
        return self.resources[resource_name]

    def resource_folder(self, resource_name: str | None) -> str:
        if self.folder is None:
            raise PhyperError(
                "this parser has no hashed_resources_folder; create it with "
                "Instance(hashed_resources_folder='derived_data')"
            )
        return os.path.join(self.folder, resource_name or FULL_INSTANCE)

    def hashed_path_prefix(self, resource_name: str | None) -> str:
        """``resource_folder(resource_name)`` with a trailing separator (memoised: a hot path)."""
        prefix = self._prefixes.get(resource_name)
        if prefix is None:
            prefix = self._prefixes[resource_name] = os.path.join(self.resource_folder(resource_name), "")
        return prefix
