"""What a step says it needs (``gpus=``), the run-time override, and where devices come from.

Engine-free. The pool itself (real job processes, real locks) is in test_device_pool.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import phyper
from engines import copy_project, environment, run
from phyper._planning.settings import parse_gpu_overrides
from phyper._running.device_pool import pool_folder
from phyper._running.gpu_devices import discover_devices


class Instance(phyper.Parser):
    seed = 0


def make_pipeline(folder: Path) -> phyper.Pipeline:
    return phyper.Pipeline(Instance(hashed_resources_folder=str(folder)).get_instances_from_dictionary({"seed": [0, 1]}))


def model(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path(), "m.pt")


def scores() -> str:
    return "scores.csv"


def test_gpus_is_declared_on_every_kind_of_step_and_absent_by_default(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path)

    @pipeline.per_instance(outputs=[model], gpus=0.25)
    def train(instance: Instance) -> None: ...

    @pipeline.aggregate(inputs=[model], outputs=[scores], gpus=2)
    def score(instances: list[Instance]) -> None: ...

    @pipeline.per_instance(outputs=[lambda i: os.path.join(i.get_resources_path(), "x")], name="plain")
    def plain(instance: Instance) -> None: ...

    assert (0.25, 2, None) == (pipeline.step("train").gpus, pipeline.step("score").gpus, pipeline.step("plain").gpus)
    assert {"train": 0.25, "score": 2} == phyper.gpu_needs(pipeline.steps)


def test_per_resource_takes_gpus_too(tmp_path: Path) -> None:
    parser = Instance(hashed_resources_folder=str(tmp_path))
    parser.register_new_resource("data", ["seed"])
    pipeline = phyper.Pipeline(parser.get_instances_from_dictionary({"seed": [0]}))

    @pipeline.per_resource("data", outputs=[lambda i: os.path.join(i.get_resources_path("data"), "d")], gpus=1)
    def transform(instance: Instance) -> None: ...

    assert 1 == pipeline.step("transform").gpus
    assert isinstance(pipeline.step("transform").gpus, int)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (-1, "must be a number of GPUs"),
        (True, "must be a number of GPUs"),
        ("1", "must be a number of GPUs"),
        (float("nan"), "must be a number of GPUs"),
        (float("inf"), "must be a number of GPUs"),
        (0.001, "less than the smallest share of a device (1/100"),
        (1.5, "more than one device must be a whole number of devices (gpus=1 or gpus=2)"),
    ],
)
def test_a_need_that_is_no_number_of_gpus_is_refused_naming_the_step(tmp_path: Path, value: object, says: str) -> None:
    pipeline = make_pipeline(tmp_path)

    def train(instance: Instance) -> None: ...

    with pytest.raises(phyper.PipelineDefinitionError) as raised:
        pipeline.per_instance(outputs=[model], gpus=value)(train)  # type: ignore[arg-type]

    assert str(raised.value).startswith(f"step `train`: gpus={value!r}")
    assert says in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert {} == pipeline.steps


def test_zero_and_whole_floats_mean_none_and_devices(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path)
    first = pipeline.add_step(lambda i: None, kind="instance", outputs=[model], name="a", gpus=0)
    second = pipeline.add_step(lambda i: None, kind="instance", outputs=[lambda i: "x" + str(i)], name="b", gpus=2.0)

    assert (None, 2) == (first.gpus, second.gpus)
    assert {"b": 2} == phyper.gpu_needs(pipeline.steps)


def test_the_override_changes_needs_for_one_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = make_pipeline(tmp_path)
    pipeline.add_step(lambda i: None, kind="instance", outputs=[model], name="train", gpus=1)
    pipeline.add_step(lambda i: None, kind="aggregate", outputs=[scores], name="score")

    monkeypatch.setenv(phyper.STEP_GPUS_ENVIRONMENT_VARIABLE, "train=0 score=0.5")
    assert {"score": 0.5} == phyper.gpu_needs(pipeline.steps)
    monkeypatch.setenv(phyper.STEP_GPUS_ENVIRONMENT_VARIABLE, "train=2,")
    assert {"train": 2} == phyper.gpu_needs(pipeline.steps)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("train", "`train` is not step=N with N a number of GPUs"),
        ("train=one", "`train=one` is not step=N"),
        ("trian=1", "the pipeline has no step `trian`; did you mean `train`?"),
        ("train=-1", "step `train`: gpus=-1.0 must be a number of GPUs"),
        ("train=2.5", "more than one device must be a whole number"),
    ],
)
def test_a_malformed_override_is_one_named_error(text: str, says: str) -> None:
    with pytest.raises(phyper.GpuOverrideError) as raised:
        parse_gpu_overrides(text, {"train": None, "score": None})

    assert str(raised.value).startswith("PHYPER_STEP_GPUS: ")
    assert says in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_devices_come_from_phyper_gpus_then_the_engines_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHYPER_GPUS", "2, 3")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert (("2", "3"), "PHYPER_GPUS") == discover_devices()

    monkeypatch.setenv("PHYPER_GPUS", "none")
    assert ((), "PHYPER_GPUS=none") == discover_devices()

    monkeypatch.delenv("PHYPER_GPUS")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-5e1f,GPU-77aa")
    assert (("GPU-5e1f", "GPU-77aa"), "CUDA_VISIBLE_DEVICES") == discover_devices()
    for nothing in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", nothing)
        assert ((), "CUDA_VISIBLE_DEVICES") == discover_devices()


def _fake_nvidia_smi(folder: Path) -> Path:
    """An ``nvidia-smi`` that prints what the real one prints for two devices, and counts its calls."""
    script = folder / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        f"echo call >> {folder / 'calls'}\n"
        "echo 'GPU 0: NVIDIA H200 (UUID: GPU-0b2a5e1f-aaaa-bbbb-cccc-000000000000)'\n"
        "echo 'GPU 1: NVIDIA H200 (UUID: GPU-77aa5e1f-aaaa-bbbb-cccc-000000000001)'\n"
    )
    script.chmod(0o755)
    return script


def test_without_environment_the_driver_lists_the_devices_once_per_process(tmp_path: Path) -> None:
    # a fresh process: the discovery is cached per process, on the environment's values
    _fake_nvidia_smi(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PHYPER_GPUS", "CUDA_VISIBLE_DEVICES")}
    env["PATH"] = f"{tmp_path}{os.pathsep}{env['PATH']}"
    code = "from phyper._running.gpu_devices import discover_devices as d; print(d(), d())"

    listed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)

    assert "(('0', '1'), 'nvidia-smi -L') (('0', '1'), 'nvidia-smi -L')\n" == listed.stdout
    assert "call\n" == (tmp_path / "calls").read_text()

    env["PHYPER_GPUS"] = "0"
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "call\n" == (tmp_path / "calls").read_text()  # the environment said: no nvidia-smi


def test_the_pool_is_the_machines_unless_moved_and_a_slurm_allocation_has_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PHYPER_DEVICE_POOL", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert f"/tmp/phyper-devices-{os.getuid()}" == pool_folder("PHYPER_GPUS")

    monkeypatch.setenv("PHYPER_DEVICE_POOL", str(tmp_path))
    monkeypatch.setenv("SLURM_JOB_ID", "4711")
    assert str(tmp_path) == pool_folder("PHYPER_GPUS")
    assert str(tmp_path / "slurm-4711") == pool_folder("CUDA_VISIBLE_DEVICES")


GPUS = Path(__file__).resolve().parents[1] / "fixtures" / "gpus"
SHOW_NEEDS = """\
import json, sys
sys.path.insert(0, ".")
import pipeline
from phyper._planning.plan import jobs_to_run
plan = pipeline.pipeline.plan(cache=True)
key = plan.step("train").keys[0]
print(json.dumps([{step.name: step.gpus for step in plan.steps}, jobs_to_run(pipeline.pipeline, "train", key)[1][0].gpus]))
"""


def test_the_plan_carries_each_steps_need_for_this_runs_environment_its_cache_too(tmp_path: Path) -> None:
    project = copy_project(GPUS, tmp_path / "gpus")
    (project / "derived_data" / ".phyper").mkdir(parents=True)  # a project that has run: its plan is cached
    env = environment()
    env.pop("PHYPER_STEP_GPUS", None)

    def needs(**override: str) -> list[object]:
        return list(json.loads(run([sys.executable, "-c", SHOW_NEEDS], project, {**env, **override}).stdout))

    declared, shared, none = needs(), needs(PHYPER_STEP_GPUS="train=0.25 summarise=2"), needs(PHYPER_STEP_GPUS="train=0")

    assert [{"train": 1, "summarise": None}, 1] == declared
    assert [{"train": 0.25, "summarise": 2}, 0.25] == shared  # what the job process holds: the plan's
    assert [{"train": None, "summarise": None}, None] == none
    # one plan in the cache: another PHYPER_STEP_GPUS reads it back, with this run's needs
    assert 1 == len(list((project / "derived_data" / ".phyper" / "plan-cache").iterdir()))
