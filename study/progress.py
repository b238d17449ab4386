"""One progress line per stage, with an ETA: how far the GANs and the classifier trials are.

GAN stage: each key's Ray Train run writes progress.json as epochs end (trainables.files.gan_progress),
losses.csv at its checkpoints and meta.json when it is done, so a thread reads those (the trial itself
reports to Tune only at its end). Classifier stage:
a Tune callback counts trials as they start, finish and fail. The ETA is the remaining work divided
by the rate measured so far in this stage (epochs per second, expected trial cost per second), which folds in
the concurrency and every overhead; it says "?" until there is a rate.

Drawn only while the console is quiet (study.console); with `study -v` Tune's own table is shown.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from study import console

TTY_INTERVAL_S = 1.0      # redraw the line in place
PLAIN_INTERVAL_S = 30.0   # a CI log or a pipe: a new line at most this often


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def eta(done: float, total: float, elapsed: float) -> str:
    """'~2m10s left' from the rate so far, '? left' before there is one."""
    if done <= 0 or elapsed <= 0:
        return "? left"
    return f"~{duration((total - done) * elapsed / done)} left"


@contextlib.contextmanager
def ticking(line: Callable[[], str]) -> Iterator[None]:
    """Redraw `line()` on the console while the block runs (nothing when the console is not quiet)."""
    shown = console.active()
    if shown is None:
        yield
        return
    stop = threading.Event()
    interval = TTY_INTERVAL_S if shown.tty else PLAIN_INTERVAL_S

    def tick() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):   # a file being replaced mid-read: next tick
                shown.progress(line())

    thread = threading.Thread(target=tick, name="study-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        shown.progress("")


class GanProgress:
    """`[study] GANs 2/6 done, 2 training (epoch 15/25, 240 img/s), 1m10s, ~1m40s left`"""

    def __init__(self, cache_root: str, jobs: list, trained: set[str]):
        from trainables.files.storage import Store

        self.cache, self.jobs, self.trained = Store(cache_root), {job.key(): job for job in jobs}, trained
        self.started = time.monotonic()

    def _epochs_done(self, key: str) -> tuple[int, float]:
        """(last finished epoch, its images/s): the key's live progress.json (written as epochs end), or
        losses.csv (written at checkpoints), whichever is further."""
        from trainables.files import gan_progress

        live = gan_progress.read(self.cache.sub(key))
        if not self.cache.exists(key, "losses.csv"):
            return live
        rows = self.cache.read_text(key, "losses.csv").strip().splitlines()
        if len(rows) < 2:
            return live
        header, last = rows[0].split(","), rows[-1].split(",")
        row = dict(zip(header, last, strict=False))
        logged = int(row.get("epoch", 0)), float(row.get("images_per_second", 0.0))
        return max(live, logged)

    def line(self, final: bool = False) -> str:
        done = running = epochs_done = epochs_total = 0
        latest = None
        for key, job in self.jobs.items():
            finished = self.cache.exists(key, "meta.json")
            epochs = job.epochs if key in self.trained else 0   # a pool to grow only: no epochs
            epoch, speed = (epochs, 0.0) if finished else self._epochs_done(key)
            done += finished
            epochs_total += epochs
            epochs_done += min(epoch, epochs)
            if not finished and epoch:
                running += 1
                latest = (epoch, job.epochs, speed)
        text = f"[study] GANs {done}/{len(self.jobs)} done"
        if final:
            return f"{text} in {duration(time.monotonic() - self.started)}"
        if latest is not None:
            text += f", {running} training (epoch {latest[0]}/{latest[1]}, {latest[2]:.0f} img/s)"
        elapsed = time.monotonic() - self.started
        # Epochs measure the work; a key counts whole once its meta.json (pool, scores) is written.
        work_done = epochs_done + done
        return f"{text}, {duration(elapsed)}, {eta(work_done, epochs_total + len(self.jobs), elapsed)}"


def trial_progress_callback(total: int, metric: str, cost: Callable[[dict], float] | None = None,
                            points: list[dict] | None = None):
    """A Tune callback that draws `[study] trials 10/24 done, 2 running, best val 0.912, 40s, ~1m left`
    and says each failed trial in one line (the details are in the log). With `cost` and the `points`
    to run (grid mode), the ETA weighs each trial by its expected cost (study.trial_cost) instead of
    counting trials, so slow trials after fast ones do not stretch it."""
    from ray.tune import Callback

    def weight(trial) -> float:
        point = (getattr(trial, "config", None) or {}).get("point")
        return cost(point) if cost is not None and isinstance(point, dict) else 1.0

    total_work = sum(cost(p) for p in points) if cost is not None and points else float(total)

    class TrialProgress(Callback):
        def __init__(self) -> None:
            self.started = time.monotonic()
            self.running: set[str] = set()
            self.done = self.failed = 0
            self.work = 0.0   # the expected cost of the trials ended so far (their count without a cost model)
            self.best: float | None = None

        def on_trial_start(self, iteration, trials, trial, **info) -> None:
            self.running.add(trial.trial_id)

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            value = result.get(metric)
            if isinstance(value, int | float) and (self.best is None or value > self.best):
                self.best = float(value)

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            self.running.discard(trial.trial_id)
            self.done += 1
            self.work += weight(trial)

        def on_trial_recover(self, iteration, trials, trial, **info) -> None:
            print(f"[study] trial {trial}: failed, retrying (details in the log)", flush=True)

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self.running.discard(trial.trial_id)
            self.done += 1
            self.work += weight(trial)
            self.failed += 1
            print(f"[study] trial {trial}: failed for good; recorded as `error` (details in the log)", flush=True)

        def line(self, final: bool = False) -> str:
            elapsed = time.monotonic() - self.started
            failed = f" ({self.failed} failed)" if self.failed else ""
            best = f", best {metric} {self.best:.3f}" if self.best is not None else ""
            if final:
                return f"[study] trials {self.done}/{total} done{failed} in {duration(elapsed)}{best}"
            return (f"[study] trials {self.done}/{total} done{failed}, {len(self.running)} running{best}, "
                    f"{duration(elapsed)}, {eta(self.work, total_work, elapsed)}")

    return TrialProgress()
