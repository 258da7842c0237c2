"""The hash format: a stable, typed, versioned encoding of key values.

Format version 1 (documented in ``HASHING.md`` beside this package; never edit it,
add a version instead). The pre-image of a hash is:

```text
b"phyper-hash:1\\n" + item(name_1, value_1) + item(name_2, value_2) + ...
```

over the (name, value) pairs sorted by name (Python ``str`` order of the NFC names),
leaving out pairs whose value is ``None`` (so that a new key declared with the
default ``None`` keeps every existing hash). ``item(name, value)`` is
``string(name) + value(value)`` where each token is self-delimiting:

===========  ==========================================  ====================
value        encoding                                    example
===========  ==========================================  ====================
``str``      ``s<len of UTF-8 bytes>:<UTF-8 bytes>``     ``'ab'`` -> ``s2:ab``
``int``      ``i<decimal>;``                             ``-3`` -> ``i-3;``
``float``    ``f<float.hex()>;``                         ``1.0`` -> ``f0x1.0000000000000p+0;``
``bool``     ``T`` or ``F``
===========  ==========================================  ====================

The hash is the first 32 lowercase hex digits (128 bits) of SHA-256 of the
pre-image. Values are normalised to their hyperparameter's type before they get
here (see ``_types.py``); this module refuses anything it does not know.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from typing import Any

from phyper._errors import HyperparameterValueError, UnsupportedValueError

__all__ = [
    "HASH_FORMAT_VERSION",
    "HASH_HEX_DIGITS",
    "HASH_PATTERN",
    "PREFIX",
    "decode_preimage",
    "digest",
    "encode_item",
    "encode_preimage",
    "encode_value",
    "hash_key_values",
]

HASH_FORMAT_VERSION = 1
HASH_HEX_DIGITS = 32
HASH_PATTERN = f"[0-9a-f]{{{HASH_HEX_DIGITS}}}"
PREFIX = b"phyper-hash:1\n"

_HASH_RE = re.compile(HASH_PATTERN)


def is_hash(text: str) -> bool:
    """Whether ``text`` has the shape of a phyper hash (32 lowercase hex digits)."""
    return _HASH_RE.fullmatch(text) is not None


def _encode_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return b"s%d:%s" % (len(data), data)


def encode_value(name: str, value: Any) -> bytes:
    """Encode one normalised value; ``name`` is only used in error messages."""
    # bool before int: True is an int in Python but a different value here
    if value is True:
        return b"T"
    if value is False:
        return b"F"
    kind = type(value)
    if kind is int:
        return b"i%d;" % value
    if kind is float:
        if math.isnan(value):
            raise HyperparameterValueError(f"hyperparameter `{name}` is NaN, which cannot be hashed")
        text: str = (value + 0.0).hex()
        return b"f" + text.encode("ascii") + b";"
    if kind is str:
        return _encode_string(value)
    raise UnsupportedValueError(
        f"hyperparameter `{name}` has {value!r} (a {kind.__name__}), which has no stable "
        "encoding; use bool, int, float or str"
    )


def encode_item(name: str, value: Any) -> bytes:
    """Encode one (name, value) pair; ``None`` encodes to nothing (left out)."""
    if value is None:
        return b""
    return _encode_string(name) + encode_value(name, value)


def encode_preimage(key_values: Mapping[str, Any]) -> bytes:
    """The full pre-image for a mapping of normalised key values."""
    return PREFIX + b"".join(encode_item(name, key_values[name]) for name in sorted(key_values))


def digest(preimage: bytes) -> str:
    """The hash of a pre-image: 32 lowercase hex digits of its SHA-256."""
    return hashlib.sha256(preimage).hexdigest()[:HASH_HEX_DIGITS]


def hash_key_values(key_values: Mapping[str, Any]) -> str:
    """Hash a mapping of normalised key values (names sorted, ``None`` left out)."""
    return digest(encode_preimage(key_values))


def decode_preimage(preimage: bytes) -> dict[str, Any]:
    """Decode a pre-image back into its (name, value) mapping (the inverse of encoding)."""
    if not preimage.startswith(PREFIX):
        raise ValueError("not a phyper format-1 pre-image")
    position = len(PREFIX)
    decoded: dict[str, Any] = {}

    def read_string(at: int) -> tuple[str, int]:
        colon = preimage.index(b":", at)
        length = int(preimage[at + 1 : colon])
        end = colon + 1 + length
        return preimage[colon + 1 : end].decode("utf-8"), end

    while position < len(preimage):
        if preimage[position : position + 1] != b"s":
            raise ValueError(f"expected a name at byte {position}")
        name, position = read_string(position)
        tag = preimage[position : position + 1]
        if tag in (b"T", b"F"):
            decoded[name] = tag == b"T"
            position += 1
        elif tag in (b"i", b"f"):
            end = preimage.index(b";", position)
            text = preimage[position + 1 : end].decode("ascii")
            decoded[name] = int(text) if tag == b"i" else float.fromhex(text)
            position = end + 1
        elif tag == b"s":
            decoded[name], position = read_string(position)
        else:
            raise ValueError(f"unknown tag {tag!r} at byte {position}")
    return decoded
