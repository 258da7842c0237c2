"""Figures of the Iris example, drawn with matplotlib only (Agg canvas, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

BAND = 0.7
"""Fraction of a category's slot that its lines fan out over."""


def parallel_categories_figure(df: pd.DataFrame, dimensions: Sequence[str], color: str,
                               cmap: str = 'viridis') -> Figure:
    """A parallel-categories plot: one line per row of ``df``, coloured by ``df[color]``.

    Each column in ``dimensions`` is a categorical vertical axis (its categories spread
    evenly, labelled; the lines crossing one category fan out inside its slot, ordered by
    colour value); a last, numeric axis shows ``df[color]`` itself. Best rows (highest
    ``color``) are drawn on top.

    The figure has its own Agg canvas and does not touch pyplot's global state, so it
    works headless; save it with ``figure.savefig(path)``.
    """
    if df.empty:
        raise ValueError('cannot plot an empty DataFrame')
    values = df[color].to_numpy(dtype=float)
    low, high = float(np.min(values)), float(np.max(values))
    norm = Normalize(vmin=low, vmax=high if high > low else low + 1e-9)
    colormap = ScalarMappable(norm=norm, cmap=cmap)

    figure = Figure(figsize=(2.2 * (len(dimensions) + 1) + 1.5, 4.8), layout='constrained')
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()

    # y coordinate (in [0, 1]) of every row on every axis
    order = np.argsort(values, kind='stable')
    ys = np.empty((len(df), len(dimensions) + 1))
    for column, name in enumerate(dimensions):
        categories = _sorted_categories(df[name])
        slot = 1.0 / len(categories)
        for j, category in enumerate(categories):
            centre = 1.0 - (j + 0.5) * slot
            members = [row for row in order if df[name].iloc[row] == category]
            for rank, row in enumerate(members):
                offset = (rank + 0.5) / len(members) - 0.5 if len(members) > 1 else 0.0
                ys[row, column] = centre + offset * BAND * slot
            ax.text(column - 0.04, centre, str(category), ha='right', va='center', fontsize=9,
                    bbox={'boxstyle': 'round,pad=0.2', 'facecolor': 'white', 'edgecolor': '0.7'})
    ys[:, -1] = (values - low) / (high - low) if high > low else 0.5

    xs = np.arange(len(dimensions) + 1)
    for row in order:  # ascending colour: the best lines end up on top
        ax.plot(xs, ys[row], color=colormap.to_rgba(values[row]), linewidth=2, alpha=0.85)

    for x in xs:
        ax.axvline(float(x), color='black', linewidth=1)
    for tick in np.linspace(0, 1, 5):
        ax.text(xs[-1] + 0.04, tick, f'{low + tick * (high - low):.3f}', ha='left', va='center', fontsize=8)
    ax.set_xticks(xs, [*dimensions, color])
    ax.xaxis.tick_top()
    ax.set_xlim(-0.6, xs[-1] + 0.45)
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([])
    for side in ('left', 'right', 'top', 'bottom'):
        ax.spines[side].set_visible(False)
    figure.colorbar(colormap, ax=ax, label=color, shrink=0.8)
    return figure


def _sorted_categories(column: pd.Series) -> list[Any]:
    """The distinct values of a column, in natural order when comparable."""
    unique = list(pd.unique(column))
    try:
        return sorted(unique)
    except TypeError:
        return sorted(unique, key=str)


def plot_cross_validation_scores() -> str:
    """Draw the cross-validation scores as parallel categories; return the PNG's path.

    One line per configuration (its ``cross_validated_model`` hyperparameters), coloured
    by its average validation accuracy, read from ``get_cross_validation_scores_path()``.
    """
    import phyper
    from config import parser
    from paths import get_cross_validation_scores_path, get_parallel_categories_path

    scores = pd.read_csv(get_cross_validation_scores_path(), dtype={'cross_validated_model_hash': str})
    dimensions = parser.get_dependencies_for_resources('cross_validated_model')
    figure = parallel_categories_figure(scores, dimensions=dimensions, color='average_validation_accuracy')
    with phyper.atomic_output(get_parallel_categories_path()) as temporary:
        figure.savefig(temporary, dpi=120, format='png')
    return get_parallel_categories_path()
