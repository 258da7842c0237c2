"""Every number an Iris run produced, to compare runs (engines, schedulers, crashes).

Kept apart from ``engines.py``: it imports h5py, numpy and torch, which the core-only
test environment does not have.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import torch


def hdf5_values(path: Path) -> dict[str, float]:
    """Every scalar dataset of an HDF5 file, by its path in the file."""
    values: dict[str, float] = {}
    with h5py.File(path, "r") as f5:
        f5.visititems(lambda name, item: values.__setitem__(name, float(item[()])) if isinstance(item, h5py.Dataset) else None)
    return values


def numbers(project: Path) -> dict[str, object]:
    """Every number the pipeline produced: metrics, weights, data, scores, the best model."""
    root = project / "derived_data"
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*.hdf5")):
        found[str(path.relative_to(root))] = hdf5_values(path)
    for path in sorted(root.rglob("*.torch")):
        state = torch.load(path, weights_only=True)
        found[str(path.relative_to(root))] = {name: tensor.tolist() for name, tensor in state.items()}
    for path in sorted(root.rglob("*.npy")):
        found[str(path.relative_to(root))] = np.load(path).tolist()
    found["scores"] = (root / "results" / "cross_validation_scores.csv").read_text()
    found["best"] = json.loads((root / "results" / "best_model" / "test_results.json").read_text())
    return found
