"""The digits example's training continues exactly: 10 epochs, saved, then 30, equals 30 from scratch.

CPU, single-threaded, a small model (width 32, dropout on: the dropout masks draw from
torch's random state, which the checkpoint must carry).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from engines import REPO, copy_project

DIGITS = REPO / "examples" / "digits"


@pytest.fixture
def digits(tmp_path: Path, import_project: Callable[[Path], None]) -> Path:
    project = copy_project(DIGITS, tmp_path / "digits")
    import_project(project)
    import config
    import dataset

    dataset.split_data(config.instances[0])
    return project


def small(epochs: int) -> Any:
    import config

    return config.instances[0].replace(width=32, depth=2, dropout=0.2, learning_rate=0.003, n_epochs=epochs)


def assert_same_training(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    assert expected["epoch"] == actual["epoch"]
    assert expected["configuration"] == actual["configuration"]
    assert list(expected["model"]) == list(actual["model"])
    for name, tensor in expected["model"].items():
        assert torch.equal(tensor, actual["model"][name]), name
    assert expected["optimizer"]["param_groups"] == actual["optimizer"]["param_groups"]
    assert list(expected["optimizer"]["state"]) == list(actual["optimizer"]["state"])
    for index, state in expected["optimizer"]["state"].items():
        assert list(state) == list(actual["optimizer"]["state"][index])
        for name, tensor in state.items():
            assert torch.equal(tensor, actual["optimizer"]["state"][index][name]), (index, name)
    assert torch.equal(expected["rng"]["torch"], actual["rng"]["torch"])
    assert torch.equal(expected["rng"]["shuffling"], actual["rng"]["shuffling"])
    assert expected["history"] == actual["history"]


def test_ten_epochs_saved_then_continued_to_thirty_equal_thirty_from_scratch(digits: Path, tmp_path: Path) -> None:
    import dataset
    import train

    data = dataset.load_split(small(30))
    from_scratch = train.train(small(30), data)
    first_ten = train.train(small(10), data)
    train.save_checkpoint(first_ten, str(tmp_path / "ten.torch"))
    log = tmp_path / "epochs.log"

    continued = train.train(small(30), data, train.load_checkpoint(str(tmp_path / "ten.torch")), epochs_log_path=str(log))

    assert_same_training(from_scratch, continued)
    assert [f"epoch {epoch}" for epoch in range(11, 31)] == log.read_text().splitlines()
    assert list(range(1, 31)) == [row["epoch"] for row in continued["history"]]
    assert first_ten["history"] == continued["history"][:10]
    # the comparison is not trivial: ten epochs leave other weights than thirty
    assert not torch.equal(first_ten["model"]["layers.0.weight"], continued["model"]["layers.0.weight"])
    assert continued["history"][-1]["eval_accuracy"] > 0.9


def test_the_step_continues_from_the_lower_budgets_files(digits: Path) -> None:
    import dataset
    import paths
    import train

    scratch = train.train(small(30), dataset.load_split(small(30)))

    train.train_model(small(10))
    train.train_model(small(30), continue_from=small(10))

    assert_same_training(scratch, train.load_checkpoint(paths.get_checkpoint_path(small(30))))
    assert scratch["history"] == train.load_metrics(paths.get_training_metrics_path(small(30)))
    assert 10 == len(Path(paths.get_epochs_log_path(small(10))).read_text().splitlines())
    assert 20 == len(Path(paths.get_epochs_log_path(small(30))).read_text().splitlines())


def test_a_checkpoint_of_another_configuration_or_budget_is_refused(digits: Path) -> None:
    import dataset
    import train

    data = dataset.load_split(small(10))
    ten = train.train(small(10), data)

    with pytest.raises(ValueError, match="cannot continue from a checkpoint of"):
        train.train(small(30).replace(width=33), data, ten)
    with pytest.raises(ValueError, match="at epoch 10 to n_epochs=5"):
        train.train(small(5), data, ten)
