"""Training that can stop after any epoch and continue exactly where it stopped.

`train` trains ``Model(instance)`` up to ``instance.n_epochs`` epochs, starting from
scratch or from a checkpoint of the same configuration at fewer epochs, and returns the
checkpoint after the last epoch. A checkpoint holds everything the next epoch depends
on, so that training 10 epochs, saving, loading and continuing to 30 gives bitwise the
model, optimizer and metrics of training 30 from scratch
(``tests/example/test_digits_training.py`` checks it):

* the model's and the optimizer's ``state_dict`` (Adam's moments and step count);
* the random states: torch's (weights' initialisation and dropout masks; CUDA's too
  when training on a GPU), numpy's and Python's global generators (unused by this
  model, saved because a step that augments data would draw from them), and the
  ``torch.Generator`` that shuffles the mini-batches;
* the epoch reached and every epoch's metrics so far (the learning curve).

Training is single-threaded on the CPU (``torch.set_num_threads(1)``), hence
bit-for-bit reproducible; on a GPU (when the job was given one, `job_device`) the same
seeds are used, but numbers need not match the CPU's to the last bit.
"""

from __future__ import annotations

import io
import json
import os
import random
from typing import Any

import numpy as np
import torch
from torch import nn

import phyper
from config import Instance
from dataset import Split, load_split
from model import Model
from paths import get_checkpoint_path, get_epochs_log_path, get_training_metrics_path

Checkpoint = dict[str, Any]
"""``epoch``, ``configuration``, ``model``, ``optimizer``, ``rng`` and ``history`` (see the module's docstring)."""
EpochMetrics = dict[str, float]


def job_device() -> torch.device:
    """The GPU this job was given (``CUDA_VISIBLE_DEVICES`` names it), else the CPU."""
    if os.environ.get('CUDA_VISIBLE_DEVICES') and torch.cuda.is_available():
        return torch.device('cuda')
    return torch.device('cpu')


def train_model(instance: Instance, continue_from: Instance | None = None) -> Checkpoint:
    """The pipeline's training step: train on the training images, evaluate on the validation images.

    Args:
        instance: the configuration and its budget (``n_epochs``).
        continue_from: the same configuration at fewer epochs, whose checkpoint is
            complete: training continues from it instead of from scratch.

    Returns:
        The checkpoint written to ``get_checkpoint_path(instance)``; the per-epoch metrics
        go to ``get_training_metrics_path(instance)`` and one line per epoch trained is
        appended to ``get_epochs_log_path(instance)``.
    """
    checkpoint = None if continue_from is None else load_checkpoint(get_checkpoint_path(continue_from))
    trained = train(instance, load_split(instance), checkpoint, epochs_log_path=get_epochs_log_path(instance))
    save_checkpoint(trained, get_checkpoint_path(instance))
    save_metrics(trained['history'], get_training_metrics_path(instance), eval_set='validation')
    return trained


def train(instance: Instance, data: Split, checkpoint: Checkpoint | None = None,
          epochs_log_path: str | None = None) -> Checkpoint:
    """Train up to ``instance.n_epochs`` epochs, from scratch or from ``checkpoint``.

    Args:
        instance: the hyperparameters (keys and non-keys).
        data: ``(x_train, y_train, x_eval, y_eval)`` numpy arrays (`dataset.load_split`).
        checkpoint: the state after fewer epochs of the same configuration (a key other
            than ``n_epochs`` that differs is an error), as `train` returned it or
            `load_checkpoint` read it.
        epochs_log_path: a file to which one line is appended per epoch trained.

    Returns:
        The checkpoint after ``instance.n_epochs`` epochs, its tensors on the CPU.

    Raises:
        ValueError: the checkpoint is of another configuration, or past ``n_epochs``.
    """
    torch.set_num_threads(1)
    device = job_device()
    x_train, y_train, x_eval, y_eval = (torch.from_numpy(array).to(device) for array in data)

    configuration = instance.get_key_values('configuration')
    torch.manual_seed(instance.seed)
    np.random.seed(instance.seed)
    random.seed(instance.seed)
    model = Model(instance).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=instance.learning_rate)
    shuffling = torch.Generator().manual_seed(instance.seed)
    history: list[EpochMetrics] = []
    start = 0
    if checkpoint is not None:
        _check_continuable(checkpoint, configuration, instance.n_epochs)
        model.load_state_dict(checkpoint['model'])
        optimizer.load_state_dict(checkpoint['optimizer'])
        _set_rng_states(checkpoint['rng'], shuffling, device)
        history = [dict(row) for row in checkpoint['history']]
        start = int(checkpoint['epoch'])

    n_samples, batch_size = len(x_train), instance.batch_size
    for epoch in range(start + 1, instance.n_epochs + 1):
        model.train()
        permutation = torch.randperm(n_samples, generator=shuffling).to(device)
        x_shuffled, y_shuffled = x_train[permutation], y_train[permutation]
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        for first in range(0, n_samples, batch_size):
            x_batch, y_batch = x_shuffled[first:first + batch_size], y_shuffled[first:first + batch_size]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x_batch), y_batch)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach().double() * len(y_batch)
        eval_loss, eval_accuracy = evaluate(model, x_eval, y_eval)
        history.append({'epoch': epoch, 'train_loss': loss_sum.item() / n_samples,
                        'eval_loss': eval_loss, 'eval_accuracy': eval_accuracy})
        if epochs_log_path is not None:
            _log_epoch(epochs_log_path, epoch)

    return {
        'epoch': instance.n_epochs,
        'configuration': configuration,
        'model': _to_cpu(model.state_dict()),
        'optimizer': _to_cpu(optimizer.state_dict()),
        'rng': _get_rng_states(shuffling, device),
        'history': history,
    }


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy in [0, 1]) of ``model`` on ``(x, y)``, in evaluation mode."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(dim=1) == y).double().mean().item()
    return loss, accuracy


def load_model(instance: Instance, checkpoint: Checkpoint) -> Model:
    """A ``Model(instance)`` (on the CPU) with the checkpoint's weights, in evaluation mode."""
    model = Model(instance)
    model.load_state_dict(checkpoint['model'])
    return model.eval()


def save_checkpoint(checkpoint: Checkpoint, path: str) -> None:
    """Save atomically, with bytes that do not depend on the file's name.

    ``torch.save`` to a file path names its zip archive after the file, and the atomic
    temporary name is random; saving to a buffer first keeps the bytes reproducible.
    """
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    with phyper.atomic_output(path) as temporary, open(temporary, 'wb') as handle:
        handle.write(buffer.getvalue())


def load_checkpoint(path: str) -> Checkpoint:
    """The checkpoint saved at ``path`` (plain containers, tensors and numbers only)."""
    checkpoint: Checkpoint = torch.load(path, weights_only=True)
    return checkpoint


def save_metrics(history: list[EpochMetrics], path: str, eval_set: str) -> None:
    """The learning curve as JSON: ``{"eval_set": ..., "epochs": [{"epoch", "train_loss", "eval_loss", "eval_accuracy"}, ...]}``."""
    phyper.atomic_write_text(path, json.dumps({'eval_set': eval_set, 'epochs': history}, indent=1) + '\n')


def load_metrics(path: str) -> list[EpochMetrics]:
    """The per-epoch metrics written by `save_metrics`."""
    epochs: list[EpochMetrics] = json.loads(open(path).read())['epochs']
    return epochs


def _check_continuable(checkpoint: Checkpoint, configuration: dict[str, Any], n_epochs: int) -> None:
    if checkpoint['configuration'] != configuration:
        raise ValueError(f"cannot continue from a checkpoint of {checkpoint['configuration']}: "
                         f"this is {configuration}")
    if not 0 < int(checkpoint['epoch']) <= n_epochs:
        raise ValueError(f"cannot continue from a checkpoint at epoch {checkpoint['epoch']} to n_epochs={n_epochs}")


def _get_rng_states(shuffling: torch.Generator, device: torch.device) -> dict[str, Any]:
    numpy_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        'torch': torch.get_rng_state(),
        'shuffling': shuffling.get_state(),
        # numpy's state as plain numbers and a tensor: torch.load(weights_only=True) reads them
        'numpy': {'key': torch.from_numpy(numpy_state['state']['key'].astype(np.int64)),
                  'pos': int(numpy_state['state']['pos']),
                  'has_gauss': int(numpy_state['has_gauss']), 'gauss': float(numpy_state['gauss'])},
        'python': random.getstate(),
    }
    if device.type == 'cuda':
        states['cuda'] = torch.cuda.get_rng_state(device)
    return states


def _set_rng_states(states: dict[str, Any], shuffling: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(states['torch'])
    shuffling.set_state(states['shuffling'])
    numpy_state = states['numpy']
    np.random.set_state({'bit_generator': 'MT19937',
                         'state': {'key': numpy_state['key'].numpy().astype(np.uint32), 'pos': numpy_state['pos']},
                         'has_gauss': numpy_state['has_gauss'], 'gauss': numpy_state['gauss']})
    version, internal, gauss_next = states['python']
    random.setstate((version, tuple(internal), gauss_next))
    if device.type == 'cuda' and 'cuda' in states:
        torch.cuda.set_rng_state(states['cuda'], device)


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to('cpu', copy=True)
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_cpu(item) for item in value]
    return value


def _log_epoch(path: str, epoch: int) -> None:
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'a') as log:
        log.write(f'epoch {epoch}\n')
