"""Fixtures of the continuation tests: the ladder project (a grid over ``n_epochs``), run by an engine."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import phyper
from engines import REPO, copy_project, run_engine

LADDER = REPO / "tests" / "fixtures" / "ladder"
LRS = (1, 2)
BUDGETS = (10, 30, 90)

_finished: dict[str, Path] = {}


def epochs_trained(project: Path) -> Counter[str]:
    """How many times each ``lr=<lr> epoch=<n>`` was trained (lines the step appends)."""
    path = project / "epochs.log"
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


def from_scratch(lr: int, n_epochs: int, data: int = 7) -> int:
    """The ladder's model after ``n_epochs`` trained in one go (the step's arithmetic, written again)."""
    state = 1
    for number in range(n_epochs):
        state = (state * 31 + lr * data + number) % 1_000_003
    return state


def models(project: Path) -> dict[tuple[int, int], dict[str, int]]:
    """(lr, n_epochs) -> the saved model of every result, read through the project's manifests."""
    found = {}
    for manifest in (project / "derived_data" / "all").glob(f"*/{phyper.MANIFEST_NAME}"):
        keys = json.loads(manifest.read_text())["key_values"]
        found[(keys["lr"], keys["n_epochs"])] = json.loads((manifest.parent / "model.json").read_text())
    return found


@pytest.fixture
def finished(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The ladder after ``snakemake -j8 all`` / ``doit -n 8`` (shared by the module: copy it)."""

    def get(backend: str) -> Path:
        if backend not in _finished:
            project = copy_project(LADDER, tmp_path_factory.mktemp(f"ladder-{backend}") / "ladder")
            run_engine(backend, project, jobs=8)
            _finished[backend] = project
        return _finished[backend]

    return get


@pytest.fixture
def ladder(backend: str, finished: Callable[[str], Path], tmp_path: Path) -> Path:
    """A copy of the finished ladder (file times kept) that a test may change."""
    return Path(shutil.copytree(finished(backend), tmp_path / "ladder", symlinks=True))
