"""The final model: the best cross-validated configuration, retrained and tested once."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

import phyper
from config import Instance
from dataset import load_split
from paths import (
    get_best_model_test_results_path,
    get_best_model_torch_model_path,
    get_best_model_training_metrics_path,
    get_cross_validation_scores_path,
)
from train import evaluate, load_model, train


def train_best_model(instances: Sequence[Instance]) -> dict[str, Any]:
    """Retrain the configuration with the lowest average validation loss and test it.

    The best row of the cross-validation scores (ties broken by the smaller hash) names a
    ``cross_validated_model``; one of its instances is retrained on the whole development
    pool (training + validation folds) and evaluated once on the held-out test set. The
    model, its metrics and a JSON summary go to the ``best_model`` results folder.

    Returns:
        The test results written to ``get_best_model_test_results_path()``.
    """
    # read hashes as text: an all-digit hash must not become a number
    scores = pd.read_csv(get_cross_validation_scores_path(), dtype={'cross_validated_model_hash': str})
    if scores.empty:
        raise RuntimeError(f'no cross-validation scores in {get_cross_validation_scores_path()}')
    best = scores.sort_values(['average_validation_loss', 'cross_validated_model_hash']).iloc[0]
    best_hash = str(best['cross_validated_model_hash'])
    instance = Instance.get_instance_from_hash(best_hash, instances, resource_name='cross_validated_model')

    model_path = get_best_model_torch_model_path()
    train(instance, train_also_on_validation_set=True,
          model_path=model_path, metrics_path=get_best_model_training_metrics_path())

    # evaluate the model as saved on disk, on the test set only
    torch.set_num_threads(1)
    _, _, x_test, y_test = (torch.from_numpy(a) for a in load_split(instance, train_also_on_validation_set=True))
    test_loss, test_accuracy = evaluate(load_model(instance, model_path), x_test, y_test)

    results = {
        'cross_validated_model_hash': best_hash,
        'transformation': instance.transformation,
        'centering': instance.centering,
        'n_hidden_layers': instance.n_hidden_layers,
        'average_validation_loss': float(best['average_validation_loss']),
        'average_validation_accuracy': float(best['average_validation_accuracy']),
        'test_loss': test_loss,
        'test_accuracy': test_accuracy,
        'n_test_samples': len(y_test),
        'n_epochs': instance.n_epochs,
    }
    results_path = get_best_model_test_results_path()
    phyper.atomic_write_text(results_path, json.dumps(results, indent=2) + '\n')

    print(f'best configuration: transformation={instance.transformation}, centering={instance.centering}, '
          f'n_hidden_layers={instance.n_hidden_layers} (cross_validated_model {best_hash})')
    print(f'test accuracy: {test_accuracy:.4f} ({round(test_accuracy * len(y_test))}/{len(y_test)}), '
          f'test loss: {test_loss:.4f}')
    for label, path in [('test results', results_path), ('model', model_path),
                        ('training metrics', get_best_model_training_metrics_path()),
                        ('cross-validation scores', get_cross_validation_scores_path())]:
        print(f'{label}: {os.path.abspath(path)}')
    return results


if __name__ == '__main__':
    from config import instances

    train_best_model(instances)
