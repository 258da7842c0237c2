"""The Iris data: transformation, centering and the fixed test / cross-validation splits.

Splits (independent of every hyperparameter but ``cv_k`` / ``cv_fold``):

* a fixed, stratified **test set** of 30 samples (20 %, 10 per class), drawn once with
  ``SPLIT_SEED``; it is never used to fit anything, neither the model nor the centering;
* the remaining 120 samples form the **development pool**, split into ``instance.cv_k``
  disjoint, stratified validation folds (seed ``CV_SEED``); fold ``instance.cv_fold``
  is the validation set and the other folds are the training set.

Both files written here hold a ``(150, 5)`` float64 array in the original sample order:
the four features, then the class label (0, 1, 2) in the last column.

This module needs only numpy (and scikit-learn, imported lazily, to load the data), so
the transformation and preprocessing jobs do not pay for importing torch; training code
converts the arrays returned by `load_split` itself.
"""

from __future__ import annotations

import numpy as np

import phyper
from config import Instance
from paths import get_preprocessed_dataset_path, get_transformed_dataset_path

SPLIT_SEED = 20240601
"""Seed of the fixed test split."""
CV_SEED = 20240602
"""Seed of the assignment of the development samples to cross-validation folds."""
N_TEST_PER_CLASS = 10
"""10 samples of each of the 3 classes: 30 test samples, 20 % of the 150."""

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def transform_data(instance: Instance) -> None:
    """Apply ``instance.transformation`` to the 150 Iris samples and save them with their labels."""
    from sklearn.datasets import load_iris  # lazy: only this step needs scikit-learn

    iris = load_iris()
    features = np.asarray(iris.data, dtype=np.float64)
    labels = np.asarray(iris.target, dtype=np.float64)
    if instance.transformation == 'identity':
        pass
    elif instance.transformation == 'log':
        features = np.log1p(features)
    elif instance.transformation == 'square':
        features = np.square(features)
    else:
        raise ValueError(f"unknown transformation {instance.transformation!r}: "
                         "expected 'identity', 'log' or 'square'")
    _save(get_transformed_dataset_path(instance), np.column_stack([features, labels]))


def preprocess_data(instance: Instance) -> None:
    """Center the transformed features if ``instance.centering``, then save them.

    The mean is an unsupervised statistic (no labels are used) computed on the 120
    samples of the development pool only: the test set never influences any fitted
    quantity. It is the same mean for every ``cv_fold`` (the preprocessed data is a
    resource shared by all folds), so validation samples do contribute to it; this is
    a label-free, per-feature shift of a tiny MLP's inputs, a negligible and common
    simplification that keeps one preprocessed file per (transformation, centering).
    """
    data = np.load(get_transformed_dataset_path(instance))
    if instance.centering:
        development = get_development_indices(data[:, -1])
        data[:, :-1] -= data[development, :-1].mean(axis=0)
    _save(get_preprocessed_dataset_path(instance), data)


def get_test_indices(labels: np.ndarray) -> np.ndarray:
    """The sorted indices of the 30 fixed test samples (stratified, 10 per class)."""
    return _fixed_split(labels)[0]


def get_development_indices(labels: np.ndarray) -> np.ndarray:
    """The sorted indices of the 120 development samples (all but the test set)."""
    return np.sort(np.concatenate(_fixed_split(labels)[1]))


def get_fold_indices(labels: np.ndarray, cv_k: int) -> list[np.ndarray]:
    """The development pool split into ``cv_k`` disjoint stratified folds (sorted indices).

    Each class's development samples are shuffled with ``CV_SEED`` and dealt round-robin
    to the folds, so every fold holds (almost) the same number of samples of each class.
    """
    per_class = _fixed_split(labels)[1]
    smallest = min(len(class_indices) for class_indices in per_class)
    if not 2 <= cv_k <= smallest:
        raise ValueError(f"cv_k must be between 2 and {smallest} (development samples per class), got {cv_k}")
    rng = np.random.default_rng(CV_SEED)
    folds: list[list[int]] = [[] for _ in range(cv_k)]
    for class_indices in per_class:
        for rank, index in enumerate(rng.permutation(class_indices)):
            folds[rank % cv_k].append(int(index))
    return [np.sort(np.array(fold, dtype=np.int64)) for fold in folds]


def load_split(instance: Instance, train_also_on_validation_set: bool = False) -> Split:
    """The preprocessed data as ``(x_train, y_train, x_eval, y_eval)`` numpy arrays.

    ``x`` arrays are float32 of shape (n, 4), ``y`` arrays int64 labels of shape (n,).
    By default train = the folds other than ``instance.cv_fold`` and eval = that
    validation fold. With ``train_also_on_validation_set=True``, train = the whole
    development pool (120 samples) and eval = the fixed test set (30 samples).
    """
    data = np.load(get_preprocessed_dataset_path(instance))
    labels = data[:, -1]
    if train_also_on_validation_set:
        train, evaluation = get_development_indices(labels), get_test_indices(labels)
    else:
        folds = get_fold_indices(labels, instance.cv_k)
        if not 0 <= instance.cv_fold < instance.cv_k:
            raise ValueError(f"cv_fold must be in range(cv_k={instance.cv_k}), got {instance.cv_fold}")
        evaluation = folds[instance.cv_fold]
        train = np.sort(np.concatenate([f for i, f in enumerate(folds) if i != instance.cv_fold]))
    if np.intersect1d(train, evaluation).size:  # cheap guard: never train on the eval set
        raise RuntimeError('training and evaluation samples overlap')

    def features_labels(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return data[indices, :-1].astype(np.float32), data[indices, -1].astype(np.int64)

    return (*features_labels(train), *features_labels(evaluation))


def _fixed_split(labels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(test indices, development indices of each class), from the labels and ``SPLIT_SEED``.

    The labels are the same in every data file, so the split is the same for all instances.
    """
    rng = np.random.default_rng(SPLIT_SEED)
    test: list[np.ndarray] = []
    development: list[np.ndarray] = []
    for label in range(3):
        shuffled = rng.permutation(np.flatnonzero(labels == label))
        test.append(shuffled[:N_TEST_PER_CLASS])
        development.append(np.sort(shuffled[N_TEST_PER_CLASS:]))
    return np.sort(np.concatenate(test)), development


def _save(path: str, array: np.ndarray) -> None:
    with phyper.atomic_output(path) as temporary:
        np.save(temporary, array)
