"""What ends a study's Tune run early: the study stopping (Ctrl-C, SIGTERM), or a failure on a full disk.

A first Ctrl-C or SIGTERM inside a Tune run goes to Tune's own clean stop (study.interrupts), but
Tune installs that handler only once its run loop starts. A signal in the moment between the stage's
start and that point (the Tuner being built, the experiment being set up) has no Tune handler to go
to; raising KeyboardInterrupt there was once swallowed inside Tune's set-up and every trial of the
stage ran (seen in tests/test_interrupts.py). With StudyStopper the signal only marks the study as
stopping, and Tune ends the run at the first step of its loop: running trials are stopped, no new
one starts.

A trial that fails while a disk the study writes to is full tells the same of every trial after it:
each would fail, be retried and fail again (a four-trial study once spent 40 s so before its one-line
error). FullDiskWatch sees the first such failure and StudyStopper ends the run there; the driver then
stops the study with DiskFull (exit 2), finished work kept, and `study resume` continues once there is
space. Both are module-level classes, so that the RunConfig they sit in pickles (tuner.pkl)."""

from __future__ import annotations

from ray.tune import Callback, Stopper

from study import interrupts
from study.disk_space import full_disk, stop_if_full
from trainables.files.storage import DiskFull


class FullDiskWatch(Callback):
    """Looks at the disks the study writes to whenever one of the run's trials fails."""

    def __init__(self, locations: list[str], study_dir: str):
        self.locations, self.study_dir = list(locations), study_dir
        self.full: DiskFull | None = None

    def __getstate__(self) -> dict:
        # A restored experiment (tuner.pkl) starts with a disk that has room again, not with this run's verdict.
        return {**self.__dict__, "full": None}

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self._look()

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._look()

    def _look(self) -> None:
        if self.full is None:
            self.full = full_disk(self.locations, self.study_dir)
            if self.full is not None:
                print("[study] a trial failed and the disk is full: the stage stops here", flush=True)

    def stop_if_full(self, *, failed: bool) -> None:
        """After the stage: the DiskFull its first failure on a full disk found (also if space came back
        since: the stage ended early, so its missing work must not read as final); else, when some of
        its work failed, the disk as it is now (study.disk_space.stop_if_full: a failure Tune saw as no
        trial error, or a restored Optuna experiment, which runs with the watch it pickled)."""
        if self.full is not None:
            raise self.full
        stop_if_full(self.locations, self.study_dir, failed=failed)


class StudyStopper(Stopper):
    def __init__(self, disk: FullDiskWatch | None = None):
        self.disk = disk

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False   # a trial's own results never stop it; stop_all ends the whole run

    def stop_all(self) -> bool:
        return interrupts.requested() or (self.disk is not None and self.disk.full is not None)
