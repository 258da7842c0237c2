"""The learning curves of every trained configuration, drawn with matplotlib only (Agg canvas, no display)."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import phyper
from config import Instance
from paths import get_learning_curves_path, get_training_metrics_path
from score_models import read_scores
from train import load_metrics

MAX_LABELLED = 10
"""Configurations named in the legend at most (the best ones); the others are drawn in grey, unlabelled."""


def plot_learning_curves(instances: Sequence[Instance]) -> None:
    """Validation accuracy against epochs, one line per configuration, the best in black (a dot at its budget).

    Each configuration is drawn from its model with the most epochs: a model trained to
    fewer epochs of the same configuration follows the same curve up to its last epoch.
    """
    scores = read_scores()
    longest = scores.sort_values(['n_epochs', 'hash'], ascending=[False, True]).drop_duplicates('configuration_hash')
    ranked = longest.set_index('configuration_hash').loc[scores['configuration_hash'].drop_duplicates()]
    figure = Figure(figsize=(10, 4.8), layout='constrained')
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for rank, (_, row) in enumerate(reversed(list(ranked.iterrows()))):
        instance = Instance.get_instance_from_hash(str(row['hash']), instances)
        epochs = load_metrics(get_training_metrics_path(instance))
        best = rank == len(ranked) - 1
        labelled = len(ranked) - rank <= MAX_LABELLED
        label = (f"lr={row['learning_rate']:.2g} width={row['width']} depth={row['depth']} "
                 f"dropout={row['dropout']:.2f}" if labelled else None)
        color = 'black' if best else (None if labelled else 'lightgrey')
        ax.plot([e['epoch'] for e in epochs], [e['eval_accuracy'] for e in epochs],
                color=color, linewidth=2.2 if best else 1.0, alpha=1.0 if best else 0.8,
                label=label, zorder=3 if best else (2 if labelled else 1))
    top = scores.iloc[0]
    ax.plot([top['n_epochs']], [top['validation_accuracy']], marker='o', markersize=8, color='black', linestyle='none',
            label=f"best model: {top['n_epochs']} epochs", zorder=4)
    ax.set_xlabel('epoch')
    ax.set_ylabel('validation accuracy')
    ax.set_title(f'{len(ranked)} configurations (best in black; grey: beyond the {MAX_LABELLED} best)'
                 if len(ranked) > MAX_LABELLED else f'{len(ranked)} configurations (best in black)')
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles[::-1], labels[::-1], fontsize=7, loc='center left', bbox_to_anchor=(1.01, 0.5))
    with phyper.atomic_output(get_learning_curves_path()) as temporary, open(temporary, 'wb') as handle:
        figure.savefig(handle, format='png', dpi=110, metadata={'Software': None})
