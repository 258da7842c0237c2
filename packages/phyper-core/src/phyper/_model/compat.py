"""phyper 0.x's API, on top of the model: `Phyper0Parser` and the compositions it calls.

The seed's code (its ``config.py``, ``Snakefile``, ``main.py``, notebooks) calls these
on ``Instance`` or on the parser; `phyper.Parser` exposes them under their 0.x
names. Each is an alias or a short composition of phyper's own API. Where 0.x
misbehaved (folders created while hashing, asserts, one file written for all
instances) these keep phyper's behaviour and its named errors. This module imports
the model (`phyper._model.model`); the model never imports it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pprint
import shutil
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from phyper._errors import (
    DuplicateInstanceError,
    GridValueError,
    ManifestError,
    ManifestMismatchError,
    ParserUsageError,
    PipelineDefinitionError,
    UnknownHashError,
)
from phyper._model.hashing import HASH_HEX_DIGITS, is_hash
from phyper._model.instance_list import InstanceList, get_instance_from_hash, get_projections
from phyper._model.manifest import MANIFEST_NAME, instance_from_manifest
from phyper._model.model import ParserModel

if TYPE_CHECKING:
    import pandas

__all__ = [
    "PHYPER0_INFO_NAME",
    "Phyper0Parser",
    "describe_instance_from_hash",
    "get_df_of_instances",
    "get_resources",
    "load_instance_by_hash",
    "migrate_phyper0_folders",
    "phyper0_hash",
    "seed_wildcard",
    "wildcarded_path",
    "write_manifests",
]

T = TypeVar("T", bound=ParserModel)
P = TypeVar("P", bound=ParserModel)

PHYPER0_INFO_NAME = "instance_info.json"
"""The file in which phyper 0.x recorded a hashed folder's values."""


def _instance_list(instances: Any, what: str) -> Sequence[ParserModel]:
    """``instances`` if it is a sequence of instances (not the parser), else a ParserUsageError."""
    if isinstance(instances, (str, bytes)) or not isinstance(instances, Sequence):
        raise ParserUsageError(
            f"{what} takes a list of instances (e.g. parser.get_instances_from_dictionary(...)), "
            f"got {type(instances).__name__}"
        )
    for item in instances:
        if not isinstance(item, ParserModel):
            raise ParserUsageError(f"{what} takes a list of instances, but it holds {item!r}")
        if item._phyper_is_parser:
            raise ParserUsageError(
                f"{what} got the parser in its list of instances; pass only the instances it created"
            )
    return instances


def get_resources(instances: Sequence[T], resource_name: str | None) -> InstanceList[T]:
    """One instance per distinct hash of ``resource_name`` (the first one), in first-seen order.

    Each returned instance stands for its resource: only the values the resource
    depends on are meaningful for it.

    Raises:
        ParserUsageError: ``instances`` is not a list of instances.
        UnknownResourceError: the resource is not registered.
    """
    _instance_list(instances, "get_resources()")
    if len(instances) == 0:
        return InstanceList()
    instances[0]._phyper_shared.check_resource(resource_name)
    listed = instances if isinstance(instances, InstanceList) else InstanceList(instances)
    return InstanceList(listed.hash_index(resource_name).values())


def write_manifests(instances: Sequence[ParserModel], what: str) -> list[str]:
    """Write the manifest of each instance's folder and of each of its resources' folders.

    Each distinct folder is written once; a folder whose manifest already agrees is left
    as it is. Returns the manifests' paths (full instances first, then each resource).

    Raises:
        ParserUsageError: ``instances`` is not a list of instances.
        ManifestMismatchError: a folder holds the manifest of other values.
    """
    _instance_list(instances, what)
    if len(instances) == 0:
        return []
    paths: list[str] = []
    for resource_name in [None, *instances[0]._phyper_shared.resources]:
        for representative in get_resources(instances, resource_name):
            paths.append(representative.write_manifest(resource_name))
    return paths


def load_instance_by_hash(
    parser: T, instance_hash: str, resource_name: str | None, skip_missing: bool
) -> T | None:
    """The instance recorded in the manifest of ``<folder>/<resource or all>/<hash>``, verified.

    Values that the manifest does not record (non-keys, and for a resource the keys it
    does not depend on) take their defaults.

    Raises:
        UnknownHashError: ``instance_hash`` is not a phyper hash.
        UnknownResourceError: the resource is not registered.
        ManifestError: no manifest there (unless ``skip_missing``), or it is unreadable.
        ManifestMismatchError: the manifest's values do not hash to ``instance_hash``.
    """
    shared = parser._phyper_shared
    shared.check_resource(resource_name)
    if not isinstance(instance_hash, str) or not is_hash(instance_hash):
        length = f" ({len(instance_hash)} characters)" if isinstance(instance_hash, str) else ""
        raise UnknownHashError(
            f"{instance_hash!r}{length} is not a phyper hash ({HASH_HEX_DIGITS} hex digits); "
            "phyper 0.x hashes (64 hex digits) name other folders: see 'Coming from phyper 0.x' "
            "in docs/phyper0.md to carry old results over"
        )
    folder = shared.hashed_path_prefix(resource_name) + instance_hash
    if not os.path.isfile(os.path.join(folder, MANIFEST_NAME)):
        if skip_missing:
            return None
        raise ManifestError(
            f"no manifest in {folder}: nothing recorded there yet; phyper writes one in each "
            "job's folder, or call parser.generate_instance_info_files(instances)"
        )
    instance = instance_from_manifest(parser, folder)
    found = instance.get_instance_hash(resource_name)
    if found != instance_hash:
        what = f"resource `{resource_name}`" if resource_name else "full instance"
        raise ManifestMismatchError(
            f"the manifest in {folder} describes values whose {what} hash is {found}, not "
            f"{instance_hash}: the folder was moved or copied by hand; move it back or delete it"
        )
    return instance


def get_df_of_instances(instances: Sequence[ParserModel], resource_name: str | None = None) -> pandas.DataFrame:
    """A table of the instances (``None``) or of their distinct resources, indexed by hash.

    For full instances: one row per instance, every hyperparameter (keys and non-keys)
    as a column. For a resource: one row per distinct resource hash, its dependencies
    as columns. The index, named ``hash``, is the full or resource hash. Requires pandas.

    Raises:
        MissingDependencyError: pandas is not installed.
        ParserUsageError: ``instances`` is not a list of instances.
        UnknownResourceError: the resource is not registered.
    """
    _instance_list(instances, "get_df_of_instances()")
    if len(instances) == 0:
        return get_projections(instances, [], resource_name)
    shared = instances[0]._phyper_shared
    names = shared.schema.names if resource_name is None else shared.dependencies(resource_name)
    return get_projections(instances, names, resource_name)


def describe_instance_from_hash(
    instance_hash: str, instances: Sequence[ParserModel], resource_name: str | None = None
) -> None:
    """Print the values behind a hash: every hyperparameter, or a resource's dependencies.

    Raises:
        UnknownHashError: no instance has that hash for that resource.
        UnknownResourceError: the resource is not registered.
    """
    instance = get_instance_from_hash(instance_hash, _instance_list(instances, "describe_instance_from_hash()"),
                                      resource_name)
    values = instance.to_dict() if resource_name is None else instance.get_key_values(resource_name)
    print(pprint.pformat(values, sort_dicts=False))


def seed_wildcard(resource_name: str | None) -> str:
    """The seed's wildcard name: ``<resource_name>_hash``, or ``hash`` for the full instance."""
    return "hash" if resource_name is None else f"{resource_name}_hash"


def wildcarded_path(
    path_function: Callable[[Any], str | os.PathLike[str]],
    instance: ParserModel,
    resource_name: str | None = None,
    wildcard: str | None = None,
) -> str:
    """``path_function(instance)`` with its hash replaced by ``{wildcard}`` (pure string work).

    Braces already in the path are doubled, so the engine reads them literally.

    Raises:
        PipelineDefinitionError: ``path_function`` is not callable, ``wildcard`` is not
            an identifier, or the path does not contain the hash.
        ParserUsageError: ``instance`` is not an instance (the parser, a list ...).
        UnknownResourceError: the resource is not registered.
    """
    if not callable(path_function):
        raise PipelineDefinitionError(
            f"the first argument must be a function of an instance that returns a path "
            f"(e.g. get_torch_model_path), got {path_function!r}"
        )
    if not isinstance(instance, ParserModel):
        raise ParserUsageError(
            f"the second argument must be one instance (e.g. instances[0]), got {type(instance).__name__}"
        )
    name = seed_wildcard(resource_name) if wildcard is None else wildcard
    if not isinstance(name, str) or not name.isidentifier():
        raise PipelineDefinitionError(f"wildcard {name!r} is not a valid name; use letters, digits and '_'")
    resource_hash = instance.get_instance_hash(resource_name)
    path = os.fspath(path_function(instance))
    if resource_hash not in path:
        what = f"resource `{resource_name}`" if resource_name else "the full instance"
        raise PipelineDefinitionError(
            f"{path} does not contain the hash of {what} ({resource_hash}); build the path from "
            f"instance.get_resources_path({resource_name!r}) or pass the matching resource_name"
        )
    escaped = path.replace("{", "{{").replace("}", "}}")
    return escaped.replace(resource_hash, "{" + name + "}")


def phyper0_hash(instance: ParserModel, resource_name: str | None) -> str:
    """The hash phyper 0.x gave these values: the name of the folder it stored them in.

    0.x hashed, for each key of the resource (all keys: the full instance) sorted by
    name and whose value is not None, ``name`` then ``str(value)``, with SHA-256 (64 hex
    digits). Values are phyper's normalised ones: a float key given as ``1`` in 0.x was
    hashed as ``1``, here as ``1.0``, so such folders are not found.
    """
    key_values = instance.get_key_values(resource_name)
    preimage = "".join(f"{name}{value}" for name, value in sorted(key_values.items()) if value is not None)
    return hashlib.sha256(preimage.encode("utf-8")).hexdigest()


def migrate_phyper0_folders(instances: Sequence[ParserModel], dry_run: bool) -> list[tuple[str, str]]:
    """Move the hashed folders phyper 0.x made for these instances to their phyper names.

    For each instance and resource, the folder named by `phyper0_hash` (under the
    same ``<hashed_resources_folder>/<resource or all>/``) is renamed to the instance's
    phyper folder, which then gets its manifest; 0.x's ``instance_info.json`` is kept.
    Every move is checked before any is made. Returns the (old, new) pairs.

    Raises:
        ManifestMismatchError: an ``instance_info.json`` disagrees with the values, or the
            target folder already holds files other than its manifest.
    """
    instances = _instance_list(instances, "migrate_phyper0_folders()")
    if len(instances) == 0:
        return []
    shared = instances[0]._phyper_shared
    moves: list[tuple[str, str, ParserModel, str | None]] = []
    for resource_name in [None, *shared.resources]:
        prefix = shared.hashed_path_prefix(resource_name)
        for instance in get_resources(instances, resource_name):
            old = prefix + phyper0_hash(instance, resource_name)
            if not os.path.isdir(old):
                continue
            new = instance.get_resources_path(resource_name)
            _check_phyper0_info(old, instance.get_key_values(resource_name))
            if os.path.isdir(new) and set(os.listdir(new)) - {MANIFEST_NAME}:
                raise ManifestMismatchError(
                    f"cannot move {old} to {new}: the target already holds results; "
                    "keep one of the two folders and delete the other by hand"
                )
            moves.append((old, new, instance, resource_name))
    if not dry_run:
        for old, new, instance, resource_name in moves:
            if os.path.isdir(new):  # only a manifest, written before the move (e.g. at import)
                shutil.rmtree(new)
            os.replace(old, new)
            instance.write_manifest(resource_name)
    return [(old, new) for old, new, _, _ in moves]


def _check_phyper0_info(folder: str, key_values: dict[str, Any]) -> None:
    path = os.path.join(folder, PHYPER0_INFO_NAME)
    if not os.path.isfile(path):
        return  # 0.x wrote it only when asked to (generate_instance_info_files)
    try:
        with open(path, encoding="utf-8") as handle:
            recorded = json.load(handle)
    except ValueError as error:
        raise ManifestError(f"{path} is not valid JSON: {error}") from None
    expected = json.loads(json.dumps(key_values))
    if recorded != expected:
        raise ManifestMismatchError(
            f"{path} records {recorded}, but the folder's name is the 0.x hash of {expected}; "
            "the folder was edited or moved by hand: move it yourself or delete it"
        )


class Phyper0Parser(ParserModel):
    """The model with phyper 0.x's names, so its users' code runs unchanged.

    README, "Coming from phyper 0.x": aliases of the model's methods, and the
    compositions above. `phyper.Parser` is this class; the model never
    imports this module.
    """

    __slots__ = ()
    _phyper_base = True

    new_instance = ParserModel.get_instance
    """phyper 0.x name of `get_instance`: an instance with every default (on the parser)."""

    get_hyperparameters = ParserModel.to_dict
    """phyper 0.x name of `to_dict`: every hyperparameter's value (the defaults on the parser)."""

    def get_hashable_hyperparameters(self, only_non_none: bool = False) -> set[str]:
        """phyper 0.x: the names of the keys as a set (`key_names` keeps their order).

        Args:
            only_non_none: only the keys whose value here is not None (the keys that
                enter this object's hash; on the parser, those with a non-None default).
        """
        if not only_non_none:
            return set(self.key_names())
        return {name for name in self.key_names() if getattr(self, name) is not None}

    def get_resource_names(self) -> list[str]:
        """phyper 0.x: the registered resources' names, sorted (`resources` maps them to dependencies)."""
        return sorted(self._phyper_shared.resources)

    def generate_instance_info_files(self, instances: Sequence[ParserModel]) -> list[str]:
        """phyper 0.x: write the manifest of every instance's folder and of its resources' folders.

        The manifests (``phyper-manifest.json``) replace 0.x's ``instance_info.json``.
        Each distinct folder is written once, atomically; one whose manifest already
        agrees is left untouched, so calling this at every import is cheap and safe.
        Only this call and the jobs write manifests: hashing creates nothing on disk.

        Returns:
            The manifests' paths.

        Raises:
            ParserUsageError: called on an instance, or ``instances`` are not this
                parser's instances.
            ManifestMismatchError: a folder holds the manifest of other values.
        """
        self._require_parser("generate_instance_info_files()")
        for instance in instances:
            if not isinstance(instance, type(self)):
                raise ParserUsageError(
                    f"generate_instance_info_files() on a {type(self).__name__} parser got "
                    f"{instance!r}; pass the instances this parser created"
                )
        return write_manifests(instances, "generate_instance_info_files()")

    @overload
    def load_instance_from_disk_by_hash(
        self: P, instance_hash: str, resource_name: str | None = None, skip_missing: Literal[False] = False
    ) -> P: ...

    @overload
    def load_instance_from_disk_by_hash(
        self: P, instance_hash: str, resource_name: str | None = None, skip_missing: bool = False
    ) -> P | None: ...

    def load_instance_from_disk_by_hash(
        self: P, instance_hash: str, resource_name: str | None = None, skip_missing: bool = False
    ) -> P | None:
        """phyper 0.x: rebuild the instance whose folder is ``<resource or all>/<instance_hash>``.

        Read from the folder's manifest and verified: its values must hash to
        ``instance_hash``. Values the manifest does not record (non-keys, and for a
        resource the keys it does not depend on) take their defaults. Same as
        `instance_from_manifest` on that folder.

        Args:
            instance_hash: the folder's hash.
            resource_name: the resource the hash is of (None: the full instance).
            skip_missing: return None instead of raising when the folder has no manifest.

        Raises:
            ParserUsageError: called on an instance.
            UnknownHashError: ``instance_hash`` is not a phyper hash (e.g. a 0.x one).
            UnknownResourceError: the resource is not registered.
            ManifestError: no manifest there, or it is unreadable.
            ManifestMismatchError: the manifest's values hash to something else.
        """
        self._require_parser("load_instance_from_disk_by_hash()")
        return load_instance_by_hash(self, instance_hash, resource_name, skip_missing)

    def get_instances_from_df(self: P, df: Any) -> InstanceList[P]:
        """phyper 0.x: one instance per row of a pandas DataFrame (columns: hyperparameter names).

        Columns left out take their defaults (non-keys: with the ``PHYPER_NON_KEYS``
        overrides, as for a grid). The index is ignored, so the table of
        `get_df_of_instances` gives its instances back.

        Raises:
            ParserUsageError: called on an instance.
            GridValueError: ``df`` is not a DataFrame.
            UnknownHyperparameterError, HyperparameterTypeError, HyperparameterValueError:
                a column or a value is not valid.
            DuplicateInstanceError: two rows define the same instance (same full hash).
        """
        self._require_parser("get_instances_from_df()")
        if not callable(getattr(df, "to_dict", None)) or not hasattr(df, "columns"):
            raise GridValueError(
                f"get_instances_from_df() takes a pandas DataFrame with one column per hyperparameter, "
                f"got {type(df).__name__}; for a dict of lists use get_instances_from_dictionary()"
            )
        start = self._defaults_with_overrides(None)
        made: InstanceList[P] = InstanceList()
        rows_by_hash: dict[str, int] = {}
        for row, record in enumerate(df.to_dict("records")):
            instance = self._with_values(start, {str(name): value for name, value in record.items()})
            full_hash = instance.get_instance_hash()
            if full_hash in rows_by_hash:
                raise DuplicateInstanceError(
                    f"rows {rows_by_hash[full_hash]} and {row} of the data frame define the same "
                    f"instance (hash {full_hash}): they repeat a row or differ only in non-keys; "
                    "drop the duplicates (df.drop_duplicates())"
                )
            rows_by_hash[full_hash] = row
            made.append(instance)
        return made

    def migrate_phyper0_folders(self, instances: Sequence[ParserModel], *, dry_run: bool = False) -> list[tuple[str, str]]:
        """Carry phyper 0.x results over: rename the folders 0.x made for ``instances``.

        phyper 0.x named each folder by a 64-digit hash of its own; for every instance
        and resource, the 0.x folder found under this parser's ``hashed_resources_folder``
        is renamed to the phyper folder and gets its manifest. Every move is checked
        before any is made; ``dry_run`` only lists them. Returns the (old, new) pairs.

        Raises:
            ParserUsageError: called on an instance.
            ManifestMismatchError: a folder's ``instance_info.json`` disagrees with its
                name, or a target already holds results.
        """
        self._require_parser("migrate_phyper0_folders()")
        return migrate_phyper0_folders(instances, dry_run)

    get_resources = staticmethod(get_resources)
    get_df_of_instances = staticmethod(get_df_of_instances)
    describe_instance_from_hash = staticmethod(describe_instance_from_hash)

    @staticmethod
    def snakemake_helper_log_hyperparameters(instances: Sequence[ParserModel]) -> list[str]:
        """phyper 0.x: record the hyperparameters behind every hashed folder of the instances.

        Writes the same manifests as `generate_instance_info_files` (one per
        distinct folder, each the values of that folder only); returns their paths.

        Raises:
            ParserUsageError: ``instances`` is not a list of instances.
            ManifestMismatchError: a folder holds the manifest of other values.
        """
        return write_manifests(instances, "snakemake_helper_log_hyperparameters()")

    @staticmethod
    def snakemake_helper_get_wildcarded_path(
        path_function: Callable[[Any], str | os.PathLike[str]],
        instance: ParserModel,
        resource_name: str | None = None,
        *,
        wildcard: str | None = None,
    ) -> str:
        """The path of ``instance`` with its hash replaced by a wildcard, for a Snakemake rule.

        As in phyper 0.x's Snakefile,

        ```python
        output: Instance.snakemake_helper_get_wildcarded_path(
            get_transformed_dataset_path, instances[0], resource_name='transformed_data')
        ```

        gives ``derived_data/transformed_data/{transformed_data_hash}/transformed_data.npy``.
        The wildcard is ``{<resource_name>_hash}`` for a resource and ``{hash}`` for the
        full instance, unless ``wildcard`` names another. Pure string work: no engine is
        imported and nothing is created.

        Raises:
            PipelineDefinitionError: the path does not contain the hash, ``path_function``
                is not callable, or ``wildcard`` is not a name.
            ParserUsageError: ``instance`` is not an instance.
            UnknownResourceError: the resource is not registered.
        """
        return wildcarded_path(path_function, instance, resource_name, wildcard)
