"""Cross-validation scores: each configuration's last-epoch metrics averaged over its folds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import h5py
import pandas as pd

import phyper
from config import Instance, parser
from paths import get_cross_validation_scores_path, get_training_metrics_path
from train import get_last_epoch

SCORE_COLUMNS = ['cross_validated_model_hash', 'transformation', 'centering', 'n_hidden_layers',
                 'average_validation_loss', 'average_validation_accuracy']


def last_validation_metrics(instance: Instance) -> dict[str, float]:
    """The metrics loader for ``phyper.collect``: the last logged epoch's validation metrics."""
    with h5py.File(get_training_metrics_path(instance), 'r') as f5:
        metrics = f5[f'epoch{get_last_epoch(f5.keys())}']
        return {'validation_loss': float(metrics['validation_loss'][()]),
                'validation_accuracy': float(metrics['validation_accuracy'][()])}


def compute_score_for_each_model(instances: Sequence[Instance]) -> pd.DataFrame:
    """Average each cross-validated model's validation metrics over its ``cv_k`` folds.

    ``phyper.collect`` gives one row per trained instance with its hyperparameters, its
    ``cross_validated_model_hash`` and the metrics of ``last_validation_metrics``; the
    rows are grouped by that hash, whose instances must be exactly the ``cv_k`` folds
    ``0 .. cv_k - 1``. The table, sorted by ``average_validation_loss`` (then by hash),
    is written to ``get_cross_validation_scores_path()`` and returned.

    Raises:
        RuntimeError: a configuration does not have exactly one instance per fold.
    """
    # every model is trained when this runs (the engine ran the training first), whether
    # or not completion records exist: a hand-written Snakefile (examples/iris-seed-style)
    # keeps none, so the metrics are read for every row
    table = phyper.collect(instances, metrics=last_validation_metrics, skip_incomplete=False)
    dependencies = parser.get_dependencies_for_resources('cross_validated_model')
    rows: list[dict[str, Any]] = []
    for model_hash, folds in table.groupby('cross_validated_model_hash', sort=False):
        values = {name: folds[name].iloc[0] for name in dependencies}
        _check_folds(folds, values)
        rows.append({'cross_validated_model_hash': model_hash, **values,
                     'average_validation_loss': sum(folds['validation_loss']) / len(folds),
                     'average_validation_accuracy': sum(folds['validation_accuracy']) / len(folds)})
    scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    scores = scores.sort_values(['average_validation_loss', 'cross_validated_model_hash'], ignore_index=True)
    with phyper.atomic_output(get_cross_validation_scores_path()) as temporary:
        scores.to_csv(temporary, index=False)
    return scores


def _check_folds(folds: pd.DataFrame, values: dict[str, Any]) -> None:
    cv_ks = sorted({int(cv_k) for cv_k in folds['cv_k']})
    if len(cv_ks) != 1:
        raise RuntimeError(f'configuration {values} mixes instances with different cv_k: {cv_ks}')
    cv_k = cv_ks[0]
    cv_folds = sorted(int(cv_fold) for cv_fold in folds['cv_fold'])
    if cv_folds != list(range(cv_k)):
        raise RuntimeError(
            f'configuration {values} needs exactly one instance for each cv_fold in range({cv_k}), '
            f'got cv_fold values {cv_folds}: add the missing folds to the grid (or remove duplicates)')


if __name__ == '__main__':
    from config import instances

    print(compute_score_for_each_model(instances).to_string(index=False))
