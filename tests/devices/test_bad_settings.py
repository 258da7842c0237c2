"""A malformed or misspelt ``PHYPER_STEP_GPUS``, ``PHYPER_BATCH`` or ``PHYPER_NON_KEYS`` is refused the same way everywhere.

The real commands a user types (``phyper status``, ``snakemake -j1 all``, ``doit``) on
the GPU fixture project: each prints the one named error as one line, no traceback,
and runs no job. The one parser behind them is `phyper._planning.settings`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import phyper
from engines import BIN, REPO, copy_project, environment, job_log, run
from phyper._planning.settings import parse_batch_overrides, parse_gpu_overrides

GPUS = REPO / "tests" / "fixtures" / "gpus"

COMMANDS = {
    "status": [sys.executable, "-m", "phyper", "status"],
    "snakemake": [str(BIN / "snakemake"), "-j1", "all"],
    "doit": [str(BIN / "doit")],
}
EXIT = {"status": 2, "snakemake": 1, "doit": 1}
"""A refused command's exit status: phyper's for a user error, the engines' for a failed start."""

STEPS = "(steps: train, summarise)"
SETTINGS = [
    (
        "PHYPER_STEP_GPUS", "trian=1",
        "phyper: GpuOverrideError: PHYPER_STEP_GPUS: the pipeline has no step `trian`; did you mean `train`? " + STEPS,
    ),
    (
        "PHYPER_STEP_GPUS", "train=1.5",
        "phyper: GpuOverrideError: PHYPER_STEP_GPUS: step `train`: gpus=1.5: more than one device must be a whole "
        "number of devices (gpus=1 or gpus=2); only a share of a single device may be a fraction",
    ),
    (
        "PHYPER_STEP_GPUS", "train",
        "phyper: GpuOverrideError: PHYPER_STEP_GPUS: `train` is not step=N with N a number of GPUs "
        "(example: PHYPER_STEP_GPUS='train_model=1' or 'train_model=0.25'; 0 for none)",
    ),
    (
        "PHYPER_BATCH", "trian=3",
        "phyper: BatchOverrideError: PHYPER_BATCH: the pipeline has no step `trian`; did you mean `train`? " + STEPS,
    ),
    (
        "PHYPER_BATCH", "train=2.5",
        "phyper: BatchOverrideError: PHYPER_BATCH: `train=2.5` is not step=N with N a whole number "
        "(example: PHYPER_BATCH='train_model=1000'; 0 turns batches off)",
    ),
    (
        "PHYPER_BATCH", "summarise=2",
        "phyper: BatchOverrideError: PHYPER_BATCH: step `summarise` is an aggregate (one job over every instance); "
        "only per_resource and per_instance steps run in batches",
    ),
    (
        "PHYPER_NON_KEYS", "seeed=1",
        "phyper: NonKeyOverrideError: unknown hyperparameter `seeed` in PHYPER_NON_KEYS; did you mean `seed`? "
        "(known: seed, width)",
    ),
    (
        "PHYPER_NON_KEYS", "seed=1",
        "phyper: NonKeyOverrideError: `seed` is a key: overriding it would change every hash and is not what "
        "non-key overrides are for; put it in the grid instead",
    ),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(GPUS, tmp_path_factory.mktemp("settings") / "gpus")


def _steps(project: Path) -> list[str]:
    listed = run([sys.executable, "-c", "import pipeline; print(' '.join(pipeline.pipeline.steps))"], project)
    return listed.stdout.split()


def test_the_fixture_has_the_steps_the_messages_name(project: Path) -> None:
    assert ["train", "summarise"] == _steps(project)


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(("variable", "value", "line"), SETTINGS, ids=[f"{v}={x}" for v, x, _ in SETTINGS])
def test_a_bad_setting_is_one_named_line_from_every_command(
    project: Path, command: str, variable: str, value: str, line: str
) -> None:
    env = environment(PHYPER_DEVICE_POOL=str(project / "pool"), PHYPER_GPUS="0", **{variable: value})

    completed = run(COMMANDS[command], project, env, check=False)

    printed = (completed.stdout + completed.stderr).strip()
    assert (EXIT[command], line) == (completed.returncode, printed)
    assert "Traceback" not in printed
    assert [] == job_log(project)  # nothing ran


PARSERS = {
    "PHYPER_BATCH": (parse_batch_overrides, phyper.BatchOverrideError, "with N a whole number"),
    "PHYPER_STEP_GPUS": (parse_gpu_overrides, phyper.GpuOverrideError, "with N a number of GPUs"),
}


@pytest.mark.parametrize("variable", sorted(PARSERS))
@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("trian=1", "the pipeline has no step `trian`; did you mean `train`? (steps: train, summarise)"),
        ("train", "`train` is not step=N {expected}"),
        ("train=", "`train=` is not step=N {expected}"),
        ("train=1 , trian=2", "the pipeline has no step `trian`; did you mean `train`?"),
        ("train=\u00b2", "`train=\u00b2` is not step=N {expected}"),
        ("train=one", "`train=one` is not step=N {expected}"),
    ],
)
def test_both_settings_are_read_by_one_parser_with_one_wording(variable: str, text: str, says: str) -> None:
    parse, error, expected = PARSERS[variable]

    with pytest.raises(error) as raised:
        parse(text, {"train": "instance", "summarise": "aggregate"})

    assert str(raised.value).startswith(f"{variable}: {says.format(expected=expected)}")
    assert isinstance(raised.value, ValueError)


def test_both_settings_take_commas_or_spaces_and_zero_for_off() -> None:
    steps = {"train": "instance", "summarise": "aggregate"}

    assert {"train": 0} == parse_batch_overrides(" train=0, ", steps)
    assert {"train": None, "summarise": 2} == parse_gpu_overrides("train=0 summarise=2", steps)
