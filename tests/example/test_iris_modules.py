"""The Iris example's science: splits, determinism, the optimizer, scoring."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from engines import IRIS, copy_project


@pytest.fixture
def iris(tmp_path: Path, import_project: Callable[[Path], None]) -> Path:
    project = copy_project(IRIS, tmp_path / "iris")
    import_project(project)
    return project


def test_test_set_and_folds_are_fixed_disjoint_and_stratified(iris: Path) -> None:
    from sklearn.datasets import load_iris

    import dataset

    labels = load_iris().target
    test = dataset.get_test_indices(labels)
    folds = dataset.get_fold_indices(labels, 5)

    assert 30 == len(test) and [10, 10, 10] == np.bincount(labels[test]).tolist()
    assert [24] * 5 == [len(fold) for fold in folds]
    assert sorted(np.concatenate(folds).tolist()) == dataset.get_development_indices(labels).tolist()
    assert set() == set(test.tolist()) & set(np.concatenate(folds).tolist())
    assert all([8, 8, 8] == np.bincount(labels[fold]).tolist() for fold in folds)
    assert test.tolist() == dataset.get_test_indices(labels).tolist()


def test_the_split_trains_on_other_folds_and_evaluates_on_one(iris: Path) -> None:
    import config
    import dataset

    instance = config.instances[3]
    dataset.transform_data(instance)
    dataset.preprocess_data(instance)

    x_train, y_train, x_eval, y_eval = dataset.load_split(instance)
    x_full, y_full, x_test, y_test = dataset.load_split(instance, train_also_on_validation_set=True)

    assert (96, 24, 120, 30) == (len(x_train), len(x_eval), len(x_full), len(x_test))
    assert 4 == x_train.shape[1]
    assert not {tuple(row) for row in x_train} & {tuple(row) for row in x_eval}


def test_momentum_sgd_is_bitwise_torch_optim_sgd(iris: Path) -> None:
    import config
    import train
    from model import Model

    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 4, generator=generator), torch.randint(0, 3, (64,), generator=generator)

    def weights(make_optimizer: Callable[[list[nn.Parameter]], object]) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = Model(config.instances[5])
        optimizer = make_optimizer(list(model.parameters()))
        for _ in range(30):
            optimizer.zero_grad()  # type: ignore[attr-defined]
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()  # type: ignore[attr-defined]
        return [p.detach() for p in model.parameters()]

    ours = weights(lambda p: train.MomentumSGD(p, lr=0.01, momentum=0.9))
    reference = weights(lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, foreach=False))

    assert all(torch.equal(a, b) for a, b in zip(ours, reference))


def test_hidden_layers_are_registered_modules(iris: Path) -> None:
    import config
    from model import Model

    sizes = {n: sum(isinstance(m, nn.Linear) for m in Model(config.parser.get_instance(n_hidden_layers=n)).modules()) for n in (1, 2, 3)}

    assert {1: 2, 2: 3, 3: 4} == sizes


def test_training_is_deterministic_and_logs_every_interval(iris: Path, tmp_path: Path) -> None:
    import h5py

    import config
    import dataset
    import train

    instance = config.parser.get_instances_from_dictionary(
        {"transformation": ["log"], "centering": [True]}, non_key_overrides={"n_epochs": 12, "log_interval": 5}
    )[0]
    dataset.transform_data(instance)
    dataset.preprocess_data(instance)

    runs = []
    for attempt in range(2):
        model_path, metrics_path = tmp_path / f"m{attempt}.torch", tmp_path / f"m{attempt}.hdf5"
        train.train(instance, model_path=str(model_path), metrics_path=str(metrics_path))
        runs.append((model_path.read_bytes(), metrics_path))

    assert runs[0][0] == runs[1][0]
    with h5py.File(runs[0][1], "r") as first, h5py.File(runs[1][1], "r") as second:
        assert ["epoch10", "epoch12", "epoch5"] == sorted(first.keys())
        assert {"train_loss", "validation_loss", "validation_accuracy"} == set(first["epoch12"].keys())
        assert [first[f"epoch{e}/validation_loss"][()] for e in (5, 10, 12)] == [second[f"epoch{e}/validation_loss"][()] for e in (5, 10, 12)]
