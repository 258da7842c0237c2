"""Every package's metadata: one version, compatible ranges, licence, URLs, a changelog entry.

The version is written once, in ``packages/phyper-core/src/phyper/_version.py``; every
``pyproject.toml`` reads it (``[tool.hatch.version]``), and an sdist keeps it in its
``PKG-INFO``, which hatchling reads when it builds the wheel from the sdist. `.ci/wheels`
builds every sdist and wheel, rebuilds each wheel from its sdist, installs them and runs
them; this module checks what those builds are made from.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import phyper
from engines import REPO

PACKAGES = ["packages/phyper-core", "packages/phyper-snakemake", "packages/phyper-doit", "examples/iris"]
VERSION_FILE = REPO / "packages" / "phyper-core" / "src" / "phyper" / "_version.py"


def project(package: str) -> dict[str, Any]:
    with open(REPO / package / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def the_version() -> str:
    (version,) = re.findall(r'^__version__ = "([^"]+)"$', VERSION_FILE.read_text(encoding="utf-8"), re.M)
    return version


def test_the_version_is_written_once_and_is_phyper_version() -> None:
    assert the_version() == phyper.__version__
    assert Version(the_version())


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_reads_the_one_version(package: str) -> None:
    config = project(package)

    assert "version" not in config["project"]
    assert "version" in config["project"]["dynamic"]
    assert (REPO / package / config["tool"]["hatch"]["version"]["path"]).resolve() == VERSION_FILE


@pytest.mark.parametrize("package", PACKAGES[1:])
def test_a_package_requires_a_phyper_range_holding_this_version_and_not_the_next_minor(package: str) -> None:
    version = Version(the_version())
    next_minor = Version(f"{version.major}.{version.minor + 1}.0")
    requirements = [Requirement(line) for line in project(package)["project"]["dependencies"]]
    ours = [requirement for requirement in requirements if requirement.name.startswith("phyper-")]

    assert {"phyper-core"} <= {requirement.name for requirement in ours}
    for requirement in ours:
        assert requirement.specifier.contains(version), requirement
        assert not requirement.specifier.contains(next_minor), f"{requirement}: no upper bound"


def test_the_example_requires_what_it_imports() -> None:
    requirements = {Requirement(line).name: Requirement(line) for line in project("examples/iris")["project"]["dependencies"]}

    assert str(requirements["torch"].specifier) == "==2.13.0"
    assert {"h5py", "scikit-learn", "matplotlib", "pandas", "phyper-snakemake", "phyper-doit"} <= set(requirements)
    assert {"report", "pandas"} <= requirements["phyper-core"].extras


def test_the_examples_hatch_environment_is_the_roots_and_meets_what_the_package_requires() -> None:
    # `cd examples/iris && hatch run phyper ...` takes the example's pyproject.toml (hatch
    # takes the nearest one): its default environment is the root's (the same folder), the
    # phyper packages come from their folders, and every other requirement, those of the
    # phyper-core extras it names included, is listed (made from there first, it works too)
    example = project("examples/iris")
    extras = project("packages/phyper-core")["project"]["optional-dependencies"]
    required = [Requirement(text) for text in example["project"]["dependencies"]]
    (core,) = [requirement for requirement in required if requirement.name == "phyper-core"]
    expected = [str(r) for r in required if not r.name.startswith("phyper-")]
    expected += [str(Requirement(text)) for extra in sorted(core.extras) for text in extras[extra]]
    environment = example["tool"]["hatch"]["envs"]["default"]

    with open(REPO / "hatch.toml", "rb") as handle:
        root = tomllib.load(handle)["envs"]["default"]

    assert (REPO / root["path"]).resolve() == (REPO / "examples" / "iris" / environment["path"]).resolve()
    assert sorted(expected) == sorted(str(Requirement(text)) for text in environment["dependencies"])
    assert ["../../packages/*"] == environment["workspace"]["members"]
    assert (True, "pip") == (environment["skip-install"], environment["installer"])
    assert "python -m phyper {args}" == environment["scripts"]["phyper"]


def test_only_the_default_environment_has_the_roots_path() -> None:
    # every environment inherits the default's table: the others must not share its folder
    with open(REPO / "hatch.toml", "rb") as handle:
        environments = tomllib.load(handle)["envs"]

    assert {"default": ".venv"} == {name: env.get("path") for name, env in environments.items() if env.get("path") != ""}


def test_the_hatch_workspace_holds_every_package() -> None:
    with open(REPO / "hatch.toml", "rb") as handle:
        members = tomllib.load(handle)["envs"]["default"]["workspace"]["members"]

    assert {str(path.parent.relative_to(REPO)) for path in REPO.glob("packages/*/pyproject.toml")} | {
        "examples/iris"
    } == {str(path.relative_to(REPO)) for member in members for path in REPO.glob(member)}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_has_the_licence_and_the_project_urls(package: str) -> None:
    config = project(package)["project"]

    assert "MIT" == config["license"]
    assert ["LICENSE"] == config["license-files"]
    assert (REPO / "LICENSE").read_text(encoding="utf-8") == (REPO / package / "LICENSE").read_text(encoding="utf-8")
    assert {"Homepage", "Source", "Issues", "Changelog", "Documentation"} <= set(config["urls"])
    assert config["urls"]["Changelog"].endswith("/CHANGELOG.md")


def test_the_changelog_has_an_entry_for_this_version() -> None:
    headings = re.findall(r"^## \[?([^\]\s]+)\]?", (REPO / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)

    assert the_version() in headings
