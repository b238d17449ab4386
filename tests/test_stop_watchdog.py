"""Ctrl-C and SIGTERM end a study within seconds whatever it is doing: a stop asked
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
for _ in range({ticks}):                     # Tune's set-up, deaf to the stop (tenths of a second)
    time.sleep(0.1)
print("still running", flush=True)
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_stop_during_tunes_set_up_ends_the_command_within_seconds(sig):
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", STUCK.format(watchdog=True, sig=sig, ticks=100)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and time.monotonic() - started < 8
    assert "stopping cleanly" in done.stderr and "did not finish within 1 s" in done.stderr
    assert "still running" not in done.stdout


def test_without_the_cli_a_stop_is_never_forced():
    """The set-up outlasts three times the grace (1 s here) and still runs to its end."""
    done = subprocess.run([sys.executable, "-c", STUCK.format(watchdog=False, sig="SIGTERM", ticks=30)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "still running" in done.stdout


def test_grace_is_seconds_not_minutes():
    from study import interrupts

    assert 5 <= interrupts.STOP_GRACE_S <= 30
    assert signal.SIGTERM in interrupts._SIGNALS


@pytest.fixture
def silent_head():
    """Something that accepts connections and never answers as a Ray head: (address, its socket)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"127.0.0.1:{sock.getsockname()[1]}", sock
    sock.close()


# `study run` joining the address argv[2], with one module setting shortened (the mechanism, not its length)
JOINING = """
import sys
from study import cli, cluster, interrupts
{setting}
sys.exit(cli.main(["run", "quick", "--storage", sys.argv[1], "--address", sys.argv[2]]))
"""


def _joining(storage, address: str, setting: str) -> list[str]:
    return [sys.executable, "-c", JOINING.format(setting=setting), str(storage), address]


@pytest.mark.slow
def test_an_address_that_accepts_but_is_no_ray_head_is_refused_after_the_join_timeout(tmp_path, silent_head):
    address, _ = silent_head
    done = subprocess.run(_joining(tmp_path / "s", address, "cluster.JOIN_TIMEOUT_S = 5"), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: --address: {address}: no Ray cluster answered within 5 s")
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_sigterm_ends_a_command_stuck_joining_a_cluster(tmp_path, silent_head):
    """ray.init waiting on a silent address blocks the main thread in C: no Python handler runs, yet the
    signal (seen through the wakeup fd) ends the command within the grace period (2 s here, 15 s in the
    product)."""
    import select

    address, sock = silent_head
    proc = subprocess.Popen(_joining(tmp_path / "s", address, "interrupts.STOP_GRACE_S = 2.0"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # ray.init has connected to the address (a connection waits to be accepted): the command is inside it.
    assert select.select([sock], [], [], 120)[0], "the command never tried to join the address"
    time.sleep(1)                        # and blocked there, past its first connection attempt
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and time.monotonic() - started < 2 + 10, err
    assert not (tmp_path / "s").exists()
