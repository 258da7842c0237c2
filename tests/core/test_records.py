"""Records as read from disk: the JSON of docs/state-files.md becomes a typed `CompletionRecord`."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

import phyper
from phyper._state.formats import CompletionRecord, RecordCode
from phyper._state.records import read_record_checked

# written by the previous phyper (records held dicts), keys as docs/state-files.md lists them,
# with one key no phyper knows and one input fingerprint of the older [size, mtime_ns] form
PREVIOUS_RECORD: dict[str, Any] = {
    "phyper_record": 1,
    "phyper_version": "0.1.0",
    "step": "train",
    "key": "0ddf3a0a5bd0ab4e6a5a62c1e0b2e0d1",
    "outputs": {"derived_data/grid/0ddf3a0a5bd0ab4e6a5a62c1e0b2e0d1/model.txt": [5, 1700000000123456789, "ab" * 32]},
    "inputs": {"data/train.csv": [120, 1600000000000000000], "data/test.csv": [80, 1600000000000000001, "cd" * 32]},
    "started": 1700000000.25,
    "finished": 1700000002,
    "duration_s": 1.75,
    "engine": None,
    "host": "node-1",
    "pid": 4242,
    "scheduler_job_id": "981",
    "non_keys": {"epochs": 3, "note": "first"},
    "migrated_from": "11111111111111111111111111111111",
    "code": {"digest": "c0de", "packages": {"numpy": "2.1.0"}},
    "a_later_field": [1, 2],
}

PREVIOUS_BATCH_RECORD: dict[str, Any] = {
    "phyper_record": 1,
    "step": "train",
    "key": "batch-1-of-2",
    "outputs": {},
    "inputs": {},
    "members": ["aa", "bb"],
    "ran": ["bb"],
    "engine": "doit",
}


def write(path: Path, content: object) -> str:
    path.write_text(json.dumps(content, indent=1, sort_keys=True) + "\n")
    return str(path)


def test_a_record_written_by_the_previous_phyper_reads_into_typed_fields(tmp_path: Path) -> None:
    record, problem = read_record_checked(write(tmp_path / "r.json", PREVIOUS_RECORD))

    assert problem is None
    assert isinstance(record, CompletionRecord)
    assert ("train", "0ddf3a0a5bd0ab4e6a5a62c1e0b2e0d1") == (record.step, record.key)
    assert {"derived_data/grid/0ddf3a0a5bd0ab4e6a5a62c1e0b2e0d1/model.txt": (5, 1700000000123456789, "ab" * 32)} == (
        record.outputs
    )
    assert {"data/train.csv": (120, 1600000000000000000), "data/test.csv": (80, 1600000000000000001, "cd" * 32)} == (
        record.inputs
    )
    assert (1700000000.25, 1700000002, 1.75) == (record.started, record.finished, record.duration_s)
    assert (None, "node-1", 4242, "981") == (record.engine, record.host, record.pid, record.scheduler_job_id)
    assert ("0.1.0", "11111111111111111111111111111111") == (record.phyper_version, record.migrated_from)
    assert {"epochs": 3, "note": "first"} == record.non_keys
    assert RecordCode("c0de", {"numpy": "2.1.0"}, {"digest": "c0de", "packages": {"numpy": "2.1.0"}}) == record.code
    assert (None, None) == (record.members, record.ran)
    assert PREVIOUS_RECORD == record.to_json()  # what is written back (accept, migrate): the same JSON, unknown keys kept


def test_a_batch_record_reads_with_its_members_and_one_without_them_is_not_a_batch_record(tmp_path: Path) -> None:
    record, problem = read_record_checked(write(tmp_path / "b.json", PREVIOUS_BATCH_RECORD), batch=True)
    assert problem is None and record is not None
    assert (("aa", "bb"), ("bb",), "doit") == (record.members, record.ran, record.engine)
    assert (None, None, None) == (record.started, record.non_keys, record.code)

    without = {key: value for key, value in PREVIOUS_BATCH_RECORD.items() if key != "members"}
    path = write(tmp_path / "c.json", without)
    assert (None, f"unreadable completion record ({path}: `members` is missing)") == read_record_checked(path, batch=True)


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"outputs": {"m.txt": [5, 17]}}, "`outputs` is entry 'm.txt': not a list of 3 items"),
        ({"inputs": {"d.csv": [5, "17"]}}, "`inputs` is entry 'd.csv': size and modification time are not integers"),
        ({"non_keys": [1]}, "`non_keys` is not an object"),
        ({"finished": "yesterday"}, "`finished` is not a finite number"),
        ({"step": None}, "`step` is not a string"),
    ],
)
def test_a_damaged_record_yields_its_reason_not_a_record(tmp_path: Path, change: dict[str, Any], what: str) -> None:
    path = write(tmp_path / "r.json", {**PREVIOUS_RECORD, **change})
    assert (None, f"unreadable completion record ({path}: {what})") == read_record_checked(path)


def test_a_code_field_that_is_not_an_object_reads_as_no_code_as_before(tmp_path: Path) -> None:
    # `code` is "any" in the format: a record with another value is today's code, not damaged
    for code in ("c0de", None, {"digest": 7, "packages": ["numpy"]}):
        record, problem = read_record_checked(write(tmp_path / "r.json", {**PREVIOUS_RECORD, "code": code}))
        assert problem is None and record is not None
        assert (None if not isinstance(code, dict) else RecordCode(None, None, code)) == record.code


class Grid(phyper.Parser):
    width = 1


def model_path(instance: Grid) -> str:
    return os.path.join(instance.get_resources_path(), "model.txt")


def test_a_hand_written_record_of_the_previous_format_completes_its_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pipeline = phyper.Pipeline(Grid(hashed_resources_folder="derived_data").get_instances_from_dictionary({"width": [1]}))
    pipeline.per_instance(outputs=[model_path], name="train")(lambda instance: None)
    (job,) = pipeline.plan()
    output = Path(job.outputs[0])
    output.parent.mkdir(parents=True)
    output.write_text("model")
    info = output.stat()
    literal = {
        "phyper_record": 1, "step": job.step, "key": job.key, "inputs": {}, "non_keys": {},
        "outputs": {job.outputs[0]: [info.st_size, info.st_mtime_ns, hashlib.sha256(b"model").hexdigest()]},
    }
    Path(job.record).parent.mkdir(parents=True)
    write(Path(job.record), literal)

    assert [] == [verdict.job.id for verdict in phyper.Verdicts(pipeline.plan()) if verdict.to_run]
    write(Path(job.record), {**literal, "outputs": {job.outputs[0]: [info.st_size + 1, info.st_mtime_ns, "00"]}})
    assert [f"output {job.outputs[0]} changed size"] == [verdict.reason for verdict in phyper.Verdicts(pipeline.plan())]
