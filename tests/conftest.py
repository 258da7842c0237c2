"""Shared fixtures: the ``backend`` parameter runs one test body on every engine."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engines import BACKENDS


def backend_params() -> list[object]:
    return [pytest.param(name, marks=getattr(pytest.mark, name), id=name) for name in BACKENDS]


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    """The name of an engine: each test using it runs once per engine."""
    return str(request.param)


PROJECT_MODULES = ("config", "paths", "pipeline", "dataset", "model", "train", "score_models", "best_model", "plots")
"""Top-level module names of the example and the toy project (they clash with each other)."""


@pytest.fixture
def import_project(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Make a project folder importable and current; its modules are forgotten afterwards."""
    saved = {name: sys.modules.pop(name) for name in PROJECT_MODULES if name in sys.modules}

    def load(project: Path) -> None:
        monkeypatch.chdir(project)
        monkeypatch.syspath_prepend(str(project))

    yield load
    for name in PROJECT_MODULES:
        sys.modules.pop(name, None)
    sys.modules.update(saved)
