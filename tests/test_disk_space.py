"""A full disk: one line naming the place and the free space, exit 2, nothing finished lost.

The whole path, a real study on a real full filesystem that resumes to an uninterrupted run's
results, is in test_interrupts.py; here the rules, fast and without Ray."""

from __future__ import annotations

import errno
import json
import pickle
import shutil
from collections import namedtuple

import pytest

from study import cli, disk_space
from study.interrupts import StudyInterrupted
from trainables.files.storage import DiskFull, disk_full_from

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def free(monkeypatch):
    """Set the free bytes every local filesystem reports."""
    def set_free(nbytes: int) -> None:
        monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(2**40, 2**40 - nbytes, nbytes))
    return set_free


def test_a_nearly_full_disk_is_named_with_its_free_space_and_how_to_continue(free, tmp_path):
    free(3 * 2**20)
    full = disk_space.full_disk([str(tmp_path)], "runs/quick")
    assert isinstance(full, DiskFull)
    assert str(full) == (f"{tmp_path}: the disk is full (3.0 MiB free); finished work is kept; allowed: free some "
                         "space, then `study resume runs/quick`")


def test_a_disk_with_room_or_an_object_store_is_never_called_full(free, tmp_path):
    free(disk_space.NEARLY_FULL)
    assert disk_space.full_disk([str(tmp_path)], "d") is None
    free(0)
    assert disk_space.full_disk(["s3://bucket/runs"], "d") is None   # no local filesystem to be full


def test_an_error_raised_while_the_disk_is_full_becomes_disk_full_with_its_cause(free, tmp_path):
    free(0)
    with pytest.raises(DiskFull, match="the disk is full") as caught:
        with disk_space.failures_name_a_full_disk([str(tmp_path)], "d"):
            raise EOFError("Ran out of input")   # what Tune raises reading the empty error.pkl it wrote
    assert isinstance(caught.value.__cause__, EOFError)


def test_an_error_with_room_on_the_disk_and_an_interrupt_are_left_as_they_are(free, tmp_path):
    free(2**30)
    with pytest.raises(EOFError):
        with disk_space.failures_name_a_full_disk([str(tmp_path)], "d"):
            raise EOFError("Ran out of input")
    free(0)
    with pytest.raises(StudyInterrupted):
        with disk_space.failures_name_a_full_disk([str(tmp_path)], "d"):
            raise StudyInterrupted("stopped during the GAN stage")


def test_a_stage_stops_the_study_only_when_work_failed_on_a_full_disk(free, tmp_path):
    free(0)
    disk_space.stop_if_full([str(tmp_path)], "d", failed=False)   # all finished: a full disk is no reason to stop
    with pytest.raises(DiskFull):
        disk_space.stop_if_full([str(tmp_path)], "d", failed=True)
    free(2**30)
    disk_space.stop_if_full([str(tmp_path)], "d", failed=True)    # failed for another reason: recorded, not stopped


def test_a_trial_failing_on_a_full_disk_ends_the_tune_run_at_once_and_names_the_disk(free, tmp_path):
    """The first failure on a full disk stops the run (every later trial would fail and retry the same
    way); a failure with room left, or a full disk nobody failed on, stops nothing."""
    from study.tune_stop import FullDiskWatch, StudyStopper

    watch = FullDiskWatch([str(tmp_path)], "runs/quick")
    stopper = StudyStopper(watch)
    free(0)
    assert not stopper.stop_all()                     # full, but nothing failed yet
    free(2**30)
    watch.on_trial_recover(0, [], None)               # failed with room left: Tune's retry goes ahead
    assert not stopper.stop_all()
    watch.stop_if_full(failed=False)                  # no verdict, and nothing failed to look at now
    free(0)
    watch.on_trial_recover(0, [], None)
    assert stopper.stop_all()
    free(2**30)   # space came back before the stage ended: the stage still ended early, so it stops the study
    with pytest.raises(DiskFull, match=f"{tmp_path}: the disk is full .*`study resume runs/quick`"):
        watch.stop_if_full(failed=False)
    restored = pickle.loads(pickle.dumps(StudyStopper(watch)))   # tuner.pkl: a resumed run starts afresh
    assert not restored.stop_all() and restored.disk.locations == [str(tmp_path)]


def test_a_write_that_is_not_ours_failing_for_space_is_named(free):
    free(0)
    named = disk_full_from(OSError(errno.ENOSPC, "No space left on device", "/runs/q/report/plots/gain.png"))
    assert str(named).startswith("/runs/q/report/plots/gain.png: the disk is full (0 MiB free)")
    assert "free some space" in str(disk_full_from(OSError(errno.ENOSPC, "No space left on device")))
    assert disk_full_from(OSError(errno.EACCES, "Permission denied")) is None
    assert disk_full_from(ValueError("x")) is None


def test_the_command_line_turns_a_full_disk_anywhere_into_one_line_and_exit_2(monkeypatch, capsys, free):
    free(0)

    def report_on_a_full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/q/report/plots/gain.png")

    monkeypatch.setitem(cli.COMMANDS, "report", report_on_a_full_disk)
    assert cli.main(["report", "/runs/q"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: /runs/q/report/plots/gain.png: the disk is full")


# --------------------------------------------------------------------------------------------------
# A trial whose GAN failed is not final: `study resume` retrains the GAN, then runs the trial
# --------------------------------------------------------------------------------------------------
class _TuneSession:
    def __init__(self, trial: str):
        self.trial, self.reports = trial, []

    def get_trial_name(self) -> str:
        return self.trial


@pytest.mark.parametrize("gan_status, recorded", [("error", False), ("diverged", True)])
def test_only_a_diverged_gan_makes_its_trials_final(tmp_path, monkeypatch, gan_status, recorded):
    import ray.tune

    from trainables.runners import classifier_trial

    key, trial = "0123456789ab", "lenet_n100_r1_a1_s0_abcdef"
    (tmp_path / "cache" / key).mkdir(parents=True)
    (tmp_path / "cache" / key / "meta.json").write_text(json.dumps(
        {"key": key, "status": gan_status, "reason": "disk full" if gan_status == "error" else "NaN loss"}))
    session = _TuneSession(trial)
    monkeypatch.setattr(ray.tune, "get_context", lambda: session)
    monkeypatch.setattr(ray.tune, "report", session.reports.append)
    context = {"study_root": str(tmp_path / "study"), "cache_root": str(tmp_path / "cache"), "cpus_per_trial": 1,
               "real_ref": None, "subset_seed": 0}   # no data needed: the GAN is looked at first

    classifier_trial.run_trial({"seed": 0, "size": 100, "ratio": 1.0}, key, context)

    assert [r["status"] for r in session.reports] == [gan_status]
    assert (tmp_path / "study" / "trials" / f"{trial}.json").exists() == recorded
