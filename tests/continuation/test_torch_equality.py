"""A real model continued from a lower budget equals one trained from scratch (CPU, torch).

A small torch network with dropout, Adam, a shuffling data loader, and noise drawn from
numpy's and Python's generators each epoch, so that every piece of state a user's
step must save for continuation to be exact is used: the model's parameters, the
optimizer's state, the RNG states of torch, numpy and Python, and the data loader's
shuffling generator (``docs/pipelines.md``, "Continuing from a lower budget"). Trained to
30 epochs through phyper by continuing from 10, it equals the network trained to 30 in
one go, parameter for parameter (``torch.equal``) and metric for metric.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import phyper

EPOCHS_TRAINED: list[int] = []


class Net(phyper.Parser):
    seed = 0
    n_epochs = 10


def checkpoint_path(instance: Any) -> str:
    return os.path.join(instance.get_resources_path(), "checkpoint.pt")


def _data() -> TensorDataset:
    generator = torch.Generator().manual_seed(1234)
    features = torch.randn(256, 8, generator=generator)
    labels = (features[:, :4].sum(dim=1) > 0).long()
    return TensorDataset(features, labels)


def train(instance: Any) -> None:
    """Train to ``n_epochs``, continuing from the largest lower budget that is done."""
    torch.set_num_threads(1)
    lower = phyper.continued_from(instance)
    if lower is None:
        torch.manual_seed(instance.seed)
        np.random.seed(instance.seed)
        random.seed(instance.seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    shuffling = torch.Generator().manual_seed(instance.seed)
    loader = DataLoader(_data(), batch_size=32, shuffle=True, generator=shuffling)
    start, losses = 0, []
    if lower is not None:  # everything the next epoch draws from, as the lower rung left it
        saved = torch.load(checkpoint_path(lower), weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["torch_rng"])
        np.random.set_state(saved["numpy_rng"])
        random.setstate(saved["python_rng"])
        shuffling.set_state(saved["loader_rng"])
        start, losses = saved["epochs"], list(saved["losses"])
    for epoch in range(start, instance.n_epochs):
        model.train()
        total = 0.0
        for features, labels in loader:
            noisy = features + torch.from_numpy(np.random.normal(0, 0.05, features.shape).astype(np.float32))
            if random.random() < 0.5:
                noisy = noisy * 1.01
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(noisy), labels)
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total)
        EPOCHS_TRAINED.append(epoch)
    model.eval()
    with torch.no_grad():
        features, labels = _data().tensors
        accuracy = float((model(features).argmax(dim=1) == labels).float().mean())
    state = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state(), "python_rng": random.getstate(), "loader_rng": shuffling.get_state(),
        "epochs": instance.n_epochs, "losses": losses, "accuracy": accuracy,
    }
    with phyper.atomic_output(checkpoint_path(instance)) as tmp:
        torch.save(state, tmp)


def _trained(folder: Path, budgets: list[int]) -> dict[str, Any]:
    parser = Net(hashed_resources_folder=str(folder))
    pipeline = phyper.Pipeline(parser.get_instances_from_dictionary({"n_epochs": budgets}))
    pipeline.add_step(train, kind="instance", outputs=[checkpoint_path], continues="n_epochs")
    for budget in budgets:
        # each job starts from other generator states, as a fresh job process would
        torch.manual_seed(budget + 99)
        np.random.seed(budget + 99)
        random.seed(budget + 99)
        phyper.run_job(pipeline, "train", parser.get_instance(n_epochs=budget).get_instance_hash())
    loaded: dict[str, Any] = torch.load(checkpoint_path(parser.get_instance(n_epochs=30)), weights_only=False)
    return loaded


def test_a_network_continued_from_10_epochs_equals_one_trained_to_30(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    try:
        EPOCHS_TRAINED.clear()
        continued = _trained(tmp_path / "continued", [10, 30])
        assert EPOCHS_TRAINED == list(range(10)) + list(range(10, 30))  # the 30 trained 20 epochs
        EPOCHS_TRAINED.clear()
        scratch = _trained(tmp_path / "scratch", [30])
        assert EPOCHS_TRAINED == list(range(30))
    finally:
        torch.set_num_threads(threads)
    assert continued["model"].keys() == scratch["model"].keys()
    for name, parameter in scratch["model"].items():
        assert torch.equal(continued["model"][name], parameter), name
    assert continued["losses"] == scratch["losses"]
    assert len(scratch["losses"]) == 30
    assert continued["accuracy"] == scratch["accuracy"]
    assert continued["accuracy"] > 0.8  # it learned something: the comparison is of a real training
