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


def compute_score_for_each_model(instances: Sequence[Instance]) -> pd.DataFrame:
    """Average each cross-validated model's validation metrics over its ``cv_k`` folds.

    One row per distinct ``cross_validated_model`` (the projection of the instances on
    that resource's dependencies); its instances must be exactly the ``cv_k`` folds
    ``0 .. cv_k - 1``. The table, sorted by ``average_validation_loss`` (then by hash),
    is written to ``get_cross_validation_scores_path()`` and returned.

    Raises:
        RuntimeError: a configuration does not have exactly one instance per fold.
    """
    dependencies = parser.get_dependencies_for_resources('cross_validated_model')
    projections = Instance.get_projections(instances, dependencies)
    rows: list[dict[str, Any]] = []
    for model_hash, values in zip(projections.index, projections.to_dict('records')):
        folds = Instance.get_filtered_instances(instances, values)
        _check_folds(folds, values)
        losses, accuracies = zip(*(_last_validation_metrics(instance) for instance in folds))
        rows.append({'cross_validated_model_hash': model_hash, **values,
                     'average_validation_loss': sum(losses) / len(losses),
                     'average_validation_accuracy': sum(accuracies) / len(accuracies)})
    scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    scores = scores.sort_values(['average_validation_loss', 'cross_validated_model_hash'], ignore_index=True)
    with phyper.atomic_output(get_cross_validation_scores_path()) as temporary:
        scores.to_csv(temporary, index=False)
    return scores


def _check_folds(folds: Sequence[Instance], values: dict[str, Any]) -> None:
    cv_ks = {instance.cv_k for instance in folds}
    if len(cv_ks) != 1:
        raise RuntimeError(f'configuration {values} mixes instances with different cv_k: {sorted(cv_ks)}')
    cv_k = cv_ks.pop()
    cv_folds = sorted(instance.cv_fold for instance in folds)
    if cv_folds != list(range(cv_k)):
        raise RuntimeError(
            f'configuration {values} needs exactly one instance for each cv_fold in range({cv_k}), '
            f'got cv_fold values {cv_folds}: add the missing folds to the grid (or remove duplicates)')


def _last_validation_metrics(instance: Instance) -> tuple[float, float]:
    """(validation_loss, validation_accuracy) of the last logged epoch of an instance."""
    with h5py.File(get_training_metrics_path(instance), 'r') as f5:
        metrics = f5[f'epoch{get_last_epoch(f5.keys())}']
        return float(metrics['validation_loss'][()]), float(metrics['validation_accuracy'][()])


if __name__ == '__main__':
    from config import instances

    print(compute_score_for_each_model(instances).to_string(index=False))
