"""The classifier of the digits example: a multilayer perceptron with dropout."""

from __future__ import annotations

import torch
from torch import nn

from config import Instance
from dataset import N_CLASSES, N_FEATURES


class Model(nn.Module):
    """64 pixels -> ``depth`` x (Linear(``width``) + ReLU + Dropout(``dropout``)) -> 10 logits.

    The output is raw logits: ``torch.nn.functional.cross_entropy`` applies the
    log-softmax itself.
    """

    def __init__(self, instance: Instance) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = N_FEATURES
        for _ in range(instance.depth):
            layers += [nn.Linear(width, instance.width), nn.ReLU(), nn.Dropout(instance.dropout)]
            width = instance.width
        layers.append(nn.Linear(width, N_CLASSES))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, 10) for standardised pixels of shape (batch, 64)."""
        return self.layers(x)
