"""What a parser shares with the instances it creates: folder, resources, hash memos."""

from __future__ import annotations

import os
import re
from typing import Any

from phyper._errors import (
    DuplicateResourceError,
    ParserUsageError,
    PhyperError,
    UnknownHyperparameterError,
    UnknownResourceError,
    did_you_mean,
)
from phyper._hashing import PREFIX, digest, encode_item
from phyper._schema import Schema

__all__ = ["FULL_INSTANCE", "Context"]

FULL_INSTANCE = "all"
"""The folder name of full instances: ``<hashed_resources_folder>/all/<hash>``."""

_RESOURCE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


class _Hasher:
    """Hashes one fixed set of key names, with the encoded items memoised per value."""

    def __init__(self, schema: Schema, names: tuple[str, ...], memoise_hashes: bool) -> None:
        ordered = sorted(names)
        self.names = tuple(ordered)
        self.positions = tuple(schema.index[name] for name in ordered)
        self._items: dict[tuple[int, type, Any], bytes] = {}
        self._hashes: dict[tuple[Any, ...], str] | None = {} if memoise_hashes else None

    def _item(self, position: int, name: str, value: Any) -> bytes:
        memo_key = (position, type(value), value)
        item = self._items.get(memo_key)
        if item is None:
            item = self._items[memo_key] = encode_item(name, value)
        return item

    def hash_values(self, values: tuple[Any, ...]) -> str:
        """The hash of these key names taken from a full tuple of values."""
        if self._hashes is not None:
            selected = tuple([values[position] for position in self.positions])
            cached = self._hashes.get(selected)
            if cached is not None:
                return cached
        items = self._items
        parts = [PREFIX]
        for position, name in zip(self.positions, self.names):
            value = values[position]
            item = items.get((position, type(value), value))
            if item is None:
                item = self._item(position, name, value)
            parts.append(item)
        result = digest(b"".join(parts))
        if self._hashes is not None:
            self._hashes[selected] = result
        return result


class Context:
    """The parser's shared state: schema, hashed folder, resources and their hashers."""

    def __init__(self, schema: Schema, hashed_resources_folder: str | os.PathLike[str] | None) -> None:
        self.schema = schema
        self.folder = None if hashed_resources_folder is None else os.fspath(hashed_resources_folder)
        self.resources: dict[str, tuple[str, ...]] = {}
        self._hashers: dict[str | None, _Hasher] = {None: _Hasher(schema, schema.keys, False)}

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
