"""Ctrl-C and SIGTERM end a study within seconds whatever it is doing (issue 26, item 8): a stop asked
while Tune is still setting up (no Tune handler, no stopper consulted yet, as with a grid of thousands
of trials) is forced after study.interrupts.STOP_GRACE_S, exit 130; a notebook (no CLI) is never ended."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

STUCK = """
import os, signal, sys, time
from study import interrupts
interrupts.STOP_GRACE_S = 1.0
interrupts.install(watchdog={watchdog})
interrupts._State.in_tune = True           # inside a Tune run whose loop has not started
os.kill(os.getpid(), signal.{sig})
for _ in range(100):                        # Tune's set-up, deaf to the stop
    time.sleep(0.1)
print("still running", flush=True)
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_stop_during_tunes_set_up_ends_the_command_within_seconds(sig):
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", STUCK.format(watchdog=True, sig=sig)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 130 and time.monotonic() - started < 8
    assert "stopping cleanly" in done.stderr and "did not finish within 1 s" in done.stderr
    assert "still running" not in done.stdout


def test_without_the_cli_a_stop_is_never_forced():
    done = subprocess.run([sys.executable, "-c", STUCK.format(watchdog=False, sig="SIGTERM")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "still running" in done.stdout


def test_grace_is_seconds_not_minutes():
    from study import interrupts

    assert 5 <= interrupts.STOP_GRACE_S <= 30
    assert signal.SIGTERM in interrupts._SIGNALS
