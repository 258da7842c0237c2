"""Run-time overrides of non-key values (``PHYPER_NON_KEYS``), which never change a hash."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from phyper._errors import (
    HyperparameterTypeError,
    HyperparameterValueError,
    NonKeyOverrideError,
    UnknownHyperparameterError,
)
from phyper._model.schema import Schema

__all__ = ["NON_KEYS_ENVIRONMENT_VARIABLE", "parse_non_key_overrides", "resolve_non_key_overrides"]

NON_KEYS_ENVIRONMENT_VARIABLE = "PHYPER_NON_KEYS"
"""Environment variable with non-key overrides, e.g. ``"n_epochs=5,log_interval=1"``."""


def parse_non_key_overrides(schema: Schema, text: str) -> dict[str, Any]:
    """Parse ``"name=value,name=value"`` (commas or spaces) against the schema's types."""
    overrides: dict[str, Any] = {}
    for assignment in (part for part in re.split(r"[,\s]+", text.strip()) if part):
        name, equals, raw = assignment.partition("=")
        if not equals:
            raise NonKeyOverrideError(
                f"{NON_KEYS_ENVIRONMENT_VARIABLE}: `{assignment}` is not name=value "
                "(example: PHYPER_NON_KEYS='n_epochs=5,log_interval=1')"
            )
        try:
            position = schema.position(name, context=NON_KEYS_ENVIRONMENT_VARIABLE)
            overrides[name] = schema.hyperparameters[position].value_type.parse(name, raw)
        except (UnknownHyperparameterError, HyperparameterTypeError, HyperparameterValueError) as error:
            # a setting of the run, refused as every setting is (one line from status and both engines)
            raise NonKeyOverrideError(str(error)) from error
    return overrides


def resolve_non_key_overrides(schema: Schema, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate explicit overrides, or read them from the environment when None."""
    if overrides is None:
        text = os.environ.get(NON_KEYS_ENVIRONMENT_VARIABLE, "")
        resolved = parse_non_key_overrides(schema, text) if text.strip() else {}
    else:
        resolved = {name: schema.normalize(name, value) for name, value in overrides.items()}
    for name in resolved:
        if name not in schema.non_keys:
            raise NonKeyOverrideError(
                f"`{name}` is a key: overriding it would change every hash and is not what "
                "non-key overrides are for; put it in the grid instead"
            )
    return resolved
