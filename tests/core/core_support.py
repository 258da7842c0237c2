"""Shared by the core tests: the seed README's classes, resources and grid, and helpers.

``examples/iris/config.py`` is the same code run as a script; the tests that need the
file verbatim (fresh venv, hash seeds, no pandas) run that file instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import phyper

REPO_ROOT = Path(__file__).resolve().parents[2]
IRIS_CONFIG = REPO_ROOT / "examples" / "iris" / "config.py"
CORE_PACKAGE = REPO_ROOT / "packages" / "phyper-core"

RESOURCES = ("transformed_data", "preprocessed_data", "cross_validated_model")
# distinct hashes per resource on the seed grid, None being the full instance
DISTINCT_HASHES = {"transformed_data": 3, "preprocessed_data": 6, "cross_validated_model": 18, None: 90}

GRID = {
    "transformation": ["identity", "log", "square"],
    "centering": [True, False],
    "n_hidden_layers": [1, 2, 3],
    "cv_fold": list(range(5)),
}


class NonKeys:
    n_epochs = 2000
    batch_size = 32
    learning_rate = 0.001
    log_interval = 200


class Instance(phyper.Parser, NonKeys):
    seed = 0
    n_hidden_layers = 3
    # to implement a k-fold cross-validation approach
    cv_k = 5
    cv_fold = 0
    # possible values: 'identity' 'log', 'square'
    transformation = "identity"
    # subtracting the mean after transformation
    centering = False


def make_parser(folder: str | os.PathLike[str] = "derived_data") -> Instance:
    """The seed's parser with its three resources registered."""
    parser = Instance(hashed_resources_folder=folder)
    parser.register_new_resource(name="transformed_data", dependencies=["transformation"])
    parser.register_new_resource(name="preprocessed_data", dependencies=["transformation", "centering"])
    parser.register_new_resource(
        name="cross_validated_model",
        dependencies=parser.get_dependencies_for_resources("preprocessed_data") + ["n_hidden_layers"],
    )
    return parser


def run_python(
    code: str,
    *,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    python: str | os.PathLike[str] = sys.executable,
) -> str:
    """Run ``code`` in a fresh interpreter; return its stdout (fail with its stderr)."""
    completed = subprocess.run(
        [os.fspath(python), "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout
