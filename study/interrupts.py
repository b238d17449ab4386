"""Ctrl-C and SIGTERM: the first stops the study cleanly, a second aborts at once.

Ray Tune catches SIGINT inside `Tuner.fit()`, saves its experiment state and returns as if the
experiment had ended; the driver then wrote results.csv and a report over a half-run study and exited
0. So the tool owns the signal instead:

- `install()` (the CLI, before any work) sets our handler for SIGINT and SIGTERM (`ray job stop`
  sends SIGTERM) and turns Tune's own SIGINT handler off (TUNE_DISABLE_SIGINT_HANDLER=1).
- The first signal marks the study as stopping. Inside a Tune run it asks Tune for the same clean
  stop its Ctrl-C handler makes (Tune's SIGUSR1 handler: the experiment state is saved, running
  trials end), so `fit()` returns and the driver's next `check()` raises StudyInterrupted before
  anything that looks final (results.csv, report/) is written; before Tune's loop has started, the
  run's stopper (study/tune_stop.py) ends it at its first step. Outside Tune it raises
  KeyboardInterrupt where the program is.
- A second signal raises KeyboardInterrupt at once.
- Under the CLI, a stop that has not ended the command within STOP_GRACE_S seconds (Tune setting up
  a grid of thousands of trials reaches no handler and no stopper for minutes) is forced: an embedded
  Ray is stopped and the process exits 130. Finished work is on disk already.

The CLI turns both into exit code 130 and the line that says how to resume.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

EXIT_INTERRUPTED = 130
_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


class StudyInterrupted(Exception):
    """The user stopped the study (Ctrl-C or SIGTERM); its finished work is saved."""


class _State:
    stopping = threading.Event()
    finished = threading.Event()   # the CLI has wound down after a stop (the watchdog stands down)
    watchdog = False                # armed by the CLI only: a notebook's kernel is never ended
    armed = False                   # the watchdog thread has started
    lock = threading.Lock()
    wakeup = False                  # the wakeup-fd listener runs
    in_tune = False   # inside a Tune run, whose stop handler is then live on SIGUSR1


def requested() -> bool:
    return _State.stopping.is_set()


def check(where: str) -> None:
    """StudyInterrupted when a stop was asked for; the driver calls it between stages."""
    if requested():
        raise StudyInterrupted(f"stopped {where}")


@contextlib.contextmanager
def tune_run() -> Iterator[None]:
    """Around every `Tuner.fit()`: a stop asked for inside it goes to Tune's clean stop. Tune registers
    its stop handler on SIGUSR1 only once its run loop starts and never removes it, so the handler of
    the previous run (the GAN stage's) is cleared first: a Ctrl-C in the moment before this run's loop
    starts then goes to this run's stopper instead of stopping a run that has already ended, which let
    every trial of the stage run (seen in a test)."""
    check("as the stage started")
    usr1 = getattr(signal, "SIGUSR1", None)
    if usr1 is not None and threading.current_thread() is threading.main_thread():
        signal.signal(usr1, signal.SIG_DFL)
    _State.in_tune = True
    try:
        yield
    finally:
        _State.in_tune = False


def _tune_stop_handler():
    """Tune's stop handler while a Tune run is in progress (it registers it on SIGUSR1 for the run and
    never unregisters it, hence the in_tune flag), else None."""
    usr1 = getattr(signal, "SIGUSR1", None)
    handler = signal.getsignal(usr1) if usr1 is not None and _State.in_tune else None
    return handler if callable(handler) and handler is not _handle else None


# How long a clean stop may take before the process ends itself. A stop in Tune's set-up (a grid of
# thousands of trials being created) reaches no handler and no stopper until Tune's loop starts, which
# took minutes; a signal must end the study within seconds whatever it is doing. Finished work is
# already on disk (trial records, GAN checkpoints: written atomically as they finish).
STOP_GRACE_S = 15.0


def _force_exit_after(grace: float) -> None:
    """A daemon thread that ends the process (130) when the clean stop has not finished in `grace` s,
    stopping an embedded Ray first so that none of its processes outlive the study. Started once."""
    with _State.lock:
        if _State.armed:
            return
        _State.armed = True

    def watchdog() -> None:
        if _State.finished.wait(grace):
            return
        print(f"\n[study] the clean stop did not finish within {grace:g} s; stopping now; finished work is kept",
              file=sys.stderr, flush=True)
        _stop_embedded_ray()
        os._exit(EXIT_INTERRUPTED)

    threading.Thread(target=watchdog, name="study-stop-watchdog", daemon=True).start()


# What a forced stop must take down besides this process (the embedded Ray cluster's processes, which
# would outlive os._exit): study.cluster registers it when it starts one, so this module, which sits
# below the cluster code, never imports it.
_on_forced_stop: list = []


def on_forced_stop(callback) -> None:
    """Run `callback` (best effort) before a forced stop ends the process; registering twice runs it once."""
    if callback not in _on_forced_stop:
        _on_forced_stop.append(callback)


def _stop_embedded_ray() -> None:
    for callback in list(_on_forced_stop):
        try:
            callback()
        except Exception:  # best effort: the process ends either way
            pass


def cli_owns_process() -> bool:
    """Whether the CLI runs this process (it may end it); False in a notebook or a test."""
    return _State.watchdog


def finished() -> None:
    """The CLI has wound down after a stop: the watchdog need not end the process."""
    _State.finished.set()


def _handle(signum, frame) -> None:
    if requested():
        raise KeyboardInterrupt  # the second signal: abort now
    _State.stopping.set()
    if _State.watchdog:
        _force_exit_after(STOP_GRACE_S)
    name = signal.Signals(signum).name
    print(f"\n[study] {name}: stopping cleanly (finished work is kept); press Ctrl-C again to abort at once",
          file=sys.stderr, flush=True)
    tune_stop = _tune_stop_handler()
    if tune_stop is None and _State.in_tune:
        return   # Tune's loop has not started yet: its stopper ends the run at its first step (tune_stop.py)
    if tune_stop is None:
        raise KeyboardInterrupt
    tune_stop(signum, frame)
    # Tune's handler puts back the SIGINT handler it saw when the run began (ours); keep SIGTERM too.
    for sig in _SIGNALS:
        signal.signal(sig, _handle)


def abort_on_next() -> None:
    """While the tool winds down after a stop (Ray shutting its workers down), a further signal exits
    at once with 130 instead of raising inside the clean-up."""
    if threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            signal.signal(sig, lambda *_: os._exit(EXIT_INTERRUPTED))


def install(watchdog: bool | None = None) -> None:
    """Own SIGINT and SIGTERM for this process (main thread only; a no-op elsewhere). Call it again
    after `ray.init`: Ray's core installs a SIGTERM handler that logs and aborts the driver (exit -6)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if watchdog is not None:
        _State.watchdog = watchdog
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    for sig in _SIGNALS:
        signal.signal(sig, _handle)
    if _State.watchdog:
        _listen_for_signals()


def _listen_for_signals() -> None:
    """Arm the watchdog even while the main thread is stuck in C code (ray.init waiting on a cluster
    that never answers, a blocking RPC): Python runs a signal handler only between bytecodes of the
    main thread, which never come then. The C-level handler still writes the signal's number to the
    wakeup fd; a thread reading it starts the watchdog."""
    if _State.wakeup:
        signal.set_wakeup_fd(_State.wakeup_w, warn_on_full_buffer=False)   # Ray may have replaced it
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    try:
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except ValueError:   # not the main thread
        os.close(read_fd)
        os.close(write_fd)
        return
    _State.wakeup, _State.wakeup_w = True, write_fd
    wanted = {int(sig) for sig in _SIGNALS}

    def listen() -> None:
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data:
                return
            if wanted & set(data):
                _force_exit_after(STOP_GRACE_S)

    threading.Thread(target=listen, name="study-signal-listener", daemon=True).start()
