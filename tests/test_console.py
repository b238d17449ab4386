"""The quiet console: Ray's and Tune's output goes to the study's log, the console shows the
`[study]` lines, real warnings and errors, and a progress line per stage with an ETA."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from study import console, progress

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("line, shown", [
    ("[study] GAN stage: 6 GAN key(s)", "[study] GAN stage: 6 GAN key(s)"),
    ("\x1b[36m(_gan_trial pid=27153)\x1b[0m [study] scoring network: training cnn2",
     "[study] scoring network: training cnn2"),
    ("(TrainController pid=9045, ip=10.0.0.2) [study] x", "[study] x"),
    ("/work/study/x.py:12: UserWarning: the GAN is weak", "/work/study/x.py:12: UserWarning: the GAN is weak"),
    ("error: /runs/q: the disk is full", "error: /runs/q: the disk is full"),
    # Ray's and Tune's own lines: the log only
    ("2026-11-30 00:18:34,230\tERROR tune.py:1035 -- Trials did not complete: [gan_37b4658b12e6]", None),
    ("\x1b[36m(TrainController pid=27270)\x1b[0m [2026-11-30 00:38:21,702 E 27270 27361] core_worker.cc:2465: "
     "Actor with class name: 'PreemptionWatcher' ... the actor restart will fail", None),
    ("2026-11-30 00:20:18,828\tWARNING authentication_token_setup.py:85 -- Token authentication is enabled", None),
    ("│ gan_37b4658b12e6   ERROR      ...s_per_worker': 1}        2 │", None),
    ("Trial status: 2 RUNNING", None),
])
def test_the_console_shows_what_a_person_needs_and_nothing_of_rays_chatter(line, shown):
    assert console.console_text(line) == shown


QUIET_RUN = """
import os, sys, warnings
from study import console
from trainables.files.storage import Store
with console.quiet():
    print("[study] one")
    print("Trial status: 2 RUNNING")                       # Tune's table: log only
    os.write(2, b"core_worker.cc:2465: C++ noise\\n")       # straight to file descriptor 2
    subprocess_out = os.system("echo from a child process")  # inherits fd 1: log only
    console.move_into(Store(sys.argv[1]))
    warnings.warn("a real warning")
    print("(RayTrainWorker pid=42) [study] from a worker")
print("after")
"""


def test_a_quiet_run_logs_everything_and_shows_only_the_study_lines(tmp_path):
    run = subprocess.run([sys.executable, "-c", QUIET_RUN, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    log = (tmp_path / console.LOG_FILE).read_text()
    assert run.stdout.splitlines() == [
        "[study] one",
        f"[study] Ray's and Tune's output: {tmp_path / console.LOG_FILE} (`study -v` shows it here)",
        "[study] from a worker",
        "after"]
    assert "UserWarning: a real warning" in run.stderr and "C++ noise" not in run.stderr
    for text in ("[study] one", "Trial status: 2 RUNNING", "C++ noise", "from a child process",
                 "UserWarning: a real warning", "(RayTrainWorker pid=42) [study] from a worker"):
        assert text in log, text
    assert "after" not in log


def test_on_a_pipe_the_progress_line_is_printed_only_when_it_changes_and_messages_never_tear_it():
    stream = io.StringIO()
    shown = console.Console(stream)
    shown.progress("[study] trials 1/4 done")
    shown.progress("[study] trials 1/4 done")
    shown.message("[study] trial x: failed")
    shown.progress("[study] trials 2/4 done")
    shown.progress("")
    assert stream.getvalue().splitlines() == ["[study] trials 1/4 done", "[study] trial x: failed",
                                              "[study] trials 2/4 done"]


def test_on_a_terminal_the_progress_line_is_redrawn_in_place_under_each_message():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    shown = console.Console(stream)
    shown.progress("[study] GANs 0/2 done")
    shown.message("[study] a message")
    shown.progress("")
    assert stream.getvalue() == ("\r\x1b[K[study] GANs 0/2 done" "\r\x1b[K[study] a message\n[study] GANs 0/2 done"
                                 "\r\x1b[K")


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59.4, "59s"), (61, "1m01s"), (3725, "1h02m")])
def test_durations_read_as_a_person_says_them(seconds, text):
    assert progress.duration(seconds) == text


def test_the_eta_comes_from_the_rate_so_far():
    assert progress.eta(0, 10, 30) == "? left"
    assert progress.eta(5, 20, 50) == "~2m30s left"


def test_the_gan_line_reads_epochs_from_losses_csv_and_counts_finished_keys(tmp_path, monkeypatch):
    from study import plan
    from study.spec import load_spec
    from trainables.runners.gan_train import losses_csv

    spec = load_spec("quick", ["sizes=[500]", "seeds=2", "gan.epochs=10"], check_registries=False)
    jobs = sorted(plan.gan_jobs(spec, 3600, 10, 400).values(), key=lambda job: job.key())
    first, second = (job.key() for job in jobs)
    row = {"epoch": 5, "d_loss": 1.2, "g_loss": 0.8, "seconds": 2.0, "images_per_second": 240.5, "started_at": 0.0}
    (tmp_path / first).mkdir()
    (tmp_path / first / "losses.csv").write_text(losses_csv([row]))
    (tmp_path / second).mkdir()
    (tmp_path / second / "meta.json").write_text("{}")
    clock = iter([100.0, 160.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    gans = progress.GanProgress(str(tmp_path), jobs, {first, second})
    # done: 5 epochs of the first key + the second whole (10 epochs, finished) = 16 of 22 units in 60 s,
    # so 6 units left at 16 per minute: ~22 s
    assert gans.line() == "[study] GANs 1/2 done, 1 training (epoch 5/10, 240 img/s), 1m00s, ~22s left"
