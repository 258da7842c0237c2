"""The 8x8 digits: one fixed split and standardisation, shared by every model.

scikit-learn ships the data (`sklearn.datasets.load_digits`: 1,797 images of 8x8
pixels, 10 classes); nothing is downloaded. The split is drawn once with
``SPLIT_SEED``, stratified by class: 20 % **test** (never used to fit anything, only
to score the final model), 20 % **validation** (the search's objective) and the rest
**training**. Each pixel is standardised with the mean and standard deviation of the
training images only.

This module needs only numpy (and scikit-learn, imported lazily, to load the data), so
the preprocessing job does not pay for importing torch.
"""

from __future__ import annotations

import numpy as np

import phyper
from config import Instance
from paths import get_split_data_path

SPLIT_SEED = 20240603
"""Seed of the fixed stratified split into training, validation and test images."""
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.2
N_FEATURES = 64
N_CLASSES = 10

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""``(x_train, y_train, x_eval, y_eval)``: float32 features of shape (n, 64), int64 labels."""


def split_data(instance: Instance) -> None:
    """Split the digits, standardise them with the training statistics and save them once."""
    from sklearn.datasets import load_digits  # lazy: only this step needs scikit-learn

    digits = load_digits()
    features = np.asarray(digits.data, dtype=np.float64)
    labels = np.asarray(digits.target, dtype=np.int64)
    train, validation, test = split_indices(labels)
    mean = features[train].mean(axis=0)
    std = features[train].std(axis=0)
    std[std == 0] = 1.0  # border pixels that are always 0 in the training images stay 0
    standardised = ((features - mean) / std).astype(np.float32)
    arrays = {}
    for name, indices in [('train', train), ('validation', validation), ('test', test)]:
        arrays[f'x_{name}'] = standardised[indices]
        arrays[f'y_{name}'] = labels[indices]
    with phyper.atomic_output(get_split_data_path(instance)) as temporary, open(temporary, 'wb') as handle:
        np.savez(handle, mean=mean, std=std, **arrays)


def split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted (training, validation, test) indices: each class dealt out in the same proportions."""
    rng = np.random.default_rng(SPLIT_SEED)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for label in range(N_CLASSES):
        shuffled = rng.permutation(np.flatnonzero(labels == label))
        n_test = round(TEST_FRACTION * len(shuffled))
        n_validation = round(VALIDATION_FRACTION * len(shuffled))
        parts[2].append(shuffled[:n_test])
        parts[1].append(shuffled[n_test:n_test + n_validation])
        parts[0].append(shuffled[n_test + n_validation:])
    train, validation, test = (np.sort(np.concatenate(part)) for part in parts)
    return train, validation, test


def load_split(instance: Instance, train_also_on_validation_set: bool = False) -> Split:
    """``(x_train, y_train, x_eval, y_eval)`` from the saved split.

    By default the model trains on the training images and is evaluated on the
    validation images; with ``train_also_on_validation_set=True`` it trains on both and
    is evaluated on the test images (the final model only).
    """
    with np.load(get_split_data_path(instance)) as saved:
        if not train_also_on_validation_set:
            return saved['x_train'], saved['y_train'], saved['x_validation'], saved['y_validation']
        return (np.concatenate([saved['x_train'], saved['x_validation']]),
                np.concatenate([saved['y_train'], saved['y_validation']]),
                saved['x_test'], saved['y_test'])
