"""Faults the tests inject into real runs, kept out of the training code's signatures.

A test (or anyone reproducing a failure) sets an environment variable; the study driver forwards
every STUDY_* variable to its Ray workers (study/cluster.py). The driver side reads them into a small
dict that rides along in a GAN's Train config only when one is set, and the training code asks this
module for its hooks: in a normal run there are none, and the loop calls two no-op methods per epoch.

  STUDY_INJECT_NAN_EPOCH=N       a GAN's generator weights turn NaN as epoch N starts: its losses
                                 become non-finite and the GAN ends as diverged
  STUDY_FAIL_ONCE_MARKER=PATH    a GAN worker crashes once, after its first checkpoint (the file at
                                 PATH records that it did), to exercise FailureConfig and resume
  STUDY_INJECT_TRIAL_ERROR=TEXT  a classifier trial whose name contains TEXT raises as it starts
"""

from __future__ import annotations

import os
from dataclasses import dataclass

INJECT_NAN_EPOCH = "STUDY_INJECT_NAN_EPOCH"
FAIL_ONCE_MARKER = "STUDY_FAIL_ONCE_MARKER"
INJECT_TRIAL_ERROR = "STUDY_INJECT_TRIAL_ERROR"


def gan_faults_from_environment() -> dict:
    """What the GAN faults of this process's environment ask for ({} in a normal run)."""
    faults = {}
    if os.environ.get(INJECT_NAN_EPOCH, "").strip():
        faults["nan_epoch"] = int(os.environ[INJECT_NAN_EPOCH])
    if os.environ.get(FAIL_ONCE_MARKER):
        faults["fail_once_marker"] = os.environ[FAIL_ONCE_MARKER]
    return faults


@dataclass(frozen=True)
class GanFaults:
    """The hooks a GAN worker's loop calls; with no fault set, both do nothing."""

    nan_epoch: int | None = None
    fail_once_marker: str | None = None

    def epoch_starts(self, epoch: int, generator) -> None:
        if epoch == self.nan_epoch:
            import torch

            with torch.no_grad():
                for parameter in generator.parameters():
                    parameter.fill_(float("nan"))

    def checkpoint_written(self, epoch: int) -> None:
        marker = self.fail_once_marker
        if marker and not os.path.exists(marker):
            with open(marker, "w") as handle:
                handle.write(f"simulated worker crash after epoch {epoch}\n")
            raise RuntimeError(f"simulated worker crash after the checkpoint of epoch {epoch} ({FAIL_ONCE_MARKER})")


def trial_starts(trial: str) -> None:
    """Raise for a classifier trial the environment marks to fail."""
    marker = os.environ.get(INJECT_TRIAL_ERROR)
    if marker and marker in trial:
        raise RuntimeError(f"injected failure in trial {trial}")
