"""Shared fixtures: the ``backend`` parameter runs one test body on every engine."""

from __future__ import annotations

import pytest

from engines import BACKENDS


def backend_params() -> list[object]:
    return [pytest.param(name, marks=getattr(pytest.mark, name), id=name) for name in BACKENDS]


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    """The name of an engine: each test using it runs once per engine."""
    return str(request.param)
