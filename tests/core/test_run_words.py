"""The words the engines print about a job (phyper._running.words): why it runs, its batch, the closing line."""

from __future__ import annotations

import pytest

import phyper
from phyper._running.words import engine_job_label
from phyper._state.records import Reason

JOB = phyper.Job("train_model", "ab" * 16, (), (), "derived_data/.phyper/done/train_model/x.json", ())
BATCH = phyper.Job("train_model", "batch-1-of-7", (), (), "derived_data/.phyper/done/train_model/batch-1-of-7.json", (),
                   members=("a" * 32, "b" * 32, "c" * 32))


@pytest.mark.parametrize(
    ("kind", "reason", "words"),
    [
        (Reason.NO_RECORD, "no completion record", "new"),
        (Reason.UPSTREAM, "upstream job preprocess_data:0123 is to run", "inputs changed upstream"),
        (Reason.FORCED, "step `train_model` is forced", "forced"),
        (Reason.FAILED, "failed: RuntimeError: boom", "failed last time"),
        (Reason.FILES_CHANGED, "input derived_data/x/data.npy was rewritten after the job ran", "inputs changed upstream"),
        (Reason.FILES_CHANGED, "the job's inputs changed (grid or step definition)", "inputs changed upstream"),
        (Reason.FILES_CHANGED, "output derived_data/all/ab/model.torch is missing", "its outputs changed"),
        (Reason.FILES_CHANGED, "member aaaa: input derived_data/x/data.npy is missing", "inputs changed upstream"),
        (Reason.UNREADABLE, "unreadable completion record (x.json: not JSON)", "its completion record is damaged"),
    ],
)
def test_each_kind_of_reason_in_words_without_a_path(kind: Reason, reason: str, words: str) -> None:
    assert words == phyper.reason_in_words(phyper.JobVerdict(JOB, True, reason, kind=kind))


def test_code_changed_names_what_changed() -> None:
    verdict = phyper.JobVerdict(JOB, True, "made by older code", code_changes=("train.fit", "model.Net"), kind=Reason.OLDER_CODE)

    assert "code changed (train.fit, model.Net)" == phyper.reason_in_words(verdict)


def test_a_batch_is_named_by_its_number_and_member_count() -> None:
    verdict = phyper.JobVerdict(BATCH, True, "member aaaa: no completion record", kind=Reason.NO_RECORD)

    assert "train_model(batch 2 of 7: 3 jobs)" == engine_job_label(None, BATCH)  # type: ignore[arg-type]
    assert "train_model(batch 2 of 7: 3 jobs) · new" == phyper.job_announcement(None, verdict, BATCH)  # type: ignore[arg-type]
    assert "train_model(batch 2 of 7: 3 jobs) · forced" == phyper.job_announcement(None, None, BATCH, forced=True)  # type: ignore[arg-type]


def test_the_closing_line() -> None:
    assert "phyper: 20 jobs ran, 0 already done, 0 failed; `phyper status` shows the state" == phyper.closing_line(20, 0, 0)
    assert "phyper: 3 jobs ran, 15 already done, 1 failed, 1 not started; `phyper status` shows why" == phyper.closing_line(
        3, 15, 1, 1
    )
    assert "phyper: 4 jobs to run, 16 already done (dry run; `phyper status` says why)" == phyper.closing_line(4, 16, 0, dry_run=True)
