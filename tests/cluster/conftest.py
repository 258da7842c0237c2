"""The SLURM tests' fixture: skip without SLURM on a developer's machine, fail in CI."""

from __future__ import annotations

import os

import pytest
from slurm_support import slurm_problem


@pytest.fixture(scope="module")
def slurm() -> None:
    """Skip without SLURM on a developer's machine; in CI (``CI`` set) that is a failure."""
    problem = slurm_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but SLURM cannot run jobs: {problem}")
        pytest.skip(problem)
