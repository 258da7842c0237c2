"""What lists of instances and manifests need of an instance: a protocol the model provides.

`phyper._model.instance_list` and `phyper._model.manifest` work on instances, and the
model (`phyper._model.model`) uses both; typing them against this protocol instead of
the model's class keeps the imports pointing one way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from phyper._model.context import Context

__all__ = ["Instance"]

InstanceT = TypeVar("InstanceT", bound="Instance")


class Instance(Protocol):
    """An instance (or the parser) of a `phyper.Parser` subclass, as seen from below the model."""

    _phyper_values: tuple[Any, ...]
    _phyper_shared: Context

    def get_instance_hash(self, resource_name: str | None = None) -> str:
        """The hash of the keys, or of the keys ``resource_name`` depends on."""
        ...

    def get_resources_path(self, resource_name: str | None = None) -> str:
        """``<hashed_resources_folder>/<resource_name or 'all'>/<hash>``."""
        ...

    def get_key_values(self, resource_name: str | None = None) -> dict[str, Any]:
        """The key values that define the instance, or one of its resources."""
        ...

    def get_instance(self: InstanceT, **values: Any) -> InstanceT:
        """An instance of the same class with these values, the others at their defaults."""
        ...

    def _with_values(self: InstanceT, start: tuple[Any, ...], changes: Mapping[str, Any]) -> InstanceT:
        """An instance of the same class: ``start`` with ``changes`` applied (validated)."""
        ...
