"""Stops of every kind: Ctrl-C, a second Ctrl-C, SIGTERM, SIGKILL and a full disk. The study stops
cleanly where it can (exit 130, or 2 on a full disk, nothing final written), and `study resume` finishes
it with the results an uninterrupted run gets.

Real signals to the real `study` command (its own process session, its own embedded Ray), as a
terminal's Ctrl-C (SIGINT to the whole foreground process group), `ray job stop` (SIGTERM to the
driver) and a killed machine or the OOM killer (SIGKILL to every process of the study) send them.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import signal
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from test_faults import TINY, StudyProcess, losses_epochs, run_cli, snapshot, the_gan_dir, wait_for

from study import interrupts

RATIOS = [0, 0.25, 0.5, 1, 2, 4]
# Trials long enough (40 evaluations, no early stop) that the others cannot all finish in the moment
# between a trial's record and the stop that follows it, on an idle machine too (one trial at a time: TINY).
TRIAL_EPOCHS = 40
# Room for three stops in the GAN stage, each at a checkpoint newer than the last: a clean stop there
# (the last of the three) lets the GAN train on until Tune runs the stop, an abort or a kill hardly at all.
GAN_EPOCHS = 16
ARGS = [*TINY, "--set", f"mix.ratios={RATIOS}", "--set", f"classifier.epochs={TRIAL_EPOCHS}",
        "--set", f"classifier.patience={TRIAL_EPOCHS}", "--set", f"gan.epochs={GAN_EPOCHS}"]
STABLE_COLUMNS = ["trial", "size", "ratio", "seed", "status", "val_acc_max", "best_val_epoch", "test_acc_at_best_val",
                  "test_acc", "test_acc_max"]


RAY_FORWARDED = re.compile(r"^(\x1b\[\d+m)?\(\w+ pid=\d+")   # "(RayTrainWorker pid=42) ...": a Ray process's log


def driver_lines(text: str) -> str:
    """The driver's own stderr: without what Ray forwards from its workers and actors (a Ctrl-C to the
    process group reaches them too, and Ray's own actors print their KeyboardInterrupt)."""
    return "\n".join(line for line in text.splitlines() if not RAY_FORWARDED.match(line))


def _send(process: StudyProcess, signum: int, group: bool) -> None:
    if group:
        os.killpg(process.proc.pid, signum)
    else:
        os.kill(process.proc.pid, signum)


@contextlib.contextmanager
def small_filesystem(path: Path, size: str = "256m"):
    """A tmpfs of `size` mounted at `path` (True), so that a test can fill a real disk; False where this
    process may not mount (not root): the caller then runs without the full-disk case."""
    path.mkdir(parents=True)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


def fill(filesystem: Path) -> Path:
    """Write zeros until the filesystem has no space left; returns the filler file."""
    filler = filesystem / "filler"
    chunk = b"\0" * 2**20
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
    return filler


# --------------------------------------------------------------------------------------------------
# The ways a study is stopped, each with what it promises
# --------------------------------------------------------------------------------------------------
def ctrl_c(process: StudyProcess, study: Path) -> None:
    """Ctrl-C: a clean stop (exit 130; 0 when the run had finished before it arrived)."""
    _send(process, signal.SIGINT, True)
    code = process.wait()
    assert code in (interrupts.EXIT_INTERRUPTED, 0), f"exit {code}\n{process.err[-3000:]}"


def ctrl_c_twice(process: StudyProcess, study: Path) -> None:
    """A second Ctrl-C, once the first was taken ("press Ctrl-C again to abort at once"), aborts at once
    (exit 130) without waiting for the clean stop. (Two signals before the handler ran are one to Python.)"""
    _send(process, signal.SIGINT, True)
    wait_for(lambda: "press Ctrl-C again to abort at once" in process.err, process, "the first Ctrl-C taken")
    _send(process, signal.SIGINT, True)
    assert process.wait(timeout=120) == interrupts.EXIT_INTERRUPTED, process.err[-3000:]
    assert "interrupted" in process.err and not (study / "results.csv").exists()


def sigterm(process: StudyProcess, study: Path) -> None:
    """`ray job stop`: SIGTERM to the driver alone stops it cleanly, exit 130, naming the resume command,
    without a traceback and without writing anything that looks final."""
    _send(process, signal.SIGTERM, False)
    assert process.wait() == interrupts.EXIT_INTERRUPTED, process.err[-3000:]
    assert f"study resume {study}" in process.err and "Traceback" not in driver_lines(process.err)
    assert not (study / "results.csv").exists() and not (study / "report").exists()


def sigkill(process: StudyProcess, study: Path) -> None:
    """SIGKILL to every process of the study: no process of it or of its Ray outlives the driver."""
    strays = process.kill()
    assert strays == [], f"Ray processes outlived the killed driver: {strays}"


def full_disk(process: StudyProcess, study: Path) -> None:
    """The disk fills: exit 2 with the one-line error naming the storage, at the first failure on it."""
    filler = fill(study.parent)
    code = process.wait()
    assert code == 2 and f"{study.parent}" in process.err and "the disk is full" in process.err, \
        f"full disk: exit {code}\n{process.err[-3000:]}"
    assert "Traceback" not in driver_lines(process.err).split("\nerror: ")[-1]
    # Nothing final after the failure: results.csv only if every trial had finished and it was written
    # before the disk filled (then the report was what the full disk stopped).
    assert "[study] results:" in process.out or not (study / "results.csv").exists()
    # The first failure on the full disk ended the stage: no other trial failed and retried.
    assert process.out.count("failed, retrying") <= 1, process.out[-3000:]
    filler.unlink()   # space is back


STOPS: dict[str, Callable[[StudyProcess, Path], None]] = {
    "Ctrl-C": ctrl_c, "Ctrl-C twice": ctrl_c_twice, "SIGTERM": sigterm, "SIGKILL": sigkill, "a full disk": full_disk}


@dataclass(frozen=True)
class Start:
    """What the study folder held when a run started: its trial records, its GAN's newest checkpoint."""

    records: int
    checkpoint: int
    gan_done: bool
    ns: int


@dataclass
class StopPoint:
    where: str
    reached: Callable[[StudyProcess, Start], bool]
    how: str                                           # a key of STOPS
    then: Callable[[Start], None] | None = None        # what this stop there leaves, checked after it


@pytest.mark.slow
def test_a_study_stopped_in_every_stage_every_way_resumes_to_the_results_of_an_uninterrupted_run(tmp_path, study_caches):
    """In the GAN stage: SIGKILL, Ctrl-C twice, Ctrl-C; as the classifier stage starts: Ctrl-C, then a
    full disk; mid-stage: SIGTERM to the driver, then SIGKILL; while the report is written: Ctrl-C. Each
    time `study resume` continues; no finished trial or GAN is redone, each GAN epoch is trained once, and
    results.csv equals an uninterrupted run's (timings aside)."""
    logs = tmp_path / "logs"
    # Both runs score their GAN with the session's scoring network (trained by the same code): the GANs
    # themselves, stopped and uninterrupted, are trained here.
    study_caches.seed_scoring(tmp_path / "plain", ARGS)
    plain = run_cli(["run", "quick", *ARGS, "--storage", str(tmp_path / "plain"), "--no-report"], logs, "plain")
    assert plain.proc.returncode == 0, plain.err[-3000:]
    expected = pd.read_csv(tmp_path / "plain" / "quick" / "results.csv")[STABLE_COLUMNS]

    storage = tmp_path / "stopped"
    study = storage / "quick"
    kept: dict = {}   # trial records and GAN files as they were once finished: never rewritten after

    def records() -> int:
        return len(list((study / "trials").glob("*.json")))

    def newest_checkpoint() -> int:
        return max((int(p.name.removeprefix("checkpoint_epoch")) for p in storage.glob("gan-cache/*/checkpoint_epoch*")),
                   default=0)

    def gan_done() -> bool:
        return any(json.loads(p.read_text()).get("status") == "ok" for p in storage.glob("gan-cache/*/meta.json"))

    def gan_left_unfinished(start: Start) -> None:
        assert not (the_gan_dir(study) / "meta.json").exists()   # the kill really came mid-GAN

    def gan_finished(start: Start) -> None:
        gan_dir = the_gan_dir(study)
        meta = json.loads((gan_dir / "meta.json").read_text())
        assert meta["status"] == "ok" and meta["epochs_trained"] == GAN_EPOCHS
        assert 1 <= meta["resumed_from_epoch"] < GAN_EPOCHS   # continued from its checkpoint, not from scratch
        assert losses_epochs(gan_dir) == list(range(1, GAN_EPOCHS + 1))   # every epoch trained once
        kept.update(snapshot([gan_dir / "meta.json", gan_dir / "pool.pt"]))

    def stopped_mid_stage(start: Start) -> None:
        assert start.records < records() < len(RATIOS), "the stop came too late to test a stop mid-stage"
        kept.update(snapshot((study / "trials").glob("*.json")))

    def newer_checkpoint(process: StudyProcess, start: Start) -> bool:
        return newest_checkpoint() > start.checkpoint

    def stage_started(process: StudyProcess, start: Start) -> bool:
        return "[study] classifier stage:" in process.out

    def new_record(process: StudyProcess, start: Start) -> bool:
        return records() > start.records

    def results_written(process: StudyProcess, start: Start) -> bool:
        """results.csv written by the running process (one from an earlier run that finished before its
        stop arrived would otherwise trigger the stop before that process installed its handler)."""
        path = study / "results.csv"
        return path.exists() and path.stat().st_mtime_ns > start.ns

    points = [
        StopPoint("GAN stage", newer_checkpoint, "SIGKILL", then=gan_left_unfinished),
        StopPoint("GAN stage", newer_checkpoint, "Ctrl-C twice"),
        StopPoint("GAN stage", newer_checkpoint, "Ctrl-C"),
        StopPoint("classifier stage start", stage_started, "Ctrl-C", then=gan_finished),
        StopPoint("classifier stage start", stage_started, "a full disk"),
        StopPoint("mid-stage", new_record, "SIGTERM", then=stopped_mid_stage),
        StopPoint("mid-stage", new_record, "SIGKILL", then=stopped_mid_stage),
        StopPoint("report", results_written, "Ctrl-C"),
    ]
    with small_filesystem(storage) as mounted:
        study_caches.seed_scoring(storage, ARGS)   # on the tmpfs: 2 MB of its 256
        if not mounted:
            warnings.warn("not root: the full-disk point is left out (it needs a tmpfs mount)", stacklevel=1)
            points = [point for point in points if point.how != "a full disk"]
        command = ["run", "quick", *ARGS, "--storage", str(storage)]
        for i, point in enumerate(points):
            start = Start(records(), newest_checkpoint(), gan_done(), time.time_ns())
            with StudyProcess(command, logs, f"stop-{i}") as process:
                wait_for(functools.partial(point.reached, process, start), process, f"the {point.where} ({point.how})")
                STOPS[point.how](process, study)
            assert not process.strays, f"processes outlived the {point.how} at the {point.where}: {process.strays}"
            # A stop is no failure: no run finds a GAN the one before it recorded as failed.
            assert "GAN training failed" not in process.out + process.err, process.out[-3000:]
            # Each run counted what the earlier ones finished, and trains nothing twice.
            if start.gan_done:
                assert "1 ready, 0 to train, 0 to grow" in process.out, process.out[-3000:]
            if stage_started(process, start):
                assert f"{start.records} already finished, {len(RATIOS) - start.records} to run" in process.out
            if point.then is not None:
                point.then(start)
            command = ["resume", str(study)]
        final = run_cli(command, logs, "final")
        assert final.proc.returncode == 0, final.err[-3000:]
        assert "1 ready, 0 to train, 0 to grow" in final.out
        assert snapshot(Path(p) for p in kept) == kept   # no finished trial, nor the GAN, was done again
        got = pd.read_csv(study / "results.csv")[STABLE_COLUMNS]
        pd.testing.assert_frame_equal(got.sort_values("trial").reset_index(drop=True),
                                      expected.sort_values("trial").reset_index(drop=True))
        curves = pd.read_csv(study / "curves.csv")
        assert len(curves) == len(RATIOS) * TRIAL_EPOCHS and not curves.duplicated(["trial", "epoch"]).any()
        assert (study / "report" / "report.md").exists()


@pytest.mark.slow
def test_a_stop_asked_before_tunes_loop_starts_ends_the_run_at_its_first_step(tmp_path, monkeypatch):
    """The window study/tune_stop.py closes: the study is told to stop inside a stage before Tune installed
    its own handler. The signal only marks the study as stopping (no KeyboardInterrupt into Tune's
    set-up), and the run's stopper ends it at its first step: no trial finishes."""
    import ray
    from ray import tune

    from study.tune_stop import StudyStopper

    def sleepy_trial(config: dict) -> None:   # local: Ray ships it by value (workers cannot import tests/)
        import pathlib
        import time

        time.sleep(3)
        (pathlib.Path(config["folder"]) / f"trial-{config['i']}.done").write_text("finished")

    monkeypatch.setenv("TUNE_DISABLE_SIGINT_HANDLER", "1")
    monkeypatch.setattr(interrupts._State, "stopping", __import__("threading").Event())
    monkeypatch.setattr(interrupts._State, "watchdog", False)   # in-process: the stop must not end pytest
    usr1 = signal.getsignal(signal.SIGUSR1)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with interrupts.tune_run():
            interrupts._handle(signal.SIGINT, None)   # no Tune handler yet: returns, the study is stopping
            assert interrupts.requested()
            tuner = tune.Tuner(
                sleepy_trial, param_space={"i": tune.grid_search(list(range(4))), "folder": str(tmp_path)},
                tune_config=tune.TuneConfig(max_concurrent_trials=2),
                run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), stop=StudyStopper(), verbose=0))
            grid = tuner.fit()
    finally:
        signal.signal(signal.SIGUSR1, usr1)
        if started:
            ray.shutdown()
    assert not list(tmp_path.glob("*.done"))
    assert len(grid) < 4   # the search ended at that step: the trials not yet started never were
