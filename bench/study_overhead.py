"""study_overhead: a grid of classifier trials through our Tune driver vs the same trainings in a plain loop.

Main line `study_overhead` (target >= 0.8): the trials the product actually runs, the quick
preset's classifier settings (mlp, 15 epochs, batch 64, lr 1e-3) at ratio 0 (no GAN stage), sizes
[500, 1000] x 8 seeds = 16 trials on mnist-5k. Ours: study.driver.run_study as a user runs it
(fresh storage folder, an embedded local Ray cluster started by the driver's own connect_ray,
trials through Tune with 1 CPU each, 2 at a time on 2 cores, results.csv and curves.csv written),
including ray.init; `study_overhead_excl_init` is the same run minus its ray.init (the seconds of
the driver's connect_ray, timed inside the same call).
Baseline: the same 16 trainings (same subsets, seeds, model builds, per-epoch evaluation) in a
plain sequential loop calling fit.train_classifier in this process, 1 thread (what a trial gets).
Ratio = plain seconds / our seconds.

`study_overhead_tiny_trials` (informational): the old, Tune-bound case, 8 trials of 2 mlp epochs
(~0.06 s of work each) including ray.init.

Where the time goes (printed for the main study, median over repeats): the driver's phases (study
folder, data load, ray.init, GAN stage, Tune's classifier experiment, results files) timed by
wrapping the driver's own functions; inside Tune's experiment, the trials' own time from Tune
("time_total_s" of each trial's last result) and from the trial (its record's trial_seconds, i.e.
train_classifier with its per-epoch reports, and train_seconds, optimisation only) against the
experiment's wall time; and the same number of empty Tune trials on the same cluster (Tune's floor).

Run: .venv/bin/python bench/study_overhead.py
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _timing  # noqa: E402
from study import driver  # noqa: E402
from study.spec import load_spec  # noqa: E402
from trainables import data, fit  # noqa: E402
from trainables.classifiers import CLASSIFIERS  # noqa: E402

REPEATS = 3
# The driver's steps that run_study calls through module globals: wrapped to time each phase.
PHASES = ("connect_ray", "run_gan_stage", "run_classifier_stage", "results_frames", "write_results")


@dataclass(frozen=True)
class Grid:
    """One study of the bench: its RESULT name and the grid (the quick preset's classifier otherwise)."""

    name: str
    sizes: tuple[int, ...]
    seeds: int
    epochs: int

    @property
    def trials(self) -> int:
        return len(self.sizes) * self.seeds

    def spec(self):
        return load_spec("quick", [f"sizes=[{', '.join(map(str, self.sizes))}]", f"seeds={self.seeds}",
                                   "mix.ratios=[0]", "classifier.name=[\"mlp\"]", f"classifier.epochs={self.epochs}",
                                   f"name=bench-{self.name}"])


MAIN = Grid("study_overhead", (500, 1000), 8, 15)  # quick preset: mlp, 15 epochs, batch 64, lr 1e-3
TINY = Grid("study_overhead_tiny_trials", (500, 1000), 4, 2)


def plain_loop(spec) -> list[tuple[float, float]]:
    """The study's trainings, one after another, no Ray; (wall seconds, optimisation-only seconds) of each."""
    train, test = data.load_dataset(spec.dataset, spec.data_root)
    seconds = []
    for size in spec.sizes:
        for seed in range(spec.seeds):
            real = data.subset(train, size, seed)
            with fit.seeded(seed):
                model = CLASSIFIERS["mlp"](*real.shape, real.num_classes)
            started = time.perf_counter()
            result = fit.train_classifier(model, real, test, epochs=spec.classifier.epochs,
                                          batch_size=spec.classifier.batch_size, lr=spec.classifier.lr, seed=seed)
            seconds.append((time.perf_counter() - started, result.train_seconds))
    return seconds


@contextlib.contextmanager
def timed_phases(phases: dict[str, float]):
    """Wrap the driver's phase functions so that each call adds its seconds to phases[name]."""
    originals = {name: getattr(driver, name) for name in PHASES}

    def wrap(name, fn):
        def timed(*args, **kwargs):
            started, cpu_started = time.perf_counter(), time.process_time()
            value = fn(*args, **kwargs)
            phases[name] += time.perf_counter() - started
            phases[f"{name} driver cpu"] += time.process_time() - cpu_started  # Tune's controller loop
            return value
        return timed

    for name, fn in originals.items():
        setattr(driver, name, wrap(name, fn))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(driver, name, fn)


def run_study(spec, storage: str) -> dict[str, float]:
    """One study on a fresh Ray (started inside, by the driver's connect_ray); seconds of the whole
    run_study call ('total') and of each of its PHASES. The caller shuts Ray down."""
    phases: dict[str, float] = defaultdict(float)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        with timed_phases(phases):
            phases["total"] = _timing.time_call(lambda: driver.run_study(spec, storage=storage))
    rows = (Path(storage) / spec.name / "results.csv").read_text().count("\n") - 1
    assert rows == spec.seeds * len(spec.sizes), f"expected {spec.seeds * len(spec.sizes)} rows, found {rows}"
    phases["total excl. ray.init"] = phases["total"] - phases["connect_ray"]
    return dict(phases)


def trial_timings(storage: str, spec) -> dict[str, float]:
    """Sums over the study's trials: Tune's time_total_s, the trial's own trial_seconds and train_seconds."""
    folder = Path(storage) / spec.name
    sums = {"tune_time_total_s": 0.0, "trial_seconds": 0.0, "train_seconds": 0.0, "reports": 0}
    for result_file in (folder / "tune" / "classifiers").glob("*/result.json"):
        lines = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        sums["tune_time_total_s"] += lines[-1]["time_total_s"]
        sums["reports"] += len(lines)
    for record in (folder / "trials").glob("*.json"):
        values = json.loads(record.read_text())
        sums["trial_seconds"] += values["trial_seconds"]
        sums["train_seconds"] += values["train_seconds"]
    return sums


def empty_tune_trials(storage: str, trials: int, reports: int) -> float:
    """Seconds Tune needs for `trials` trials that do nothing but call tune.report `reports` times,
    with the classifier stage's resources, concurrency and reuse_actors (Tune's floor)."""
    from ray import tune

    def trial(config):
        for step in range(reports):
            tune.report({"step": step})

    tuner = tune.Tuner(tune.with_resources(trial, {"cpu": 1}), param_space={"i": tune.grid_search(list(range(trials)))},
                       tune_config=tune.TuneConfig(max_concurrent_trials=2, reuse_actors=True),
                       run_config=tune.RunConfig(name=f"empty{reports}", storage_path=storage, verbose=0))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return _timing.time_call(tuner.fit)


def median_of(samples: list[dict], key: str) -> float:
    return statistics.median(sample.get(key, 0.0) for sample in samples)


def main() -> None:
    import ray

    threads = _timing.configure_threads()
    main_spec, tiny_spec = MAIN.spec(), TINY.spec()
    print(f"study_overhead: {MAIN.trials} trials (mnist-5k sizes {list(MAIN.sizes)} x {MAIN.seeds} seeds, mlp, "
          f"{MAIN.epochs} epochs, batch {main_spec.classifier.batch_size}, lr {main_spec.classifier.lr:g}, ratio 0), "
          f"cpus_per_trial {main_spec.resources.cpus_per_trial}; tiny: {TINY.trials} trials of {TINY.epochs} "
          f"epochs; plain loop torch threads {threads}; {REPEATS} repeats, each study on a fresh Ray")
    plain_loop(tiny_spec)  # warm-up: dataset cache, first model build
    plain, plain_tiny, ours, tiny, inside, floor, floor_reports = [], [], [], [], [], [], []
    reports_per_trial = MAIN.epochs + 1  # the classifier trial reports after every epoch, then once more
    for _ in range(REPEATS):
        plain.append(plain_loop(main_spec))
        plain_tiny.append(sum(wall for wall, _ in plain_loop(tiny_spec)))
        with tempfile.TemporaryDirectory(prefix="bench_study_") as storage:
            try:
                ours.append(run_study(main_spec, f"{storage}/main"))
                inside.append(trial_timings(f"{storage}/main", main_spec))
                floor.append(empty_tune_trials(f"{storage}/empty", MAIN.trials, 1))
                floor_reports.append(empty_tune_trials(f"{storage}/empty", MAIN.trials, reports_per_trial))
            finally:
                ray.shutdown()
            try:
                tiny.append(run_study(tiny_spec, f"{storage}/tiny"))
            finally:
                ray.shutdown()

    plain_s = statistics.median(sum(wall for wall, _ in p) for p in plain)
    plain_train_s = statistics.median(sum(train for _, train in p) for p in plain)
    per_trial_plain = statistics.median(wall for p in plain for wall, _ in p)
    with_init, excl = median_of(ours, "total"), median_of(ours, "total excl. ray.init")
    tune_s = median_of(ours, "run_classifier_stage")
    print(f"study_overhead: seconds for the whole study, median of {REPEATS}; plain loop {plain_s:.2f} s "
          f"({_timing.spread([sum(wall for wall, _ in p) for p in plain])}; {per_trial_plain:.3f} s per training), ours incl. "
          f"ray.init {with_init:.2f} s ({_timing.spread([o['total'] for o in ours])}), excl. ray.init "
          f"{excl:.2f} s; per-trial overhead (ours - plain) / {MAIN.trials}: incl. ray.init "
          f"{(with_init - plain_s) / MAIN.trials:.3f} s, excl. {(excl - plain_s) / MAIN.trials:.3f} s; "
          f"ratio = plain seconds / our seconds")
    print("study_overhead: where the time goes (medians): "
          + ", ".join(f"{name} {median_of(ours, name):.2f} s" for name in PHASES)
          + f", rest of run_study (spec.toml/env.json, data load, ray.put) "
          f"{with_init - sum(median_of(ours, n) for n in PHASES):.2f} s (connect_ray = ray.init)")
    tune_total = median_of(inside, "tune_time_total_s")
    trial_s, train_s = median_of(inside, "trial_seconds"), median_of(inside, "train_seconds")
    concurrency = 2
    print(f"study_overhead: inside Tune's classifier experiment ({tune_s:.2f} s wall, {concurrency} trials at a "
          f"time): sum over the {MAIN.trials} trials of Tune's time_total_s {tune_total:.2f} s (/{concurrency} = "
          f"{tune_total / concurrency:.2f} s), of train_classifier incl. evals and {MAIN.epochs} tune.report "
          f"per trial {trial_s:.2f} s, of optimisation only {train_s:.2f} s; the plain loop's trainings "
          f"{plain_s:.2f} s (optimisation only {plain_train_s:.2f} s); CPU seconds of the driver process (Tune's "
          f"controller) during the experiment {median_of(ours, 'run_classifier_stage driver cpu'):.2f} s; {median_of(inside, 'reports'):.0f} results reported; "
          f"Tune experiment wall - time_total_s/{concurrency} = {tune_s - tune_total / concurrency:.2f} s "
          f"(actor start, scheduling, experiment start/stop); {MAIN.trials} empty Tune trials on the same "
          f"cluster {statistics.median(floor):.2f} s with 1 tune.report each (Tune's floor), "
          f"{statistics.median(floor_reports):.2f} s with {reports_per_trial} each (the trials' report count): "
          f"{(statistics.median(floor_reports) - statistics.median(floor)) / (MAIN.trials * (reports_per_trial - 1)) * 1e3:.1f} ms "
          "per extra report")
    _timing.result("study_overhead", with_init, plain_s, plain_s / with_init)
    _timing.result("study_overhead_excl_init", excl, plain_s, plain_s / excl)
    tiny_with_init, tiny_plain = median_of(tiny, "total"), statistics.median(plain_tiny)
    print(f"study_overhead_tiny_trials: {TINY.trials} trials of {TINY.epochs} mlp epochs incl. ray.init "
          f"({median_of(tiny, 'connect_ray'):.2f} s), plain loop {tiny_plain:.2f} s; per-trial overhead "
          f"{(tiny_with_init - tiny_plain) / TINY.trials:.3f} s")
    _timing.result("study_overhead_tiny_trials", tiny_with_init, tiny_plain, tiny_plain / tiny_with_init)


if __name__ == "__main__":
    main()
