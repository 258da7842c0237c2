"""The Iris numbers the documentation states are the plan's: jobs, engine jobs, batches.

The quick start once said "102 jobs as 20 engine jobs" when the plan had 103 and 21.
The plan is read in a separate process (the example's modules are imported from its
folder, as an engine does); each sentence below must be found, so rewording one
without keeping its numbers fails here rather than going unchecked.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from engines import IRIS, REPO, environment

PLAN_COUNTS = """
import json
from pipeline import pipeline
plan = pipeline.plan()
print(json.dumps({
    "jobs": len(plan.jobs),
    "engine_jobs": len(list(plan.engine_jobs())),
    "steps": {step.name: len(plan.jobs_of(step.name)) for step in plan.steps},
    "trainings": len(plan.jobs_of("train_model")),
    "batches": len(plan.engine_jobs_of("train_model")),
}))
"""

# (file, pattern): every named group is a count of the plan
SENTENCES = [
    ("README.md", r"the (?P<jobs>\d+) jobs of the Iris pipeline as (?P<engine_jobs>\d+) engine jobs \(the "
                  r"(?P<trainings>\d+) trainings run in\s+(?P<batches>\d+)\s+batches"),
    ("docs/quickstart.md", r"the (?P<jobs>\d+) jobs of the Iris pipeline as (?P<engine_jobs>\d+) engine jobs "
                           r"\(the (?P<trainings>\d+) trainings run in\s+(?P<batches>\d+)\s+batches"),
    ("docs/iris.md", r"def train_model\(instance\): \.\.\. +# (?P<trainings>\d+) jobs, in (?P<batches>\d+) batches"),
    ("examples/iris/pipeline.py", r"train_model \((?P<trainings>\d+), in (?P<batches>\d+) batches\)"),
]


@pytest.fixture(scope="module")
def counts() -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", PLAN_COUNTS], cwd=IRIS, env=environment(), capture_output=True, text=True, check=True
    )
    return dict(json.loads(completed.stdout))


@pytest.mark.parametrize(("page", "pattern"), SENTENCES, ids=[page for page, _ in SENTENCES])
def test_the_documented_iris_counts_are_the_plans(page: str, pattern: str, counts: dict[str, object]) -> None:
    text = re.sub(r"\s+", " ", (REPO / page).read_text(encoding="utf-8"))
    found = list(re.finditer(pattern.replace(r"\s+", " "), text))

    assert found, f"{page}: the sentence with the Iris counts is gone (pattern {pattern!r})"
    for match in found:
        assert {name: counts[name] for name in match.groupdict()} == {
            name: int(value) for name, value in match.groupdict().items()
        }, f"{page}: {match[0]!r}"


def test_the_example_readme_gives_each_steps_jobs(counts: dict[str, object]) -> None:
    rows = re.findall(r"^\| `(\w+)` \| (\d+)\b", (IRIS / "README.md").read_text(encoding="utf-8"), re.M)

    assert counts["steps"] == {step: int(jobs) for step, jobs in rows}
