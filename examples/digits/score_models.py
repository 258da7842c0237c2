"""Validation scores: each trained model's last-epoch metrics, best first."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

import phyper
from config import Instance
from paths import get_training_metrics_path, get_validation_scores_path
from train import load_metrics

KEYS = ['learning_rate', 'width', 'depth', 'dropout', 'seed', 'n_epochs']
SCORE_COLUMNS = ['hash', 'configuration_hash', *KEYS, 'validation_loss', 'validation_accuracy']


def last_validation_metrics(instance: Instance) -> dict[str, float]:
    """The metrics loader of the pipeline: the last epoch's validation loss and accuracy."""
    last = load_metrics(get_training_metrics_path(instance))[-1]
    return {'validation_loss': last['eval_loss'], 'validation_accuracy': last['eval_accuracy']}


def compute_scores(instances: Sequence[Instance]) -> pd.DataFrame:
    """One row per trained model (grid and search trials), the best first; written to CSV.

    Best: the highest validation accuracy, then the lowest validation loss, then the
    smaller hash (so ties are broken the same way on every run).
    """
    # the engine ran every training before this aggregate (its inputs): every row is read
    table = phyper.collect(instances, metrics=last_validation_metrics, skip_incomplete=False)
    scores = table[SCORE_COLUMNS].sort_values(
        ['validation_accuracy', 'validation_loss', 'hash'], ascending=[False, True, True], ignore_index=True)
    with phyper.atomic_output(get_validation_scores_path()) as temporary:
        scores.to_csv(temporary, index=False)
    return scores


def read_scores() -> pd.DataFrame:
    """The table `compute_scores` wrote (hashes read as text: an all-digit hash must stay one)."""
    return pd.read_csv(get_validation_scores_path(), dtype={'hash': str, 'configuration_hash': str})


if __name__ == '__main__':
    from config import instances

    print(compute_scores(instances).to_string(index=False))
