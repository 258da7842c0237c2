"""Whatever is on disk, every tool answers: no traceback, nothing lost (docs/state-files.md).

A small project written for this test (``tests/fixtures/sentences``: a resource step, a
batched per-instance step, an aggregate) is finished once per module by the runner.
Hypothesis then damages one of its state files per example (completion and batch
records, the job log, lock files, the plan-cache entry, manifests): cut at any byte,
bytes flipped, other valid JSON of the wrong shape, a newer format version, an empty
file, an empty folder in the file's place, or a symbolic link to itself in its place.

That last one stands for "no read permission": the tests run as root (here and in CI),
and root reads a file whatever its mode, so ``chmod 000`` proves nothing; opening a
link that points to itself fails with ``ELOOP`` for every user. (A FIFO would fail no
read either: it blocks the reader, which phyper avoids by opening state files without
blocking; ``test_a_fifo_in_place_of_a_record_does_not_block`` covers it once.)

Each example runs every command in-process through the CLI's ``main``, then a normal
run of every job to run, and checks the issue's promises. The engines' dry runs run as
real subprocesses on a fixed sample of damages.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines import BIN, REPO, environment, run

FIXTURE = REPO / "tests" / "fixtures" / "sentences"
STATE = Path("derived_data") / ".phyper"
PROJECT_MODULES = ("config", "pipeline")
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("status",),
    ("status", "-v"),
    ("ls",),
    ("ls", "--json"),
    ("show", "<full>"),
    ("show", "<corpus>"),
    ("gc",),
    ("gc", "--delete"),
    ("migrate",),
    ("migrate", "--apply"),
    ("view",),
    ("collect",),
    ("report", "-o", "report.html"),
    ("plan",),
)
"""Every command a user may type on a damaged project (``<full>``/``<corpus>``: a hash of the grid)."""

EXAMPLES_PER_KIND = int(os.environ.get("PHYPER_FUZZ_EXAMPLES", "30"))
"""Damaged states tried per file kind (six kinds)."""
tried: list[str] = []
"""The damaged states tried (their number is printed at the end of the run)."""


# -- the finished project, and a copy of it per example ------------------------------------


@contextlib.contextmanager
def quiet() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


@contextlib.contextmanager
def inside(project: Path) -> Iterator[None]:
    """``project`` current and importable, its modules imported afresh (a new process would)."""
    before = os.getcwd()
    for name in PROJECT_MODULES:
        sys.modules.pop(name, None)
    sys.path.insert(0, str(project))
    os.chdir(project)
    try:
        yield
    finally:
        os.chdir(before)
        sys.path.remove(str(project))
        for name in PROJECT_MODULES:
            sys.modules.pop(name, None)


def load_pipeline() -> Any:
    import phyper

    return phyper.load_pipeline("pipeline:pipeline")


def engine_jobs_to_run(pipeline: Any) -> list[Any]:
    """The engine jobs an engine would start now (phyper's verdict, which both engines follow)."""
    import phyper

    return list(phyper.Verdicts(pipeline.plan()).engine_jobs_to_run())


def run_all() -> list[str]:
    """Run every engine job to run, in plan order, as the engines would; the ids run."""
    import phyper

    pipeline = load_pipeline()
    jobs = engine_jobs_to_run(pipeline)
    for job in jobs:
        phyper.run_job(pipeline, job.step, job.key)
    return [job.id for job in jobs]


def incomplete_jobs() -> list[str]:
    import phyper

    pipeline = load_pipeline()
    return [verdict.job.id for verdict in phyper.job_verdicts(pipeline) if verdict.to_run]


@dataclass(frozen=True)
class Finished:
    project: Path
    state_files: dict[str, list[str]]
    """File kind -> the state files of that kind (paths relative to the project)."""
    outputs: dict[str, bytes]
    """Every data file the jobs wrote (not manifests, not state), with its bytes."""
    full_hash: str
    corpus_hash: str


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    project = tmp_path_factory.mktemp("finished") / "sentences"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("__pycache__"))
    with inside(project), quiet():
        ran = run_all()
        assert [] == incomplete_jobs()
        from phyper._cli import main

        assert 0 == main(["status"])  # stores the plan in the cache, as any engine start does
        pipeline = load_pipeline()
        first = pipeline.instances[0]
        full_hash, corpus_hash = first.get_instance_hash(), first.get_instance_hash("corpus")
    assert 6 == len(ran)  # 2 corpora, 3 batches of the 8 sentences (at most 3 each), 1 report
    state = project / STATE
    kinds: dict[str, list[str]] = {
        "record": [], "batch record": [], "job log": ["jobs.jsonl"], "lock": [], "plan cache": [], "manifest": [],
    }
    for path in sorted(state.rglob("*")):
        if not path.is_file():
            continue
        relative = str(path.relative_to(state))
        if relative.startswith("done/"):
            kinds["batch record" if path.name.startswith("batch-") else "record"].append(relative)
        elif relative.startswith("locks/"):
            kinds["lock"].append(relative)
        elif relative.startswith("plan-cache/"):
            kinds["plan cache"].append(relative)
    data = project / "derived_data"
    outputs = {}
    for path in sorted(data.rglob("*")):
        if path.is_file() and STATE.parts[1] not in path.parts:
            if path.name == "phyper-manifest.json":
                kinds["manifest"].append(os.path.relpath(path, state))  # ../corpus/<hash>/...
            else:
                outputs[str(path.relative_to(project))] = path.read_bytes()
    assert (2 + 8 + 1, 3, 1) == (len(kinds["record"]), len(kinds["batch record"]), len(kinds["plan cache"]))
    assert 2 + 8 == len(kinds["manifest"])
    assert 11 == len(outputs)
    return Finished(project, kinds, outputs, full_hash, corpus_hash)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One fixed place for every copy: the plan cache is keyed by the working folder."""
    root = tmp_path_factory.mktemp("damaged")
    yield root / "project"


def fresh_copy(finished: Finished, destination: Path) -> Path:
    if destination.exists() or destination.is_symlink():
        shutil.rmtree(destination)
    # copy2 keeps modification times: the records still match the files
    shutil.copytree(finished.project, destination, symlinks=True)
    return destination


# -- the damages ----------------------------------------------------------------------------

WRONG_SHAPES: tuple[Any, ...] = (
    {"phyper_record": 1, "outputs": 5},
    [],
    None,
    "a string",
    3.5,
    {},
    {"phyper_record": "1", "step": "x", "key": "y", "outputs": {}, "inputs": {}},
    {"phyper_record": 1, "step": "x", "key": "y", "outputs": {"a": [1, 2]}, "inputs": {}},
    {"phyper_record": 1, "step": "x", "key": "y", "outputs": {}, "inputs": {"a": "big"}},
    {"phyper_record": 1, "step": 7, "key": "y", "outputs": {}, "inputs": {}, "finished": "late"},
    {"phyper_record": 1, "step": "x", "key": "y", "outputs": {}, "inputs": {}, "members": "all"},
    {"phyper_manifest": 1, "hash_format_version": 1, "resource": "all", "hash": "0", "key_values": []},
    {"pid": "me", "host": 5},
)


@dataclass(frozen=True)
class Damage:
    kind: str
    """truncate, flip, json, newer, empty, folder, loop, log-lines."""
    detail: Any = None

    def apply(self, path: Path) -> None:
        if self.kind == "truncate":
            raw = path.read_bytes()
            path.write_bytes(raw[: int(self.detail * len(raw))])
        elif self.kind == "flip":
            flipped = bytearray(path.read_bytes())
            for fraction, mask in self.detail:
                if flipped:
                    flipped[int(fraction * len(flipped))] ^= mask
            path.write_bytes(bytes(flipped))
        elif self.kind == "json":
            path.write_text(json.dumps(self.detail))
        elif self.kind == "newer":
            _write_newer(path)
        elif self.kind == "empty":
            path.write_bytes(b"")
        elif self.kind == "folder":
            path.unlink()
            path.mkdir()
        elif self.kind == "loop":
            path.unlink()
            path.symlink_to(path.name)  # a link to itself: open() fails with ELOOP, even for root
        elif self.kind == "log-lines":
            with path.open("ab") as handle:
                handle.write(self.detail)
        else:
            raise AssertionError(self.kind)


def _write_newer(path: Path) -> None:
    data = json.loads(path.read_text()) if path.name != "jobs.jsonl" else {}
    if path.name == "jobs.jsonl":
        with path.open("a") as handle:
            handle.write(json.dumps({"phyper_log": 2, "step": "x", "key": "y", "status": "done"}) + "\n")
    elif path.name == "phyper-manifest.json":
        path.write_text(json.dumps({**data, "phyper_manifest": 2}))
    else:
        path.write_text(json.dumps({**data, "phyper_record": 2, "phyper_version": "9.0"}))


LOG_LINES = (
    b"[]\n",
    b"null\n",
    b'{"step": "write_sentence", "key": 5, "status": "done"}\n',
    b'{"step": "write_sentence", "key": "abc", "status": "failed"}\n',
    b'{"step": "make_corpus", "key": "abc", "sta',  # what a full disk leaves
    b"\xff\xfe not text\n",
)


def damages(kind: str) -> st.SearchStrategy[Damage]:
    fraction = st.floats(min_value=0.0, max_value=0.999)
    common = [
        st.builds(Damage, st.just("truncate"), fraction),
        st.builds(Damage, st.just("flip"), st.lists(st.tuples(fraction, st.integers(1, 255)), min_size=1, max_size=3)),
        st.builds(Damage, st.just("empty")),
        st.builds(Damage, st.just("folder")),
        st.builds(Damage, st.just("loop")),
    ]
    if kind in ("record", "batch record", "manifest", "lock"):
        common.append(st.builds(Damage, st.just("json"), st.sampled_from(WRONG_SHAPES)))
    if kind in ("record", "batch record", "manifest", "job log"):
        common.append(st.builds(Damage, st.just("newer")))
    if kind == "job log":
        common.append(st.builds(Damage, st.just("log-lines"), st.lists(st.sampled_from(LOG_LINES), min_size=1).map(b"".join)))
    return st.one_of(common)


# -- what must hold -------------------------------------------------------------------------

NAMED_ERROR = re.compile(r"^phyper: [A-Z]\w*Error: .+", re.MULTILINE)


def run_command(words: tuple[str, ...], finished: Finished) -> tuple[int, str, str]:
    from phyper._cli import main

    argv = [finished.full_hash if w == "<full>" else finished.corpus_hash if w == "<corpus>" else w for w in words]
    with quiet() as (out, err):
        code = main(argv)  # an exception here is a traceback for the user: the test fails
    return code, out.getvalue(), err.getvalue()


def check_outputs_kept(finished: Finished, project: Path, when: str) -> None:
    changed = [
        path for path, content in finished.outputs.items()
        if not (project / path).is_file() or (project / path).read_bytes() != content
    ]
    assert [] == changed, f"{when}: outputs lost or rewritten"


def check_damaged_state(finished: Finished, project: Path, kind: str, target: str, damage: Damage) -> None:
    path = project / STATE / target
    damage.apply(path)
    pristine = finished.project / STATE / target
    # a newer record stops every tool; a newer manifest only the jobs that write its folder
    newer = damage.kind == "newer" and kind in ("record", "batch record")
    starts_before = (project / "starts.log").read_text()
    named_newer = 0
    commands = COMMANDS
    if kind == "manifest":  # the folder whose manifest is damaged, described
        commands = (*COMMANDS, ("show", Path(target).parent.name))
    with inside(project):
        for words in commands:
            code, out, err = run_command(words, finished)
            assert "Traceback" not in err
            if code != 0:
                # a named error, or gc/migrate listing what they leave alone
                assert NAMED_ERROR.search(err) or (words[0] == "gc" and code == 1 and "left alone" in err), (
                    words, code, err)
            if newer and "StateFormatError" in err:
                named_newer += 1
                assert (2, True) == (code, "Upgrade phyper" in err)
            if words == ("status",):
                if newer and kind == "record":
                    assert (2, True) == (code, "StateFormatError" in err)
                elif kind == "record" and damage.kind in ("json", "empty", "folder", "loop"):
                    assert 0 == code
                    assert f"unreadable completion record ({path.relative_to(project)}" in out
            if kind == "job log" and damage.kind == "log-lines":
                # one warning per command that reads the log: show and report, and every command
                # that asks the verdicts (status, ls, collect), which look in it for a complete job's
                # last rerun that failed
                reads = words[0] in ("show", "report", "status", "ls", "collect")
                assert (1 if reads else 0) == err.count("phyper: warning: the job log"), (words, err)
            check_outputs_kept(finished, project, f"after `phyper {' '.join(words)}`")
        # batch records do not decide a verdict (their members' records do): status and the
        # runner do not read them, but ls, gc and migrate list every record
        assert (named_newer > 0) == newer
        # a normal run: what an engine starts now
        with quiet():
            if newer and kind == "record":
                import phyper

                with pytest.raises(phyper.StateFormatError, match="Upgrade phyper"):
                    run_all()
                # nothing ran, nothing was deleted; upgrading phyper is the fix: put the file back
                assert starts_before == (project / "starts.log").read_text()
                _restore(pristine, path)
            run_all()
            assert [] == incomplete_jobs()
    check_outputs_kept(finished, project, "after a normal run")


def _restore(pristine: Path, path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    else:
        path.unlink()
    shutil.copy2(pristine, path)


KINDS = ("record", "batch record", "job log", "lock", "plan cache", "manifest")


@pytest.mark.parametrize("kind", KINDS)
def test_every_command_on_damaged_state(
    finished: Finished, workspace: Path, kind: str, record_property: Callable[[str, object], None]
) -> None:
    @settings(
        max_examples=EXAMPLES_PER_KIND,
        derandomize=True,  # the same damaged states on every machine and every CI run
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.sampled_from(finished.state_files[kind]), damages(kind))
    def one(target: str, damage: Damage) -> None:
        tried.append(f"{kind} {target} {damage}")
        project = fresh_copy(finished, workspace)
        check_damaged_state(finished, project, kind, target, damage)

    before = len(tried)
    one()
    assert EXAMPLES_PER_KIND == len(tried) - before
    record_property("damaged_states", EXAMPLES_PER_KIND)  # summed in the run's summary (conftest.py)


# -- the cases of the issue, one by one -----------------------------------------------------


def record_of(finished: Finished, step: str, index: int = 0) -> str:
    return [path for path in finished.state_files["record"] if path.startswith(f"done/{step}/")][index]


def test_a_record_of_the_wrong_shape_is_unreadable_and_its_job_runs_again(finished: Finished, workspace: Path) -> None:
    project = fresh_copy(finished, workspace)
    target = record_of(finished, "write_sentence")
    path = project / STATE / target
    path.write_text(json.dumps({"phyper_record": 1, "outputs": 5}))
    shown = path.relative_to(project)
    with inside(project):
        code, out, err = run_command(("status",), finished)
        assert (0, "") == (code, err)
        assert f"unreadable completion record ({shown}: `step` is missing)" in out
        for words in (("ls",), ("show", Path(target).stem)):
            code, out, err = run_command(words, finished)
            assert (0, "") == (code, err)
        with quiet():
            ran = run_all()
        assert 2 == len(ran)  # the batch holding the job, and the report downstream of it
        assert [] == incomplete_jobs()
    starts = (project / "starts.log").read_text().splitlines()
    # only the damaged job ran again in its batch (its members with a valid record were skipped)
    assert [f"write_sentence {Path(target).stem}", "report all"] == starts[-2:]
    check_outputs_kept(finished, project, "after the run")


def test_a_record_that_is_not_json_is_unreadable_not_missing(finished: Finished, workspace: Path) -> None:
    project = fresh_copy(finished, workspace)
    target = record_of(finished, "make_corpus")
    (project / STATE / target).write_text('{"phyper_record": 1, "step": "make_corpus", "ke')
    with inside(project):
        code, out, _ = run_command(("status", "-v"), finished)
    assert 0 == code
    assert "no completion record" not in out
    assert f"unreadable completion record ({STATE / target}: is not valid JSON" in out


def test_a_damaged_job_log_is_skipped_line_by_line_with_one_warning(finished: Finished, workspace: Path) -> None:
    project = fresh_copy(finished, workspace)
    log = project / STATE / "jobs.jsonl"
    kept = len(log.read_text().splitlines())
    with log.open("ab") as handle:
        handle.write(b"[]\n" + b'{"step": "report", "key": "all", "status": "do')  # not an object; cut short
    # a job to run: status and ls then read the log (for why it is to run)
    (project / STATE / record_of(finished, "make_corpus")).unlink()
    with inside(project):
        for words in (("show", finished.full_hash), ("ls",), ("status",)):
            code, out, err = run_command(words, finished)
            assert 0 == code
            assert [f"phyper: warning: the job log {STATE / 'jobs.jsonl'} has 2 damaged line(s) (cut short, not "
                    "JSON or not a job entry); skipped them"] == err.splitlines()
        import phyper

        with quiet():
            assert kept == len(phyper.read_job_log(load_pipeline()))


def test_a_record_in_a_newer_format_stops_every_tool_with_a_named_error(finished: Finished, workspace: Path) -> None:
    project = fresh_copy(finished, workspace)
    target = project / STATE / record_of(finished, "write_sentence")
    _write_newer(target)
    written = target.read_bytes()
    with inside(project):
        for words in (("status",), ("ls",), ("gc", "--delete"), ("migrate", "--apply"), ("collect",)):
            code, out, err = run_command(words, finished)
            assert (2, "") == (code, out)
            assert (
                f"phyper: StateFormatError: {target.relative_to(project)} is a completion record in format 2, "
                "written by phyper 9.0; this phyper (0.1.0) reads format 1 at most. Upgrade phyper (pip install "
                "-U phyper-core) to use this project; nothing was run or deleted\n"
            ) == err
    assert written == target.read_bytes()
    check_outputs_kept(finished, project, "after every command")


def test_a_fifo_in_place_of_a_record_does_not_block(finished: Finished, workspace: Path) -> None:
    project = fresh_copy(finished, workspace)
    target = project / STATE / record_of(finished, "make_corpus")
    target.unlink()
    os.mkfifo(target)
    # a subprocess, so that a reader blocked on the FIFO would fail this test instead of hanging it
    done = run([str(BIN / "python"), "-m", "phyper", "status"], project, environment(), check=False)
    assert 0 == done.returncode, done.stderr
    assert f"unreadable completion record ({target.relative_to(project)}: is not a regular file)" in done.stdout


def test_a_damaged_lock_file_is_replaced(finished: Finished, workspace: Path) -> None:
    project = fresh_copy(finished, workspace)
    corpus = record_of(finished, "make_corpus")
    key = Path(corpus).stem
    lock = project / STATE / "locks" / "make_corpus" / f"{key}.lock"
    lock.unlink()
    lock.mkdir()  # an empty folder in the lock file's place
    (project / STATE / corpus).write_text("[]")  # so that the job has to run
    other = project / STATE / "locks" / "make_corpus" / f"{Path(record_of(finished, 'make_corpus', 1)).stem}.lock"
    other.write_bytes(b'{"pid": "me", "since')
    (project / STATE / record_of(finished, "make_corpus", 1)).write_text("")
    with inside(project), quiet():
        ran = run_all()
        assert [] == incomplete_jobs()
    assert {f"make_corpus:{key}", "report:all"} <= set(ran)
    assert lock.is_file() and other.is_file()
    assert {"pid", "host", "since"} == set(json.loads(other.read_text()))
    check_outputs_kept(finished, project, "after the run")


def test_a_damaged_manifest_stops_the_jobs_of_its_folder_with_a_named_error(
    finished: Finished, workspace: Path
) -> None:
    project = fresh_copy(finished, workspace)
    corpus = record_of(finished, "make_corpus")
    manifest = project / "derived_data" / "corpus" / Path(corpus).stem / "phyper-manifest.json"
    manifest.unlink()
    manifest.mkdir()  # a folder where the manifest should be
    (project / STATE / corpus).unlink()  # so that the job writing that folder has to run
    import phyper

    with inside(project), quiet():
        with pytest.raises(phyper.ManifestError, match=f"manifest {manifest.relative_to(project)} is not a valid "
                                                      "phyper manifest: is a folder, not a file"):
            run_all()
        code, out, err = run_command(("show", Path(corpus).stem), finished)
    assert (0, "") == (code, err)
    assert "  manifest: manifest derived_data/corpus/" in out
    check_outputs_kept(finished, project, "after the failed run")


def _shrink_grid(project: Path) -> None:
    """Drop seed 1 from the grid: its folders and records are no longer reached."""
    config = project / "config.py"
    config.write_text(config.read_text().replace("'seed': [0, 1]", "'seed': [0]"))


def test_gc_leaves_alone_and_lists_what_it_cannot_read(finished: Finished, workspace: Path) -> None:
    project = fresh_copy(finished, workspace)
    with inside(project):
        doomed = [i.get_instance_hash() for i in load_pipeline().instances if i.seed == 1]
    _shrink_grid(project)
    damaged, other = doomed[0], doomed[1]
    record = project / STATE / "done" / "write_sentence" / f"{damaged}.json"
    record.write_text("{}")
    with inside(project):
        code, out, err = run_command(("gc", "--delete"), finished)
    assert 1 == code
    assert (project / "derived_data" / "all" / damaged / "sentence.txt").read_bytes() == finished.outputs[
        f"derived_data/all/{damaged}/sentence.txt"]
    assert "{}" == record.read_text()
    assert not (project / "derived_data" / "all" / other).exists()
    assert not (project / STATE / "done" / "write_sentence" / f"{other}.json").exists()
    assert err.startswith("phyper: left alone 2 folder(s) or record(s) whose manifest or completion record "
                          "cannot be read")
    assert f"  derived_data/all/{damaged}: unreadable completion record ({record.relative_to(project)}: " \
           "`phyper_record` (the format version) is missing)" in err.splitlines()


def test_migrate_does_not_move_a_folder_whose_record_it_cannot_read(finished: Finished, workspace: Path) -> None:
    project = fresh_copy(finished, workspace)
    config = project / "config.py"
    config.write_text(config.read_text().replace("    seed = 0\n", "    seed = 0\n    shuffle = False\n"))
    with inside(project):
        pipeline = load_pipeline()
        full = sorted(i.get_instance_hash() for i in pipeline.instances)
    # the new key changes nothing but the full instances' hashes: each of their folders moves
    assert not set(full) & {Path(p).parent.name for p in finished.outputs if "/all/" in p}
    old = sorted({Path(p).parent.name for p in finished.outputs if "/all/" in p})
    record = project / STATE / "done" / "write_sentence" / f"{old[0]}.json"
    record.write_bytes(record.read_bytes()[:40])
    with inside(project):
        code, out, err = run_command(("migrate", "--apply"), finished)
    assert (0, "") == (code, err)
    assert out.startswith("moved 7 folder(s), rewrote 8 completion record(s)")
    assert f"  derived_data/all/{old[0]}: a completion record of this hash cannot be read: not moved" in out
    assert (project / "derived_data" / "all" / old[0] / "sentence.txt").is_file()
    assert [] == [h for h in old[1:] if (project / "derived_data" / "all" / h).exists()]
    with inside(project), quiet():
        run_all()
        assert [] == incomplete_jobs()


# -- the engines' dry runs, as real processes, on a sample of damages -------------------------

ENGINE_SAMPLE = ("wrong shape", "not json", "folder for a batch record", "damaged job log", "newer record")


def _damage_sample(finished: Finished, project: Path, name: str) -> str | None:
    """Apply one damage of the sample; the engine job it makes to run (None: nothing to run)."""
    member = record_of(finished, "write_sentence")
    with inside(finished.project), quiet():
        plan = load_pipeline().plan()
        batch_of_member = f"write_sentence:{plan.jobs['write_sentence:' + Path(member).stem].batch}"
    corpus = record_of(finished, "make_corpus")
    state = project / STATE
    if name == "wrong shape":
        (state / member).write_text(json.dumps({"phyper_record": 1, "outputs": 5}))
        return batch_of_member
    if name == "not json":
        (state / corpus).write_bytes(b"\x00\x01 not json")
        return f"make_corpus:{Path(corpus).stem}"
    if name == "folder for a batch record":
        batch = finished.state_files["batch record"][0]
        (state / batch).unlink()
        (state / batch).mkdir()
        # a batch is to run iff one of its members is: its own record decides nothing
        return None
    if name == "damaged job log":
        with (state / "jobs.jsonl").open("ab") as handle:
            handle.write(b'[]\n{"step": "x", "ke')
        return None
    _write_newer(state / corpus)
    return "newer"


def snakemake_rules_to_run(dry_run: str) -> dict[str, int]:
    if "Nothing to be done" in dry_run:
        return {}
    # the table runs from its header to the first empty line
    table = dry_run[dry_run.index("Job stats:") :].split("\n\n")[0]
    rows = (line.split() for line in table.splitlines())
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit() and row[0] not in ("total", "all")}


@pytest.mark.parametrize("damage", ENGINE_SAMPLE)
def test_the_engines_dry_runs_on_damaged_state(finished: Finished, tmp_path: Path, damage: str) -> None:
    project = tmp_path / "project"
    shutil.copytree(finished.project, project, symlinks=True)
    to_run = _damage_sample(finished, project, damage)
    if to_run != "newer":
        # phyper's own verdict, in-process, before any engine looks
        with inside(project), quiet():
            verdict = {job.id for job in engine_jobs_to_run(load_pipeline())}
        if to_run is None:
            assert set() == verdict
        else:
            assert to_run in verdict
    listing = run([str(BIN / "doit"), "list", "--all", "--status"], project, environment(), check=False)
    dry_run = run([str(BIN / "snakemake"), "-n"], project, environment(), check=False)
    for done in (listing, dry_run):
        assert "Traceback" not in done.stdout + done.stderr
    if to_run == "newer":
        for done in (listing, dry_run):
            assert 1 == done.returncode
            assert "phyper: StateFormatError: " in done.stderr and "Upgrade phyper" in done.stderr
    else:
        assert (0, 0) == (listing.returncode, dry_run.returncode), listing.stderr + dry_run.stderr
        statuses = dict(line.split()[1::-1] for line in listing.stdout.splitlines() if ":" in line)
        rules = snakemake_rules_to_run(dry_run.stdout)
        # the damaged job is to run (what follows it is the verdict's business, tests/verdict);
        # a damaged log or batch record makes nothing run
        if to_run is None:
            assert ({"U"}, {}) == (set(statuses.values()), rules)
        else:
            assert "R" == statuses[to_run]
            assert 1 <= rules.get(to_run.split(":")[0], 0)
    check_outputs_kept(finished, project, f"after the dry runs ({damage})")
