"""Shared fixtures: the ``backend`` parameter runs one test body on every engine."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from engines import BACKENDS, IRIS, copy_project, run_engine

# No wall-clock limit on a property-based example: hypothesis' default deadline (200 ms)
# fails a test when a loaded CI machine is slow, which says nothing about the code.
settings.register_profile("phyper", deadline=None)
settings.load_profile("phyper")


def backend_params() -> list[object]:
    return [pytest.param(name, marks=getattr(pytest.mark, name), id=name) for name in BACKENDS]


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    """The name of an engine: each test using it runs once per engine."""
    return str(request.param)


PROJECT_MODULES = ("config", "helpers", "paths", "pipeline", "dataset", "model", "train", "score_models", "best_model", "plots")
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


IRIS_FEW_EPOCHS = {"PHYPER_NON_KEYS": "n_epochs=20,log_interval=5"}
_completed_iris: dict[str, Path] = {}


@pytest.fixture
def completed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The Iris example on which an engine ran the whole pipeline once, with few epochs.

    One run per engine for the whole test session (the integration and cluster suites
    share it): do not modify it, copy it.
    """

    def get(backend: str) -> Path:
        if backend not in _completed_iris:
            project = copy_project(IRIS, tmp_path_factory.mktemp(f"completed-{backend}") / "iris")
            run_engine(backend, project, **IRIS_FEW_EPOCHS)
            _completed_iris[backend] = project
        return _completed_iris[backend]

    return get
