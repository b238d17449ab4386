"""study_overhead: a grid of classifier trials through our Tune driver vs the same trainings in a plain loop.

The trials are the ones the product runs: the quick preset's classifier (mlp, 15 epochs, batch 64,
lr 1e-3) at ratio 0 (no GAN stage) on mnist-5k, sizes [500, 1000] x S seeds. Ours: study.driver.run_study
as `study run` calls it (fresh storage folder, an embedded local Ray cluster started by the driver's
own connect_ray, trials through Tune with 1 CPU each, 2 at a time on 2 cores, fresh trial actors that
import torch and Ray Tune, results.csv and curves.csv written), including ray.init.
Baseline: the same trainings (same subsets, seeds, model builds, per-epoch evaluation) in a plain
sequential loop calling fit.train_classifier in this already warm process, 1 thread (what a trial
gets): it pays no interpreter start, no torch import and no first-optimizer import of torch._dynamo,
which every fresh trial actor does pay. Ratio = plain seconds / our seconds.

A study costs ours(N) = F + N x c for N trials: F is fixed (ray.init, Tune's start, the trial actors'
imports and warm-up, the results files), c is what one more trial adds (half a training, since two
run at a time, plus Tune's per-trial work). So the ratio depends on N, and the script measures two grids:
- `study_overhead` (target >= 0.8): 64 trials (32 seeds), a sweep-sized grid (the quick preset has
  24 trials, abadi-mnist 105);
- `study_overhead_16_trials`: 16 trials (8 seeds), where the fixed cost dominates;
each also without its ray.init (`*_excl_init`: what a study on an already running cluster,
`--address`, pays). From the two it prints F, c and the smallest N for which the ratio reaches 0.8.

Where the time goes (printed for each grid, median over repeats): the driver's phases (ray.init, GAN
stage, Tune's classifier experiment, results files) timed by wrapping the driver's own functions;
inside Tune's experiment, the trials' own time from Tune ("time_total_s" of each trial's last result)
and from the trial (its record's trial_seconds and train_seconds) against the experiment's wall time;
and, for 16 trials, the same number of empty Tune trials on the same cluster (Tune's floor).

On `--device cuda` the trials ask for `resources.gpus_per_trial = 0.25` (four to a GPU) and the plain
loop trains on the GPU.

Run: .venv/bin/python bench/study_overhead.py [--device cpu|cuda]   (about 4 minutes; default: cuda when
there is one)
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _timing  # noqa: E402
from study import driver, plan  # noqa: E402
from study.spec import load_spec  # noqa: E402
from trainables.classifier import fit  # noqa: E402
from trainables.classifier.models import CLASSIFIERS  # noqa: E402
from trainables.data import datasets as data
from trainables.data import sampling

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

    def spec(self, device: str = "cpu"):
        """The study's spec; on cuda every trial asks for a quarter of a GPU (the GPU path: trials packed
        four to a GPU)."""
        on_gpu = ["resources.gpus_per_trial=0.25"] if device == "cuda" else []
        return load_spec("quick", [*on_gpu, f"sizes=[{', '.join(map(str, self.sizes))}]", f"seeds={self.seeds}",
                                   "mix.ratios=[0]", "classifier.name=[\"mlp\"]", f"classifier.epochs={self.epochs}",
                                   # the plain loop it is compared with trains fixed epochs, no validation
                                   "classifier.schedule='epochs'", "eval.validation=0",
                                   f"name=bench-{self.name}"])


SWEEP = Grid("study_overhead", (500, 1000), 32, 15)  # quick preset: mlp, 15 epochs, batch 64, lr 1e-3
SMALL = Grid("study_overhead_16_trials", (500, 1000), 8, 15)
TARGET = 0.8


def plain_loop(spec, device: str = "cpu") -> list[tuple[float, float]]:
    """The study's trainings, one after another, no Ray; (wall seconds, optimisation-only seconds) of each."""
    train, test = data.load_dataset(spec.dataset, spec.data_root)
    seconds = []
    for size in spec.sizes:
        for seed in plan.seeds(spec):
            real = sampling.subset(train, size, plan.subset_seed(spec, seed))
            with fit.seeded(seed):
                model = CLASSIFIERS["mlp"](*real.shape, real.num_classes)
            started = time.perf_counter()
            result = fit.train_classifier(model, real, test, epochs=spec.classifier.epochs,
                                          batch_size=spec.classifier.batch_size, lr=spec.classifier.lr, seed=seed,
                                          device=device)
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


def measure(grid: Grid, storage: str, with_floor: bool, device: str) -> dict:
    """One repeat of one grid: the plain loop, then the study through the driver on a fresh Ray."""
    import ray

    spec = grid.spec(device)
    plain = plain_loop(spec, device)
    sample = {"plain": sum(wall for wall, _ in plain), "plain_train": sum(train for _, train in plain)}
    try:
        sample["ours"] = run_study(spec, f"{storage}/{grid.name}")
        sample["inside"] = trial_timings(f"{storage}/{grid.name}", spec)
        if with_floor:
            sample["floor"] = empty_tune_trials(f"{storage}/empty", grid.trials, 1)
            sample["floor_reports"] = empty_tune_trials(f"{storage}/empty", grid.trials, grid.epochs + 1)
    finally:
        ray.shutdown()
    return sample


def describe(grid: Grid, samples: list[dict]) -> tuple[float, float, float]:
    """Print one grid's breakdown and RESULT lines; (plain, ours incl. ray.init, ours excl.) medians."""
    plain_s = statistics.median(s["plain"] for s in samples)
    ours = [s["ours"] for s in samples]
    inside = [s["inside"] for s in samples]
    with_init, excl = median_of(ours, "total"), median_of(ours, "total excl. ray.init")
    tune_s = median_of(ours, "run_classifier_stage")
    print(f"{grid.name}: {grid.trials} trials; seconds per study, median of {len(samples)}: plain loop "
          f"{plain_s:.2f} s ({_timing.spread([s['plain'] for s in samples])}; "
          f"{plain_s / grid.trials:.3f} s per training), ours incl. ray.init {with_init:.2f} s "
          f"({_timing.spread([o['total'] for o in ours])}), excl. ray.init {excl:.2f} s")
    print(f"{grid.name}: where the time goes: "
          + ", ".join(f"{name} {median_of(ours, name):.2f} s" for name in PHASES)
          + f", rest of run_study (spec.toml/env.json, data load, ray.put) "
          f"{with_init - sum(median_of(ours, n) for n in PHASES):.2f} s (connect_ray = ray.init)")
    tune_total = median_of(inside, "tune_time_total_s")
    concurrency = 2
    print(f"{grid.name}: inside Tune's classifier experiment ({tune_s:.2f} s wall, {concurrency} trials at a "
          f"time): sum of Tune's time_total_s {tune_total:.2f} s (/{concurrency} = {tune_total / concurrency:.2f} s), "
          f"of train_classifier incl. evals and reports {median_of(inside, 'trial_seconds'):.2f} s, of "
          f"optimisation only {median_of(inside, 'train_seconds'):.2f} s (plain loop: "
          f"{statistics.median(s['plain_train'] for s in samples):.2f} s); driver CPU during the experiment "
          f"{median_of(ours, 'run_classifier_stage driver cpu'):.2f} s; {median_of(inside, 'reports'):.0f} "
          f"results reported")
    if "floor" in samples[0]:
        floor = statistics.median(s["floor"] for s in samples)
        floor_reports = statistics.median(s["floor_reports"] for s in samples)
        print(f"{grid.name}: Tune's floor, {grid.trials} empty trials on the same cluster: {floor:.2f} s with 1 "
              f"tune.report each, {floor_reports:.2f} s with {grid.epochs + 1} each "
              f"({(floor_reports - floor) / (grid.trials * grid.epochs) * 1e3:.1f} ms per extra report)")
    _timing.result(grid.name, with_init, plain_s, plain_s / with_init)
    _timing.result(f"{grid.name}_excl_init", excl, plain_s, plain_s / excl)
    return plain_s, with_init, excl


def fixed_cost_model(small: tuple[float, float, float], sweep: tuple[float, float, float]) -> None:
    """F and c of ours(N) = F + N c from the two grids, and the N from which the ratio reaches TARGET."""
    n_small, n_sweep = SMALL.trials, SWEEP.trials
    per_plain = (sweep[0] + small[0]) / (n_sweep + n_small)
    for label, column in (("incl. ray.init", 1), ("excl. ray.init", 2)):
        per_trial = (sweep[column] - small[column]) / (n_sweep - n_small)
        fixed = small[column] - n_small * per_trial
        limit = per_plain / per_trial
        reach = (f"reaches {TARGET} from N >= {math.ceil(TARGET * fixed / (per_plain - TARGET * per_trial))}"
                 if limit > TARGET else f"never reaches {TARGET}")
        print(f"study_overhead model ({label}): ours(N) = {fixed:.2f} s + N x {per_trial:.3f} s; plain(N) = "
              f"N x {per_plain:.3f} s; the ratio tends to {limit:.2f} for large N and {reach}")


def main() -> None:
    device = _timing.bench_device(__doc__.splitlines()[0]).type
    threads = _timing.configure_threads()
    print(f"study_overhead: quick preset's classifier (mlp, {SWEEP.epochs} epochs, batch "
          f"{SWEEP.spec().classifier.batch_size}, lr {SWEEP.spec().classifier.lr:g}, ratio 0) on mnist-5k "
          f"sizes {list(SWEEP.sizes)}; {SWEEP.trials} and {SMALL.trials} trials; cpus_per_trial "
          f"{SWEEP.spec().resources.cpus_per_trial}; plain loop torch threads {threads}; device {device}; {REPEATS} repeats, "
          f"each study on a fresh Ray")
    plain_loop(Grid("warmup", (500,), 1, 1).spec(device), device)  # dataset cache, first model build and optimizer
    samples: dict[str, list[dict]] = {SWEEP.name: [], SMALL.name: []}
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory(prefix="bench_study_") as storage:
            samples[SWEEP.name].append(measure(SWEEP, storage, with_floor=False, device=device))
            samples[SMALL.name].append(measure(SMALL, storage, with_floor=True, device=device))
    sweep = describe(SWEEP, samples[SWEEP.name])
    small = describe(SMALL, samples[SMALL.name])
    fixed_cost_model(small, sweep)


if __name__ == "__main__":
    main()
