"""One driver per study folder: a second run or resume is refused naming the holder; the
lock of a dead driver is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from study.folder import LOCK_FILE, StudyError, StudyFolder

HOLD_AND_SLEEP = """
import sys, time
from study.folder import StudyFolder
with StudyFolder.for_spec(sys.argv[1], "s").running():
    print("holding", flush=True)
    time.sleep(600)
"""


def _holder(storage) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_AND_SLEEP, str(storage)], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_second_driver_is_refused_naming_the_holder_and_a_dead_ones_lock_is_taken_over(tmp_path):
    folder = StudyFolder.for_spec(str(tmp_path), "s")
    holder = _holder(tmp_path)
    try:
        with pytest.raises(StudyError, match=rf"this study is running \(host .+, pid {holder.pid}\); allowed: wait"):
            with folder.running():
                pass
    finally:
        holder.send_signal(signal.SIGKILL)   # dies without unlocking, as a crashed driver does
        holder.wait(30)
    with folder.running():                   # the kernel released the dead holder's lock
        holder_record = json.loads((tmp_path / "s" / LOCK_FILE).read_text())
        assert holder_record["pid"] == os.getpid()


def test_the_lock_is_released_when_the_run_ends_even_by_an_error(tmp_path):
    folder = StudyFolder.for_spec(str(tmp_path), "s")
    with pytest.raises(RuntimeError), folder.running():
        raise RuntimeError("a failed stage")
    with folder.running():                   # not refused: the failed run let go of it
        assert (tmp_path / "s" / LOCK_FILE).exists()
