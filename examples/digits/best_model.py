"""The final model: the best configuration on validation, retrained on training + validation and tested once."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import torch

import phyper
from config import Instance
from dataset import load_split
from paths import (
    get_best_model_checkpoint_path,
    get_best_model_epochs_log_path,
    get_best_model_test_results_path,
    get_best_model_training_metrics_path,
    get_validation_scores_path,
)
from score_models import read_scores
from train import evaluate, load_checkpoint, load_model, save_checkpoint, save_metrics, train


def train_best_model(instances: Sequence[Instance]) -> dict[str, Any]:
    """Retrain the best row of the validation scores on training + validation images and test it.

    The configuration, its budget (``n_epochs``) included, is trained from scratch on the
    training and validation images, then evaluated once on the test images, which
    nothing else ever saw. The checkpoint, the per-epoch metrics and the test results go
    to the ``best_model`` results folder.

    Returns:
        The test results written to ``get_best_model_test_results_path()``.
    """
    scores = read_scores()
    if scores.empty:
        raise RuntimeError(f'no validation scores in {get_validation_scores_path()}')
    best = scores.iloc[0]
    instance = Instance.get_instance_from_hash(str(best['hash']), instances)

    data = load_split(instance, train_also_on_validation_set=True)
    trained = train(instance, data, epochs_log_path=get_best_model_epochs_log_path())
    checkpoint_path = get_best_model_checkpoint_path()
    save_checkpoint(trained, checkpoint_path)
    save_metrics(trained['history'], get_best_model_training_metrics_path(), eval_set='test')

    # evaluate the model as saved on disk, on the CPU, on the test images only
    torch.set_num_threads(1)
    _, _, x_test, y_test = (torch.from_numpy(array) for array in data)
    test_loss, test_accuracy = evaluate(load_model(instance, load_checkpoint(checkpoint_path)), x_test, y_test)

    results = {
        'hash': str(best['hash']),
        'learning_rate': instance.learning_rate,
        'width': instance.width,
        'depth': instance.depth,
        'dropout': instance.dropout,
        'seed': instance.seed,
        'n_epochs': instance.n_epochs,
        'validation_accuracy': float(best['validation_accuracy']),
        'validation_loss': float(best['validation_loss']),
        'test_accuracy': test_accuracy,
        'test_loss': test_loss,
        'n_test_samples': len(y_test),
    }
    results_path = get_best_model_test_results_path()
    phyper.atomic_write_text(results_path, json.dumps(results, indent=2) + '\n')
    print(f"best configuration: learning_rate={instance.learning_rate:.3g} width={instance.width} "
          f"depth={instance.depth} dropout={instance.dropout:.3g} n_epochs={instance.n_epochs} ({best['hash']})")
    print(f'test accuracy: {test_accuracy:.4f} ({round(test_accuracy * len(y_test))}/{len(y_test)}), '
          f'test loss: {test_loss:.4f}')
    print(f'test results: {os.path.abspath(results_path)}')
    return results


if __name__ == '__main__':
    from config import instances

    train_best_model(instances)
