"""Code fingerprints (phyper._planning.code) on a project of several modules written to a folder.

Each fingerprint is taken in a fresh Python process (the project imported as a user
would), so an edit of a file is seen exactly as the next job or ``phyper status`` would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

CONFIG = '''
import phyper


class NonKeys:
    n_epochs = 10


class Instance(phyper.Parser, NonKeys):
    dataset = "small"
    size = 1


parser = Instance(hashed_resources_folder="derived_data")
parser.register_new_resource(name="data", dependencies=["dataset"])
instances = parser.get_instances_from_dictionary({"dataset": ["small", "large"], "size": [1, 2]})
'''

HELPERS = '''
"""Helpers used by two steps."""
WINDOW = 2


def moving_average(values, window=WINDOW):
    """Mean over a sliding window."""
    return [sum(values[i:i + window]) / window for i in range(len(values) - window + 1)]


def peak(values):
    return max(values)
'''

MODEL = '''
import json


class Base:
    scale = 2

    def norm(self, x):
        return x * self.scale


class Model(Base):
    def __init__(self, size):
        self.size = size

    def forward(self, x):
        return self.norm(x) + self.size

    def save(self, path):
        with open(path, "w") as handle:
            json.dump({"size": self.size}, handle)
'''

DATASET = '''
def transform_data(values):
    return [value * 2 for value in values]
'''

STEPS = '''
import functools
import importlib

import config
import helpers
from helpers import peak
from model import Model


def prepare(instance):
    # the data set
    import dataset
    return dataset.transform_data([1, 2, 3, instance.size])


def train(instance):
    model = Model(instance.size)
    return model.forward(helpers.moving_average(prepare(instance))[0])


def summarise(instances):
    return peak([instance.size for instance in instances])


def uses_config(instance):
    return [other.size for other in config.instances] + [config.Instance.size]


def scaled(instance, transform=helpers.moving_average):
    return transform([instance.size])


def make_closure():
    factor = helpers.peak

    def inner(instance):
        return factor([instance.size])

    return inner


closure = make_closure()
partial_step = functools.partial(scaled, transform=peak)
lambda_step = lambda instance: helpers.peak([instance.size])


def dynamic(instance, name):
    module = importlib.import_module(name)
    return getattr(module, name)


def with_package(instance):
    import pytest
    return pytest.approx(instance.size)
'''

FILES = {
    "config.py": CONFIG,
    "helpers.py": HELPERS,
    "model.py": MODEL,
    "dataset.py": DATASET,
    "steps.py": STEPS,
}

PROBE = """
import json, sys
sys.path.insert(0, ".")
import steps
from phyper._planning.code import step_code
out = {}
for name in sys.argv[1:]:
    code = step_code(getattr(steps, name), name)
    out[name] = {"digest": code.digest, "functions": code.functions, "warnings": list(code.warnings),
                 "packages": code.packages, "sources": {n: p.source for n, p in code.pieces.items()}}
print(json.dumps(out))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
    return tmp_path


def fingerprints(project: Path, *steps: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, *steps], cwd=project, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def edit(project: Path, name: str, old: str, new: str) -> None:
    path = project / name
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1))


ALL_STEPS = ("prepare", "train", "summarise", "uses_config", "scaled", "closure", "partial_step", "lambda_step")


def digests(project: Path, *steps: str) -> dict[str, str]:
    return {name: value["digest"] for name, value in fingerprints(project, *steps).items()}


def test_a_step_reaches_functions_methods_classes_and_values_across_modules(project: Path) -> None:
    train = fingerprints(project, "train")["train"]
    assert sorted(train["functions"]) == [
        "dataset.transform_data",
        "helpers.WINDOW",
        "helpers.moving_average",
        "model.Base",
        "model.Base.norm",
        "model.Model",
        "model.Model.__init__",
        "model.Model.forward",
        "model.Model.save",
        "steps.prepare",
        "steps.train",
    ]
    assert train["warnings"] == []
    # normalised: no docstring, no comment
    assert train["sources"]["helpers.moving_average"] == (
        "def moving_average(values, window=WINDOW):\n"
        "    return [sum(values[i:i + window]) / window for i in range(len(values) - window + 1)]"
    )


def test_comments_docstrings_formatting_and_blank_lines_change_nothing(project: Path) -> None:
    before = digests(project, *ALL_STEPS)
    edit(project, "helpers.py", '    """Mean over a sliding window."""\n', '    """Mean, reworded."""  # why\n\n')
    edit(project, "helpers.py", "def peak(values):\n    return max(values)", "def peak(values):\n\n    return max(\n        values,\n    )  # largest")
    edit(project, "model.py", "class Model(Base):\n", '# the model\nclass Model(Base):\n    """A model."""\n\n')
    edit(project, "steps.py", "    # the data set\n", "    '''Prepare.'''\n    # the data set, explained at length\n\n\n")
    edit(project, "steps.py", "lambda instance: helpers.peak([instance.size])", "lambda instance: helpers.peak( [ instance.size ] )  # note")
    assert digests(project, *ALL_STEPS) == before


def test_editing_one_helper_changes_only_the_steps_that_reach_it(project: Path) -> None:
    before = digests(project, *ALL_STEPS)
    edit(project, "helpers.py", "return max(values)", "return max(values) + 1")
    after = digests(project, *ALL_STEPS)
    changed = sorted(name for name in ALL_STEPS if before[name] != after[name])
    # summarise (from-import), closure (a closure cell), partial_step (a partial's argument),
    # lambda_step (a module attribute); train reaches moving_average only
    assert changed == ["closure", "lambda_step", "partial_step", "summarise"]


def test_a_method_of_the_model_class_changes_training_and_names_it(project: Path) -> None:
    before = fingerprints(project, "train", "prepare")
    edit(project, "model.py", "return self.norm(x) + self.size", "return self.norm(x) - self.size")
    after = fingerprints(project, "train", "prepare")
    assert before["prepare"]["digest"] == after["prepare"]["digest"]
    assert before["train"]["digest"] != after["train"]["digest"]
    old, new = before["train"]["functions"], after["train"]["functions"]
    assert sorted(name for name in old if old[name] != new[name]) == ["model.Model.forward"]


def test_a_base_class_method_and_a_class_attribute_count(project: Path) -> None:
    before = fingerprints(project, "train")["train"]["functions"]
    edit(project, "model.py", "    scale = 2\n", "    scale = 3\n")
    edit(project, "model.py", "return x * self.scale", "return x * self.scale * 1")
    after = fingerprints(project, "train")["train"]["functions"]
    assert sorted(name for name in before if before[name] != after[name]) == ["model.Base", "model.Base.norm"]


def test_modules_imported_inside_a_function_body_are_followed(project: Path) -> None:
    before = digests(project, "prepare", "summarise")
    edit(project, "dataset.py", "value * 2", "value * 3")
    after = digests(project, "prepare", "summarise")
    assert (before["prepare"] != after["prepare"], before["summarise"] == after["summarise"]) == (True, True)


def test_a_module_constant_and_a_default_argument_count(project: Path) -> None:
    before = fingerprints(project, "train", "scaled", "summarise")
    edit(project, "helpers.py", "WINDOW = 2", "WINDOW = 3")
    after = fingerprints(project, "train", "scaled", "summarise")
    assert [before[name]["digest"] != after[name]["digest"] for name in ("train", "scaled", "summarise")] == [
        True,
        True,
        False,
    ]
    assert "helpers.moving_average" in after["scaled"]["functions"]  # reached through a default


def test_grid_values_and_non_key_defaults_in_config_are_not_code(project: Path) -> None:
    before = digests(project, *ALL_STEPS)
    assert "config.Instance" not in fingerprints(project, "uses_config")["uses_config"]["functions"]
    edit(project, "config.py", '"size": [1, 2]', '"size": [1, 2, 3]')
    edit(project, "config.py", "n_epochs = 10", "n_epochs = 20")
    edit(project, "config.py", 'dataset = "small"', 'dataset = "small"  # the default')
    assert digests(project, *ALL_STEPS) == before


def test_a_partial_and_a_lambda_work_as_steps(project: Path) -> None:
    result = fingerprints(project, "partial_step", "lambda_step")
    assert sorted(result["lambda_step"]["functions"]) == ["helpers.peak", "steps.<lambda>"]
    assert sorted(result["partial_step"]["functions"]) == [
        "helpers.WINDOW",
        "helpers.moving_average",
        "helpers.peak",
        "steps.scaled",
        "steps.scaled(partial)",
    ]
    before = result["partial_step"]["digest"]
    edit(project, "steps.py", "functools.partial(scaled, transform=peak)", "functools.partial(scaled, transform=max)")
    assert digests(project, "partial_step")["partial_step"] != before


def test_references_that_cannot_be_followed_are_named_warnings(project: Path) -> None:
    result = fingerprints(project, "dynamic", "train")
    assert result["dynamic"]["warnings"] == [
        "steps.dynamic uses a module imported by a computed name (line 48): the code it reaches is not tracked",
        "steps.dynamic uses getattr with a computed name (line 49): the code it reaches is not tracked",
    ]
    assert result["train"]["warnings"] == []


def test_third_party_distributions_are_listed_with_their_versions(project: Path) -> None:
    import importlib.metadata

    result = fingerprints(project, "with_package", "train")
    assert result["with_package"]["packages"] == {"pytest": importlib.metadata.version("pytest")}
    assert result["train"]["packages"] == {}


def test_a_function_of_an_installed_package_or_phyper_is_not_project_code(project: Path) -> None:
    (project / "steps.py").write_text(
        "import json\nimport phyper\nimport pytest\n\n\ndef step(instance):\n"
        "    return json.dumps(pytest.approx(1)) and phyper.atomic_output\n"
    )
    result = fingerprints(project, "step")["step"]
    assert sorted(result["functions"]) == ["steps.step"]
    assert sorted(result["packages"]) == ["pytest"]


def test_computed_once_per_process(project: Path) -> None:
    script = (
        "import sys; sys.path.insert(0, '.')\nimport steps\nfrom phyper._planning.code import step_code\n"
        "print(step_code(steps.train) is step_code(steps.train))"
    )
    completed = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "True"
