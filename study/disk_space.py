"""A full disk stops the study with one line and a study that resumes once space is back.

Our own writes name the file when the disk is full (trainables.files.storage.DiskFull), but most of them
happen inside Ray workers, and what reaches the driver is second-hand: a trial recorded as `error`,
or Ray Tune failing on its own bookkeeping (on a full disk Tune writes an empty error.pkl and then
dies reading it back with EOFError). So the driver judges by the disk itself: when a stage failed
(an exception, or work that ended without its result) and a storage location it writes to has less
than NEARLY_FULL left, the study stops with DiskFull (exit 2) before anything that looks final is
written, and says how to continue. A stage does not run on to its end first: its first trial that
fails on a full disk ends it (study.tune_stop.FullDiskWatch). Everything that finished is in the cache
and `trials/`, so `study resume` redoes only what the full disk cut short.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Iterator

from study.interrupts import StudyInterrupted
from trainables.files.storage import DiskFull, is_uri

# Below this, a failed write is the likely cause of a failure: GAN checkpoints and pools of the
# presets are a few MiB to a few hundred MiB, so a disk with less left cannot be trusted to finish.
NEARLY_FULL = 64 * 2**20


def free_bytes(location: str) -> int | None:
    """Bytes free on the filesystem of a local `location` (None for object stores, which do not fill)."""
    if is_uri(location) and not str(location).startswith("file://"):
        return None
    path = str(location).removeprefix("file://")
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def full_disk(locations: Iterable[str], study_dir: str) -> DiskFull | None:
    """DiskFull naming the first location with less than NEARLY_FULL free, else None."""
    for location in locations:
        free = free_bytes(location)
        if free is not None and free < NEARLY_FULL:
            return DiskFull(f"{location}: the disk is full ({free / 2**20:.1f} MiB free); finished work is kept; "
                            f"allowed: free some space, then `study resume {study_dir}`")
    return None


def stop_if_full(locations: Iterable[str], study_dir: str, *, failed: bool) -> None:
    """After a stage: when some of its work failed and the disk is (nearly) full, stop the study."""
    if failed:
        full = full_disk(locations, study_dir)
        if full is not None:
            raise full


@contextlib.contextmanager
def failures_name_a_full_disk(locations: Iterable[str], study_dir: str) -> Iterator[None]:
    """Around the stages: an error raised while the disk is full becomes DiskFull, whatever raised it."""
    locations = list(locations)
    try:
        yield
    except (StudyInterrupted, DiskFull):
        raise
    except Exception as err:
        full = full_disk(locations, study_dir)
        if full is None:
            raise
        raise full from err
