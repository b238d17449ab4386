"""study_overhead: a grid of 8 small classifier trials through our Tune driver vs a plain loop.

Ours: study.driver.run_study on mnist-5k with sizes [500, 1000] x 4 seeds, mlp, 2 epochs, ratio 0
(no GAN stage), as a user runs it: fresh storage folder, Ray started by the driver's own
connect_ray (an embedded local cluster), trials through Tune with 1 CPU each (2 at a time on 2
cores), results.csv and curves.csv written. Baseline: the same 8 trainings (same subsets, seeds,
model builds) in a plain sequential loop calling fit.train_classifier in this process, 1 thread.
Ratio = plain seconds / our seconds (target >= 0.8). Reported three ways: including ray.init (what
a user pays for a study this small), excluding ray.init (the first study on a fresh cluster), and
a second study on the same, warm cluster (what each further study in one Ray session pays).
For scale, the same cluster then runs 8 empty Tune trials (a function that only reports, same
resources, concurrency and reuse_actors): Tune's own floor on this machine, which no driver can beat.

Run: .venv/bin/python bench/study_overhead.py
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _timing  # noqa: E402
from study import driver  # noqa: E402
from study.spec import load_spec  # noqa: E402
from trainables import data, fit  # noqa: E402
from trainables.classifiers import CLASSIFIERS  # noqa: E402

SIZES, SEEDS, EPOCHS = (500, 1000), 4, 2
REPEATS = 3
OVERRIDES = [f"sizes=[{', '.join(map(str, SIZES))}]", f"seeds={SEEDS}", "mix.ratios=[0]",
             "classifier.name=[\"mlp\"]", f"classifier.epochs={EPOCHS}", "name=bench-study-overhead"]


def plain_loop(spec) -> list[float]:
    """The study's trainings, one after another, no Ray; returns the test accuracies."""
    train, test = data.load_dataset(spec.dataset, spec.data_root)
    accuracies = []
    for size in SIZES:
        for seed in range(SEEDS):
            real = data.subset(train, size, seed)
            with fit.seeded(seed):
                model = CLASSIFIERS["mlp"](*real.shape, real.num_classes)
            result = fit.train_classifier(model, real, test, epochs=EPOCHS, batch_size=spec.classifier.batch_size,
                                          lr=spec.classifier.lr, seed=seed)
            accuracies.append(result.test_acc)
    return accuracies


def quiet_study(spec, storage: str) -> float:
    """Seconds of one run_study (Tune's progress tables captured, not printed)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return _timing.time_call(lambda: driver.run_study(spec, storage=storage))


def empty_tune_trials(storage: str, trials: int) -> float:
    """Seconds Tune needs for `trials` trials that do nothing but report once (the floor)."""
    from ray import tune

    def trial(config):
        tune.report({"done": 1})

    tuner = tune.Tuner(tune.with_resources(trial, {"cpu": 1}), param_space={"i": tune.grid_search(list(range(trials)))},
                       tune_config=tune.TuneConfig(max_concurrent_trials=2, reuse_actors=True),
                       run_config=tune.RunConfig(name="empty", storage_path=storage, verbose=0))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return _timing.time_call(tuner.fit)


def main() -> None:
    import ray

    threads = _timing.configure_threads()
    spec = load_spec("quick", OVERRIDES)
    trials = len(SIZES) * SEEDS
    print(f"study_overhead: {trials} trials (mnist-5k sizes {list(SIZES)} x {SEEDS} seeds, mlp, {EPOCHS} epochs, "
          f"ratio 0), cpus_per_trial {spec.resources.cpus_per_trial}; plain loop torch threads {threads}")
    plain_loop(spec)  # warm-up: dataset cache, first model build
    init_s, cold_s, warm_s, plain_s, floor_s = [], [], [], [], []
    for _ in range(REPEATS):
        plain_s.append(_timing.time_call(lambda: plain_loop(spec)))
        with tempfile.TemporaryDirectory(prefix="bench_study_") as storage:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                init_s.append(_timing.time_call(lambda: driver.connect_ray(None)))
            try:
                cold_s.append(quiet_study(spec, f"{storage}/cold"))
                warm_s.append(quiet_study(spec, f"{storage}/warm"))
                rows = (Path(storage) / "warm" / spec.name / "results.csv").read_text().count("\n") - 1
                assert rows == trials, f"expected {trials} rows in results.csv, found {rows}"
                floor_s.append(empty_tune_trials(f"{storage}/empty", trials))
            finally:
                ray.shutdown()
    plain = statistics.median(plain_s)
    with_init = statistics.median([i + c for i, c in zip(init_s, cold_s, strict=True)])
    print(f"study_overhead: seconds for the whole study, median of {REPEATS} (fresh Ray each); ray.init "
          f"{statistics.median(init_s):.2f} s, first study {statistics.median(cold_s):.2f} s, second study on the "
          f"warm cluster {statistics.median(warm_s):.2f} s, plain loop {plain:.2f} s "
          f"({_timing.spread(plain_s)}); per-trial overhead excluding ray.init "
          f"{(statistics.median(cold_s) - plain) / trials:.2f} s (warm {(statistics.median(warm_s) - plain) / trials:.2f} s)"
          f"; {trials} empty Tune trials on the warm cluster {statistics.median(floor_s):.2f} s (Tune's floor); "
          "ratio = plain seconds / our seconds")
    _timing.result("study_overhead", with_init, plain, plain / with_init)
    _timing.result("study_overhead_excl_init", statistics.median(cold_s), plain, plain / statistics.median(cold_s))
    _timing.result("study_overhead_warm_cluster", statistics.median(warm_s), plain, plain / statistics.median(warm_s))


if __name__ == "__main__":
    main()
