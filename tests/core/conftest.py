from __future__ import annotations

from pathlib import Path

import pytest

import phyper
from core_support import GRID, Instance, make_parser


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes several seconds; still runs in CI, never skipped")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A hashed_resources_folder that does not exist yet."""
    return tmp_path / "derived_data"


@pytest.fixture
def parser(folder: Path) -> Instance:
    return make_parser(folder)


@pytest.fixture
def instances(parser: Instance) -> phyper.InstanceList[Instance]:
    return parser.get_instances_from_dictionary(GRID)
