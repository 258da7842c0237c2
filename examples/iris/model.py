"""The classifier of the Iris example: a small multilayer perceptron."""

from __future__ import annotations

import torch
from torch import nn

from config import Instance

N_FEATURES = 4
N_CLASSES = 3
HIDDEN_WIDTH = 16


class Model(nn.Module):
    """4 inputs -> ``instance.n_hidden_layers`` x (Linear(16) + ReLU) -> 3 logits.

    The output is raw logits (no softmax): they go into ``torch.nn.CrossEntropyLoss``,
    which applies log-softmax itself. The hidden layers live in an ``nn.Sequential``,
    so they are registered parameters (trained, saved in the ``state_dict``).
    """

    def __init__(self, instance: Instance) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = N_FEATURES
        for _ in range(instance.n_hidden_layers):
            layers += [nn.Linear(width, HIDDEN_WIDTH), nn.ReLU()]
            width = HIDDEN_WIDTH
        layers.append(nn.Linear(width, N_CLASSES))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, 3) for features of shape (batch, 4)."""
        return self.layers(x)
