"""Training of one instance: seeded, deterministic mini-batch SGD, metrics to HDF5.

The metrics file has one group per logged epoch, ``epoch{N}`` (``N`` 1-based: every
``instance.log_interval`` epochs and the last one), each with the scalar datasets
``train_loss`` (mean loss on the whole training set after that epoch),
``validation_loss`` and ``validation_accuracy`` (on the evaluation set: the validation
fold, or the test set when training on the whole development pool; the root attribute
``eval_set`` says which).

Training runs on a GPU when the job was given one: phyper sets ``CUDA_VISIBLE_DEVICES``
for a step that needs GPUs (``PHYPER_STEP_GPUS='train_model=0.25'``, see the README);
otherwise, as by default, on the CPU.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable

import h5py
import numpy as np
import torch
from torch import nn

import phyper
from config import Instance
from dataset import load_split
from model import Model
from paths import get_torch_model_path, get_training_metrics_path

MOMENTUM = 0.9
"""Momentum of SGD (plain SGD at the default learning rate trains too slowly)."""


class MomentumSGD:
    """``torch.optim.SGD(params, lr, momentum)`` in a few lines, with the same arithmetic.

    Why not ``torch.optim.SGD``: its first ``step()`` imports ``torch._dynamo``, about
    1.5 s per job process, more than the training itself; the pipeline runs one process
    per model. ``tests/example/test_iris_modules.py`` checks that both give bitwise the
    same weights.
    """

    def __init__(self, parameters: Iterable[nn.Parameter], lr: float, momentum: float) -> None:
        self.parameters = list(parameters)
        self.lr = lr
        self.momentum = momentum
        self.buffers: list[torch.Tensor | None] = [None] * len(self.parameters)

    def zero_grad(self) -> None:
        for parameter in self.parameters:
            parameter.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for index, parameter in enumerate(self.parameters):
            if parameter.grad is None:
                continue
            buffer = self.buffers[index]
            if buffer is None:
                buffer = self.buffers[index] = torch.clone(parameter.grad).detach()
            else:
                buffer.mul_(self.momentum).add_(parameter.grad)
            parameter.add_(buffer, alpha=-self.lr)

Metrics = dict[str, float]


def job_device() -> torch.device:
    """The GPU this job was given (``CUDA_VISIBLE_DEVICES`` names it), else the CPU."""
    if os.environ.get('CUDA_VISIBLE_DEVICES') and torch.cuda.is_available():
        return torch.device('cuda')
    return torch.device('cpu')


def train(instance: Instance, train_also_on_validation_set: bool = False,
          model_path: str | None = None, metrics_path: str | None = None) -> Metrics:
    """Train ``Model(instance)`` and save its ``state_dict`` and training metrics.

    Deterministic: the weights come from ``torch.manual_seed(instance.seed)`` and the
    mini-batch order from a ``torch.Generator`` seeded with ``instance.seed``, on one
    CPU thread, so every run gives bitwise the same model and metrics. On a GPU (when
    the job was given one, `job_device`) the same seeds are used; the saved
    weights are moved back to the CPU, so any machine loads them.

    Args:
        instance: the hyperparameters (keys and non-keys).
        train_also_on_validation_set: train on the whole development pool and evaluate on
            the test set, instead of training on the training folds and evaluating on the
            validation fold ``instance.cv_fold``.
        model_path: where to save the ``state_dict`` (default: ``get_torch_model_path``).
        metrics_path: where to save the HDF5 metrics (default: ``get_training_metrics_path``).

    Returns:
        The metrics of the last epoch.
    """
    torch.set_num_threads(1)
    device = job_device()
    x_train, y_train, x_eval, y_eval = (
        torch.from_numpy(a).to(device) for a in load_split(instance, train_also_on_validation_set)
    )

    torch.manual_seed(instance.seed)
    model = Model(instance).to(device)
    generator = torch.Generator().manual_seed(instance.seed)
    optimizer = MomentumSGD(model.parameters(), lr=instance.learning_rate, momentum=MOMENTUM)
    loss_function = nn.CrossEntropyLoss()

    n_samples, batch_size = len(x_train), instance.batch_size
    history: dict[int, Metrics] = {}
    for epoch in range(1, instance.n_epochs + 1):
        model.train()
        # one gather per epoch; the mini-batches are then cheap slices (views) of it
        permutation = torch.randperm(n_samples, generator=generator).to(device)
        x_shuffled, y_shuffled = x_train[permutation], y_train[permutation]
        for start in range(0, n_samples, batch_size):
            optimizer.zero_grad()
            loss = loss_function(model(x_shuffled[start:start + batch_size]), y_shuffled[start:start + batch_size])
            loss.backward()
            optimizer.step()
        if epoch % instance.log_interval == 0 or epoch == instance.n_epochs:
            train_loss, _ = evaluate(model, x_train, y_train)
            validation_loss, validation_accuracy = evaluate(model, x_eval, y_eval)
            history[epoch] = {'train_loss': train_loss, 'validation_loss': validation_loss,
                              'validation_accuracy': validation_accuracy}

    save_model(model.to('cpu'), model_path or get_torch_model_path(instance))
    _save_metrics(history, metrics_path or get_training_metrics_path(instance),
                  eval_set='test' if train_also_on_validation_set else 'validation')
    return history[instance.n_epochs]


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy in [0, 1]) of ``model`` on ``(x, y)``."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(dim=1) == y).double().mean().item()
    return loss, accuracy


def save_model(model: nn.Module, path: str) -> None:
    """Save the ``state_dict`` atomically, with bytes that do not depend on the file name.

    ``torch.save`` to a file path names its zip archive after the file, and the atomic
    temporary name is random; saving to a buffer first keeps the bytes reproducible.
    """
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    with phyper.atomic_output(path) as temporary, open(temporary, 'wb') as handle:
        handle.write(buffer.getvalue())


def load_model(instance: Instance, path: str) -> Model:
    """A ``Model(instance)`` with the weights saved at ``path``, in evaluation mode."""
    model = Model(instance)
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def get_last_epoch(keys: Iterable[str]) -> int:
    """The largest ``N`` among metric group names like ``['epoch200', 'epoch400', ...]``."""
    return max(int(key.removeprefix('epoch')) for key in keys)


def _save_metrics(history: dict[int, Metrics], path: str, eval_set: str) -> None:
    with phyper.atomic_output(path) as temporary, h5py.File(temporary, 'w') as f5:
        f5.attrs['eval_set'] = eval_set
        for epoch, metrics in history.items():
            group = f5.create_group(f'epoch{epoch}')
            for name, value in metrics.items():
                group.create_dataset(name, data=np.float64(value), track_times=False)
