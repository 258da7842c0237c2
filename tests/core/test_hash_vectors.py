"""Hash format 1: pinned test vectors, written by hand from ``_hashing.py``'s docstring
(and ``packages/phyper-core/HASHING.md``).

Each pre-image below is typed out from the documented format, never produced by
phyper; each pinned hash was computed once with ``hashlib.sha256`` on those bytes.
These vectors must never be edited: a different encoding is a new format version.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Any, Literal, Optional

import pytest

import phyper
from core_support import IRIS_CONFIG, RESOURCES, make_parser, run_python
from phyper._model import hashing as _hashing

PREFIX = b"phyper-hash:1\n"

# (id, normalised key values, hand-written pre-image, pinned hash)
VECTORS: list[tuple[str, dict[str, Any], bytes, str]] = [
    ("empty", {}, PREFIX, "1dee36cce5640388e461d4a76e41b539"),
    ("str", {"a": "ab"}, PREFIX + b"s1:a" + b"s2:ab", "2e2bcec7ca5c05059b94480bc2e8b527"),
    ("str_empty", {"a": ""}, PREFIX + b"s1:a" + b"s0:", "f6660a9510d4537a2f7487eacef958a8"),
    # U+00E9 is 2 bytes in UTF-8: the length counts bytes
    ("unicode", {"word": "caf\u00e9"}, PREFIX + b"s4:word" + b"s5:caf\xc3\xa9", "b0c76b5fd942554b25ba737dd9ebbd65"),
    ("int", {"n": 3}, PREFIX + b"s1:n" + b"i3;", "08c61d1ae7041cf0f474f2ca0536ad33"),
    ("int_negative", {"n": -42}, PREFIX + b"s1:n" + b"i-42;", "09664e89dcf82fc1d93ed4563731b395"),
    (
        "int_big",
        {"n": 10**30},
        PREFIX + b"s1:n" + b"i1000000000000000000000000000000;",
        "1f67d201ca245d8e99eab213fb78a3c7",
    ),
    ("float_one", {"x": 1.0}, PREFIX + b"s1:x" + b"f0x1.0000000000000p+0;", "31104da527a7e0eeaf3aa3d6a3381693"),
    ("float_tenth", {"x": 0.1}, PREFIX + b"s1:x" + b"f0x1.999999999999ap-4;", "76682ed5d60eec9fedbe75b5407d4ac3"),
    ("float_zero", {"x": 0.0}, PREFIX + b"s1:x" + b"f0x0.0p+0;", "77975256126ac254112f203262769b1f"),
    ("float_minus_zero", {"x": -0.0}, PREFIX + b"s1:x" + b"f0x0.0p+0;", "77975256126ac254112f203262769b1f"),
    ("float_inf", {"x": float("inf")}, PREFIX + b"s1:x" + b"finf;", "eb911641ae04dce2d6369234e6ac0ab4"),
    ("float_minus_inf", {"x": float("-inf")}, PREFIX + b"s1:x" + b"f-inf;", "187938668b3ea4ab2706bcc95320aa31"),
    ("bool_true", {"x": True}, PREFIX + b"s1:x" + b"T", "28596b8f3d314970ad81082b7422774f"),
    ("bool_false", {"x": False}, PREFIX + b"s1:x" + b"F", "e3033aaeabe69ddc679d8107b57cb5a5"),
    ("str_one", {"x": "1"}, PREFIX + b"s1:x" + b"s1:1", "df58f8e0ae0f424dc12e5536fe77b0b9"),
    ("int_one", {"x": 1}, PREFIX + b"s1:x" + b"i1;", "19289ac31e03998867957dc2eda8aaf4"),
    ("none_omitted", {"a": None, "b": 1}, PREFIX + b"s1:b" + b"i1;", "a49f7ab99b5702df3cc8d13fc2f5b972"),
    ("none_only", {"a": None}, PREFIX, "1dee36cce5640388e461d4a76e41b539"),
    # sorted by code point: "B" < "a" < "aa" < "b"
    (
        "ordering",
        {"b": 1, "a": 2, "B": 3, "aa": 4},
        PREFIX + b"s1:Bi3;" + b"s1:ai2;" + b"s2:aai4;" + b"s1:bi1;",
        "0c73bf7ee9681533a61fc61206f78c28",
    ),
    (
        "concat_left",
        {"a": "1b2", "b": "3"},
        PREFIX + b"s1:a" + b"s3:1b2" + b"s1:b" + b"s1:3",
        "02ba48483e86b3598b4963724b98214c",
    ),
    (
        "concat_right",
        {"a": "1", "b": "2b3"},
        PREFIX + b"s1:a" + b"s1:1" + b"s1:b" + b"s3:2b3",
        "b89a469c8bdd2edff41547b5ede880f0",
    ),
    (
        "iris_transformed_identity",
        {"transformation": "identity"},
        PREFIX + b"s14:transformation" + b"s8:identity",
        "8aa2ed0bff876e189b56e9daf38b079c",
    ),
    (
        "hashing_md_example",
        {"transformation": "log", "centering": True},
        PREFIX + b"s9:centering" + b"T" + b"s14:transformation" + b"s3:log",
        "85a8d1b4d19de4adc7478117ac4130fb",
    ),
    (
        "iris_full_first",
        {"seed": 0, "n_hidden_layers": 1, "cv_k": 5, "cv_fold": 0, "transformation": "identity", "centering": True},
        PREFIX
        + b"s9:centeringT"
        + b"s7:cv_foldi0;"
        + b"s4:cv_ki5;"
        + b"s15:n_hidden_layersi1;"
        + b"s4:seedi0;"
        + b"s14:transformations8:identity",
        "5ba479e781bad6aa4f8c8182151ecc24",
    ),
]
PINNED = {case_id: pinned for case_id, _, _, pinned in VECTORS}
VECTOR_IDS = [case[0] for case in VECTORS]


@pytest.mark.parametrize(("case_id", "values", "preimage", "pinned"), VECTORS, ids=VECTOR_IDS)
def test_preimage_is_the_documented_bytes(case_id: str, values: dict[str, Any], preimage: bytes, pinned: str) -> None:
    assert preimage == _hashing.encode_preimage(values)


@pytest.mark.parametrize(("case_id", "values", "preimage", "pinned"), VECTORS, ids=VECTOR_IDS)
def test_hash_is_sha256_of_the_preimage_and_pinned(
    case_id: str, values: dict[str, Any], preimage: bytes, pinned: str
) -> None:
    assert hashlib.sha256(preimage).hexdigest()[:32] == phyper.hash_key_values(values)
    assert pinned == phyper.hash_key_values(values)


def test_format_constants() -> None:
    assert (1, 32, PREFIX) == (phyper.HASH_FORMAT_VERSION, phyper.HASH_HEX_DIGITS, _hashing.PREFIX)


def test_names_are_length_prefixed_so_name_and_value_cannot_trade_characters() -> None:
    assert PREFIX + b"s2:ab" + b"s1:c" == _hashing.encode_preimage({"ab": "c"})
    assert PREFIX + b"s1:a" + b"s2:bc" == _hashing.encode_preimage({"a": "bc"})
    assert phyper.hash_key_values({"ab": "c"}) != phyper.hash_key_values({"a": "bc"})


def test_one_one_point_zero_true_and_string_one_all_differ() -> None:
    hashes = [phyper.hash_key_values({"x": value}) for value in (1, 1.0, True, "1")]
    assert [PINNED["int_one"], PINNED["float_one"], PINNED["bool_true"], PINNED["str_one"]] == hashes
    assert 4 == len(set(hashes))


def test_seed_concatenation_collision_is_gone() -> None:
    left = phyper.hash_key_values({"a": "1b2", "b": "3"})
    right = phyper.hash_key_values({"a": "1", "b": "2b3"})
    assert (PINNED["concat_left"], PINNED["concat_right"]) == (left, right)
    assert left != right


def test_insertion_order_does_not_matter() -> None:
    items = [("b", 1), ("a", 2), ("B", 3), ("aa", 4)]
    preimages = {_hashing.encode_preimage(dict(order)) for order in itertools.permutations(items)}
    assert {PREFIX + b"s1:Bi3;s1:ai2;s2:aai4;s1:bi1;"} == preimages


# -- the same vectors through typed hyperparameters: values are normalised first ------


class Word(phyper.Parser):
    word = ""


class Real(phyper.Parser):
    x = 0.5


class Whole(phyper.Parser):
    n = 0


class Mixed(phyper.Parser):
    # equal in Python (1 == 1.0 == True), four different values for phyper
    x: Literal[1, 1.0, True, "1"] = 1  # type: ignore[valid-type]  # a float in a Literal: what phyper accepts


class OptionalPair(phyper.Parser):
    a: Optional[int] = None
    b = 0


def test_nfd_and_nfc_input_hash_the_same() -> None:
    parser = Word()
    nfd = parser.get_instance(word="cafe\u0301")
    nfc = parser.get_instance(word="caf\u00e9")
    assert ("caf\u00e9", "caf\u00e9") == (nfd.word, nfc.word)
    assert PINNED["unicode"] == nfd.get_instance_hash() == nfc.get_instance_hash()


@pytest.mark.parametrize(
    ("given", "case_id"),
    [(1, "float_one"), (1.0, "float_one"), (0.1, "float_tenth"), (-0.0, "float_zero"), (0, "float_zero"),
     (float("inf"), "float_inf"), (float("-inf"), "float_minus_inf")],
)
def test_float_hyperparameter_values_hash_as_pinned(given: Any, case_id: str) -> None:
    assert PINNED[case_id] == Real().get_instance(x=given).get_instance_hash()


def test_literal_of_equal_python_values_keeps_four_hashes_for_instances_and_resources() -> None:
    parser = Mixed()
    parser.register_new_resource("only_x", ["x"])
    instances = parser.get_instances_from_dictionary({"x": [1, 1.0, True, "1"]})
    expected = [PINNED["int_one"], PINNED["float_one"], PINNED["bool_true"], PINNED["str_one"]]
    assert expected == [instance.get_instance_hash() for instance in instances]
    assert expected == [instance.get_instance_hash("only_x") for instance in instances]
    assert expected == parser.get_instances_hashes(instances, "only_x")


def test_none_is_left_out_of_instance_hashes() -> None:
    parser = OptionalPair()
    assert PINNED["none_omitted"] == parser.get_instance(b=1).get_instance_hash()


def test_seed_grid_hashes_match_the_hand_written_vectors(instances: Any) -> None:
    first = instances[0]
    assert ("identity", True, 1, 0) == (first.transformation, first.centering, first.n_hidden_layers, first.cv_fold)
    assert PINNED["iris_full_first"] == first.get_instance_hash()
    assert PINNED["iris_transformed_identity"] == first.get_instance_hash("transformed_data")


# -- the same hashes in every process, whatever PYTHONHASHSEED ---------------------------

_HASHES_IN_SUBPROCESS = """
import json, runpy, sys
sys.path.insert(0, {tests!r})
import phyper
from test_hash_vectors import VECTORS
config = runpy.run_path({config!r})
instances = config["instances"]
print(json.dumps({{
    "vectors": [phyper.hash_key_values(values) for _, values, _, _ in VECTORS],
    "iris": [[instance.get_instance_hash(resource) for resource in {resources!r}] for instance in instances],
}}))
"""


def _hashes_here() -> dict[str, Any]:
    instances = make_parser().get_instances_from_dictionary(
        {"transformation": ["identity", "log", "square"], "centering": [True, False],
         "n_hidden_layers": [1, 2, 3], "cv_fold": list(range(5))}
    )
    return {
        "vectors": [pinned for _, _, _, pinned in VECTORS],
        "iris": [[instance.get_instance_hash(resource) for resource in (*RESOURCES, None)] for instance in instances],
    }


@pytest.mark.parametrize("hash_seed", ["0", "1", "12345", "random"])
def test_hashes_are_the_same_under_every_python_hash_seed(hash_seed: str, tmp_path: Path) -> None:
    code = _HASHES_IN_SUBPROCESS.format(
        tests=str(Path(__file__).parent), config=str(IRIS_CONFIG), resources=(*RESOURCES, None)
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    env.pop(phyper.NON_KEYS_ENVIRONMENT_VARIABLE, None)
    result = json.loads(run_python(code, env=env, cwd=tmp_path))
    expected = _hashes_here()
    assert expected == result
    assert 90 == len({row[-1] for row in result["iris"]})


def test_subprocess_really_gets_a_different_hash_seed(tmp_path: Path) -> None:
    # guards the test above: were PYTHONHASHSEED ignored, it would prove nothing
    code = "print(hash('phyper'))"
    seen = {run_python(code, env={**os.environ, "PYTHONHASHSEED": seed}, cwd=tmp_path) for seed in ("0", "1", "12345")}
    assert 3 == len(seen)
