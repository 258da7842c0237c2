"""phyper-core installed alone (no pandas, nothing else) runs the seed's config.py as is."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import phyper
from core_support import CORE_PACKAGE, GRID, IRIS_CONFIG, RESOURCES, make_parser, run_python

_IN_THE_VENV = """
import importlib.metadata, importlib.util, json, runpy, sys
config = runpy.run_path("config.py")
instances, Instance = config["instances"], config["Instance"]
import phyper
requirements = importlib.metadata.requires("phyper-core") or []
print(json.dumps({
    "distinct": [len(Instance.get_instances_hashes(instances, r)) for r in %r],
    "hashes": [[i.get_instance_hash(r) for r in %r] for i in instances],
    "phyper_file": phyper.__file__,
    "prefix": sys.prefix,
    "pandas_installed": importlib.util.find_spec("pandas") is not None,
    "required_without_extras": [r for r in requirements if "extra ==" not in r],
}))
"""


def _run(command: list[str | os.PathLike[str]], env: dict[str, str], cwd: Path) -> None:
    completed = subprocess.run(
        [os.fspath(part) for part in command], capture_output=True, text=True, env=env, cwd=cwd, timeout=900
    )
    assert completed.returncode == 0, f"{command}\n{completed.stdout}\n{completed.stderr}"


@pytest.mark.slow
def test_phyper_core_alone_in_a_fresh_venv_runs_the_seed_config(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
                                                             "PHYPER_NON_KEYS")}
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], env, tmp_path)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / ("python.exe" if os.name == "nt" else "python")

    wheels = tmp_path / "wheels"
    if importlib.util.find_spec("hatchling") is not None:
        # the build backend is here already: build offline with it
        build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", wheels,
                 CORE_PACKAGE]
    else:
        # pip fetches hatchling from the package index into an isolated build environment
        build = [python, "-m", "pip", "wheel", "--no-deps", "-w", wheels, CORE_PACKAGE]
    _run(build, env, tmp_path)
    (wheel,) = wheels.glob("phyper_core-*.whl")
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", wheel], env, tmp_path)

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(IRIS_CONFIG, project / "config.py")
    resources = (*RESOURCES, None)
    result = json.loads(run_python(_IN_THE_VENV % (resources, resources), env=env, cwd=project, python=python))

    expected_hashes = [
        [i.get_instance_hash(r) for r in resources] for i in make_parser().get_instances_from_dictionary(GRID)
    ]
    assert [3, 6, 18, 90] == result["distinct"]
    assert expected_hashes == result["hashes"]
    assert (False, []) == (result["pandas_installed"], result["required_without_extras"])
    assert Path(result["phyper_file"]).resolve().is_relative_to(Path(result["prefix"]).resolve())
    assert Path(result["prefix"]).resolve() == venv.resolve()
    # the console script of the wheel, with no pandas: `phyper --version` and an import error in one line
    script = python.with_name("phyper.exe" if os.name == "nt" else "phyper")
    version = subprocess.run([script, "--version"], capture_output=True, text=True, env=env, cwd=project)
    no_pipeline = subprocess.run([script, "ls"], capture_output=True, text=True, env=env, cwd=project)
    assert (0, f"phyper {phyper.__version__}\n") == (version.returncode, version.stdout)
    assert 2 == no_pipeline.returncode
    assert no_pipeline.stderr.startswith(f"phyper: no pipeline.py in {project}: run phyper from the folder holding your "
                                         "pipeline.py, or pass --pipeline MODULE:ATTRIBUTE")
