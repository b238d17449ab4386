"""Ctrl-C and SIGTERM (issue 14): the study stops cleanly, writes nothing final, exits 130, resumes.

Real signals to the real `study` command (its own process session, its own embedded Ray), as a
terminal's Ctrl-C (SIGINT to the whole foreground process group) and `ray job stop` (SIGTERM to the
driver) send them.
"""

from __future__ import annotations

import os
import re
import signal
import time

import pandas as pd
import pytest
from test_faults import KILL_EPOCHS, KILL_RATIOS, TINY, StudyProcess, run_cli, snapshot, wait_for

from study import interrupts

ARGS = [*TINY, "--set", f"mix.ratios={KILL_RATIOS}", "--set", f"classifier.epochs={KILL_EPOCHS}",
        "--set", f"classifier.patience={KILL_EPOCHS}"]


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


@pytest.mark.slow
# Ctrl-C to the whole process group is exercised at four points below, with the resumed results compared;
# here SIGTERM (`ray job stop`) to the driver alone.
@pytest.mark.parametrize("signum, group", [(signal.SIGTERM, False)], ids=["sigterm to the driver"])
def test_a_signal_mid_study_stops_cleanly_exits_130_and_resume_finishes_it(tmp_path, signum, group):
    logs, study = tmp_path / "logs", tmp_path / "s" / "quick"
    args = ["run", "quick", *ARGS, "--storage", str(tmp_path / "s")]
    trials = study / "trials"
    with StudyProcess(args, logs, "run") as run:
        wait_for(lambda: list(trials.glob("*.json")), run, "a finished classifier trial")
        _send(run, signum, group)
        assert run.wait() == interrupts.EXIT_INTERRUPTED, run.err[-3000:]
    assert f"study resume {tmp_path / 's' / 'quick'}" in run.err and "Traceback" not in driver_lines(run.err)
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


STABLE_COLUMNS = ["trial", "size", "ratio", "seed", "status", "val_acc_max", "best_val_epoch", "test_acc_at_best_val",
                  "test_acc", "test_acc_max"]


@pytest.mark.slow
def test_a_study_stopped_at_four_points_resumes_to_the_same_results_as_an_uninterrupted_run(tmp_path):
    """Ctrl-C in the GAN stage, as the classifier stage starts, mid-trial and while the report is written;
    each time `study resume` continues; results.csv equals an uninterrupted run's (timings aside)."""
    args = [*TINY, "--set", "mix.ratios=[0, 1, 2]", "--set", "gan.epochs=6", "--set", "classifier.epochs=6",
            "--set", "classifier.patience=6"]
    logs = tmp_path / "logs"
    plain = run_cli(["run", "quick", *args, "--storage", str(tmp_path / "plain")], logs, "plain")
    assert plain.proc.returncode == 0, plain.err[-3000:]
    expected = pd.read_csv(tmp_path / "plain" / "quick" / "results.csv")[STABLE_COLUMNS]

    storage, study = tmp_path / "stopped", tmp_path / "stopped" / "quick"
    points = [
        ("GAN stage", lambda: list(storage.glob("gan-cache/*/checkpoint_epoch0002"))),
        ("classifier stage start", lambda: "[study] classifier stage:" in process.out),
        ("mid-trial", lambda: list((study / "trials").glob("*.json"))),
        ("report", lambda: (study / "results.csv").exists()),
    ]
    command = ["run", "quick", *args, "--storage", str(storage)]
    for i, (where, reached) in enumerate(points):
        with StudyProcess(command, logs, f"stop-{i}") as process:
            wait_for(reached, process, f"the {where}")
            _send(process, signal.SIGINT, True)
            code = process.wait()
        assert code in (interrupts.EXIT_INTERRUPTED, 0), f"{where}: exit {code}\n{process.err[-3000:]}"
        command = ["resume", str(study)]
    final = run_cli(command, logs, "final")
    assert final.proc.returncode == 0, final.err[-3000:]
    got = pd.read_csv(study / "results.csv")[STABLE_COLUMNS]
    pd.testing.assert_frame_equal(got.sort_values("trial").reset_index(drop=True),
                                  expected.sort_values("trial").reset_index(drop=True))
    assert (study / "report" / "report.md").exists()
