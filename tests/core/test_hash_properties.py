"""Property tests of the hash format: order-free, one-to-one, stable through manifests."""

from __future__ import annotations

import tempfile
from typing import Any, Literal, Optional

from hypothesis import given, settings
from hypothesis import strategies as st

import phyper
from core_support import GRID, make_parser
from phyper._model import hashing as _hashing

names = st.text(min_size=1, max_size=8)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
key_values = st.dictionaries(names, values, max_size=8)


def normalised(mapping: dict[str, Any]) -> dict[str, Any]:
    """What format 1 keeps of a mapping: None left out, -0.0 written as 0.0."""
    return {
        name: value + 0.0 if type(value) is float else value
        for name, value in mapping.items()
        if value is not None
    }


def exact(mapping: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """A comparison key that tells 1, 1.0, True and '1' (and -0.0 and 0.0) apart."""
    return {name: (type(value).__name__, repr(value)) for name, value in mapping.items()}


@given(st.data(), key_values)
def test_insertion_order_never_matters(data: st.DataObject, mapping: dict[str, Any]) -> None:
    shuffled = dict(data.draw(st.permutations(list(mapping.items()))))
    assert _hashing.encode_preimage(mapping) == _hashing.encode_preimage(shuffled)
    assert phyper.hash_key_values(mapping) == phyper.hash_key_values(shuffled)


@given(key_values)
def test_decoding_the_preimage_gives_back_the_normalised_values(mapping: dict[str, Any]) -> None:
    decoded = _hashing.decode_preimage(_hashing.encode_preimage(mapping))
    assert exact(normalised(mapping)) == exact(decoded)


@given(key_values, key_values)
def test_different_values_never_share_a_preimage(first: dict[str, Any], second: dict[str, Any]) -> None:
    same_values = exact(normalised(first)) == exact(normalised(second))
    assert same_values == (_hashing.encode_preimage(first) == _hashing.encode_preimage(second))


@given(key_values)
def test_manifest_json_round_trip_keeps_values_and_hash(mapping: dict[str, Any]) -> None:
    kept = {name: value + 0.0 if type(value) is float else value for name, value in mapping.items()}
    manifest = phyper.Manifest(
        resource="all",
        hash=phyper.hash_key_values(kept),
        key_values=kept,
        hash_format_version=phyper.HASH_FORMAT_VERSION,
    )
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/{phyper.MANIFEST_NAME}"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(manifest.to_json())
        read = phyper.read_manifest(path)
    assert exact(kept) == exact(read.key_values)
    assert manifest.hash == read.hash == phyper.hash_key_values(read.key_values)


class Typed(phyper.Parser):
    integer = 0
    real = 0.5
    flag = False
    text = ""
    maybe: Optional[float] = None
    choice: Literal["x", 1, 2.5, True] = "x"  # type: ignore[valid-type]  # a float in a Literal: what phyper accepts


typed_values = st.fixed_dictionaries(
    {
        "integer": st.integers(),
        "real": st.floats(allow_nan=False) | st.integers(min_value=-(2**53), max_value=2**53),
        "flag": st.booleans(),
        "text": st.text(max_size=12),
        "maybe": st.none() | st.floats(allow_nan=False),
        "choice": st.sampled_from(["x", 1, 2.5, True]),
    }
)


@settings(deadline=None, max_examples=60)
@given(typed_values)
def test_instance_manifest_round_trip_keeps_the_instance_and_its_hash(chosen: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        parser = Typed(hashed_resources_folder=folder)
        instance = parser.get_instance(**chosen)
        path = instance.write_manifest()
        read_back = parser.instance_from_manifest(path)
        assert instance.get_instance_hash() == read_back.get_instance_hash()
        assert exact(instance.to_dict()) == exact(read_back.to_dict())
        assert instance.get_instance_hash() == phyper.hash_key_values(phyper.read_manifest(path).key_values)


@settings(deadline=None, max_examples=40)
@given(st.data())
def test_grid_order_never_changes_an_instance_hash(data: st.DataObject) -> None:
    grid = {
        name: data.draw(st.lists(st.sampled_from(options), min_size=1, max_size=len(options), unique=True))
        for name, options in GRID.items()
    }
    reordered = dict(data.draw(st.permutations(list(grid.items()))))
    parser = make_parser()

    def hashes_by_values(grid: dict[str, list[Any]]) -> dict[tuple[Any, ...], tuple[str, ...]]:
        return {
            tuple(exact(instance.to_dict()).items()): tuple(
                instance.get_instance_hash(resource)
                for resource in (None, "transformed_data", "preprocessed_data", "cross_validated_model")
            )
            for instance in parser.get_instances_from_dictionary(grid)
        }

    assert hashes_by_values(grid) == hashes_by_values(reordered)
