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
    The wildcard is ``hash`` unless given, for resources too (so one ``get_instance``
    call reads every rule's hash); the seed's naming is
    [`snakemake_helper_get_wildcarded_path`][phyper_snakemake.snakemake_helper_get_wildcarded_path]. Constrain the wildcard to
    ``phyper.HASH_PATTERN`` in the rule.

    Raises:
        PipelineDefinitionError: the path does not contain the resource hash.
    """
    return phyper.Parser.snakemake_helper_get_wildcarded_path(path_function, instance, resource_name, wildcard=wildcard)


def snakemake_helper_get_wildcarded_path(
    path_function: Callable[[Any], str | os.PathLike[str]],
    instance: phyper.Parser,
    resource_name: str | None = None,
) -> str:
    """The seed's helper, as ``Instance.snakemake_helper_get_wildcarded_path``: same arguments, same result.

    The wildcard is ``{<resource_name>_hash}`` for a resource (``{transformed_data_hash}``)
    and ``{hash}`` for the full instance, as the seed's rules read them
    (``wildcards.transformed_data_hash``).

    Raises:
        PipelineDefinitionError: the path does not contain the resource hash.
    """
    return phyper.Parser.snakemake_helper_get_wildcarded_path(path_function, instance, resource_name)


def get_hashes(instances: Sequence[phyper.Parser], resource_name: str | None = None) -> list[str]:
    """The distinct hashes to ``expand`` a wildcarded path over."""
    return phyper.get_instances_hashes(instances, resource_name)


def get_instance(wildcards: Any, instances: Sequence[T], resource_name: str | None = None, wildcard: str = "hash") -> T:
    """The instance named by a rule's wildcard (an O(1) lookup on phyper's lists)."""
    return phyper.get_instance_from_hash(getattr(wildcards, wildcard), instances, resource_name)
