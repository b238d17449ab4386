"""Ctrl-C and SIGTERM (issue 14): the study stops cleanly, writes nothing final, exits 130, resumes.

Real signals to the real `study` command (its own process session, its own embedded Ray), as a
terminal's Ctrl-C (SIGINT to the whole foreground process group) and `ray job stop` (SIGTERM to the
driver) send them.
"""

from __future__ import annotations

import os
import signal
import time

import pandas as pd
import pytest
from test_faults import KILL_EPOCHS, KILL_RATIOS, TINY, StudyProcess, run_cli, snapshot, wait_for

from study import interrupts

ARGS = [*TINY, "--set", f"mix.ratios={KILL_RATIOS}", "--set", f"classifier.epochs={KILL_EPOCHS}",
        "--set", f"classifier.patience={KILL_EPOCHS}"]


def _send(process: StudyProcess, signum: int, group: bool) -> None:
    if group:
        os.killpg(process.proc.pid, signum)
    else:
        os.kill(process.proc.pid, signum)


@pytest.mark.slow
@pytest.mark.parametrize("signum, group", [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["ctrl-c to the process group", "sigterm to the driver"])
def test_a_signal_mid_study_stops_cleanly_exits_130_and_resume_finishes_it(tmp_path, signum, group):
    logs, study = tmp_path / "logs", tmp_path / "s" / "quick"
    args = ["run", "quick", *ARGS, "--storage", str(tmp_path / "s")]
    trials = study / "trials"
    with StudyProcess(args, logs, "run") as run:
        wait_for(lambda: list(trials.glob("*.json")), run, "a finished classifier trial")
        _send(run, signum, group)
        assert run.wait() == interrupts.EXIT_INTERRUPTED, run.err[-3000:]
    assert f"study resume {tmp_path / 's' / 'quick'}" in run.err and "Traceback" not in run.err
    assert not (study / "results.csv").exists() and not (study / "report").exists()  # nothing looks final
    done = snapshot(trials.glob("*.json"))
    assert 1 <= len(done) < len(KILL_RATIOS), "the signal came too late to test a stop mid-stage"

    final = run_cli(["resume", str(study), "--no-report"], logs, "resume")
    assert final.proc.returncode == 0, final.err[-3000:]
    assert snapshot(trials.glob("*.json")).items() >= done.items()  # finished trials kept as they were
    results = pd.read_csv(study / "results.csv")
    assert sorted(results["ratio"]) == KILL_RATIOS and set(results["status"]) == {"ok"}


@pytest.mark.slow
def test_a_second_ctrl_c_aborts_at_once_with_130(tmp_path):
    logs, study = tmp_path / "logs", tmp_path / "s" / "quick"
    with StudyProcess(["run", "quick", *ARGS, "--storage", str(tmp_path / "s")], logs, "run") as run:
        wait_for(lambda: list(study.glob("trials")) or list((tmp_path / "s").glob("gan-cache/*/checkpoint_epoch0001")),
                 run, "the GAN stage under way")
        _send(run, signal.SIGINT, True)
        time.sleep(0.5)
        _send(run, signal.SIGINT, True)
        assert run.wait(timeout=120) == interrupts.EXIT_INTERRUPTED, run.err[-3000:]
    assert "interrupted" in run.err and not (study / "results.csv").exists()
