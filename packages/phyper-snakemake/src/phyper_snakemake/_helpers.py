"""Helpers for Snakefiles written by hand, as in the seed's Snakefile."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import phyper

__all__ = ["get_hashes", "get_instance", "get_wildcarded_path", "snakemake_helper_get_wildcarded_path"]

T = TypeVar("T", bound=phyper.Parser)


def get_wildcarded_path(
    path_function: Callable[[Any], str | os.PathLike[str]],
    instance: phyper.Parser,
    resource_name: str | None = None,
    wildcard: str = "hash",
) -> str:
    """The path ``path_function(instance)`` with the resource hash replaced by ``{wildcard}``.

    Example: ``get_wildcarded_path(get_transformed_dataset_path, instances[0],
    "transformed_data", "transformed_data_hash")`` gives
    ``derived_data/transformed_data/{transformed_data_hash}/transformed_data.npy``.
    Constrain the wildcard to ``phyper.HASH_PATTERN`` in the rule.

    Raises:
        PipelineDefinitionError: the path does not contain the resource hash.
    """
    path = os.fspath(path_function(instance))
    resource_hash = instance.get_instance_hash(resource_name)
    if resource_hash not in path:
        what = f"resource `{resource_name}`" if resource_name else "the full instance"
        raise phyper.PipelineDefinitionError(
            f"{path} does not contain the hash of {what} ({resource_hash}); build the path from "
            f"instance.get_resources_path({resource_name!r}) or pass the matching resource_name"
        )
    escaped = path.replace("{", "{{").replace("}", "}}")
    return escaped.replace(resource_hash, "{" + wildcard + "}")


snakemake_helper_get_wildcarded_path = get_wildcarded_path
"""The seed's name for :func:`get_wildcarded_path`."""


def get_hashes(instances: Sequence[phyper.Parser], resource_name: str | None = None) -> list[str]:
    """The distinct hashes to ``expand`` a wildcarded path over."""
    return phyper.get_instances_hashes(instances, resource_name)


def get_instance(wildcards: Any, instances: Sequence[T], resource_name: str | None = None, wildcard: str = "hash") -> T:
    """The instance named by a rule's wildcard (an O(1) lookup on phyper's lists)."""
    return phyper.get_instance_from_hash(getattr(wildcards, wildcard), instances, resource_name)
