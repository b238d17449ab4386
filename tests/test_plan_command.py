"""`study plan`: the GANs and trials a study would run, their resources, an estimate from
measured throughput (or the plain statement that there is none), and every check `study run` makes,
all without starting Ray or writing anything."""

from __future__ import annotations

import re
import sys

import pytest

from study import cli


@pytest.fixture(autouse=True)
def quick_calibration(request, monkeypatch):
    """The plan calibrates on an empty root (study.calibrate: seconds of GAN and classifier steps); tests
    about other lines use fixed speeds instead; the calibration test measures."""
    if request.node.name.startswith("test_an_empty_root_is_calibrated"):
        return
    from study import calibrate

    monkeypatch.setattr(calibrate, "gan_speed", lambda job, shape, num_classes, steps=0: 250.0)
    monkeypatch.setattr(calibrate, "trial_speed", lambda *args, **kwargs: 25000.0)


def _ray_running() -> bool:
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


@pytest.fixture
def no_ray_started():
    """The plan starts no Ray. In a full run an earlier slow test may have left the session's shared Ray
    up (conftest's ray_local lives until the session ends), so the check is that the test did not start it."""
    before = _ray_running()
    yield
    assert before or not _ray_running()


def test_the_plan_of_the_quick_study_lists_its_gans_and_trials_and_writes_nothing(tmp_path, capsys, no_ray_started):
    storage = tmp_path / "studies"
    assert cli.main(["plan", "quick", "--storage", str(storage)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[plan] quick: dataset mnist-5k (3600 training images after 400 held out for "
                             "validation, shape (1, 28, 28)), 6 GAN key(s) (0 already in")
    assert out[0].endswith("24 classifier trial(s) (grid)")
    table = [line for line in out if line.startswith("  ") and "abadi" in line]
    assert len(table) == 6 and all(line.rstrip().endswith("no") for line in table)
    text = "\n".join(out)
    assert "no time estimate" not in text
    assert "[plan] calibrated here in" in text and "GAN worker abadi alpha 1 conditional: 250 img/s" in text
    # 6 GANs of n = 500 or 1000 x 25 epochs = 112,500 images at 250/s: 7m30s of one worker
    assert re.search(r"^\[plan\] compute: GANs 7m30s \(6 to train, one worker each\) and \S+ of pools and quality "
                     r"scores \(with the dataset scoring network\), classifier trials between ", text, flags=re.M)
    assert re.search(r"^\[plan\] cost: \d+\.\d\d CPU-hours, 0 GPU-hours$", text, flags=re.M)
    # The wall time lays the compute out as the driver runs it: the 6 keys in Train runs as many at once as
    # the CPUs hold, then the trials, each stage with its start-ups.
    wall = re.search(r"^\[plan\] wall time here: about (\S+) \(Ray start (\S+), GAN stage (\S+) in (\d) Train run\(s\), "
                     r"(\d) at a time; classifier stage (\S+), (\d) trial\(s\) at a time\); start-ups: constants measured "
                     r"on a 2-CPU machine$", text, flags=re.M)
    assert wall, text
    from study.cluster import local_capacity

    cpus = int(local_capacity()[0])
    assert int(wall.group(5)) == int(wall.group(7)) == cpus       # 1 CPU per GAN worker and per trial
    assert int(wall.group(4)) == min(6, cpus)
    gan_stage = _seconds(wall.group(3))
    assert 7.5 * 60 / cpus <= gan_stage <= 7.5 * 60 / cpus + 120   # the training, plus start-ups and outputs
    least, most = (_seconds(part) for part in wall.group(1).split("-"))
    assert least >= _seconds(wall.group(2)) + gan_stage and most > least
    assert out[-1] == "[plan] every check `study run` makes before it starts passed"
    assert not storage.exists()


def _seconds(text: str) -> float:
    """study.progress.duration's text back to seconds: "1h02m", "3m17s", "45s"."""
    parts = dict((unit, float(value)) for value, unit in re.findall(r"(\d+(?:\.\d+)?)([hms])", text))
    return parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)


def test_every_problem_is_listed_and_the_plan_exits_2(tmp_path, capsys):
    args = ["plan", "quick", "--storage", str(tmp_path), "--set", "resources.cpus_per_trial=64",
            "--set", "resources.gpus_per_trial=1"]
    assert cli.main(args) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: resources.cpus_per_trial: 64 but this machine has")
    assert captured.out.startswith("[plan] quick:")    # the plan is still shown


def test_a_missing_download_is_a_problem_but_the_plan_is_still_printed(tmp_path, capsys):
    # An empty data root: MNIST is not there and cannot be downloaded (no network here, and in CI).
    assert cli.main(["plan", "abadi-mnist", "--storage", str(tmp_path / "s"), "--set", "resources.gpus_per_trial=0",
                     "--set", f"data_root='{tmp_path / 'data'}'"]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert "5 GAN key(s) (0 already in" in captured.out and " full " in captured.out   # the sizes' keys, n = full too
    (error,) = captured.err.splitlines()
    assert error.startswith("error: dataset: dataset 'mnist' not found under")


def test_the_estimate_comes_from_the_cache_and_earlier_studies(tmp_path, capsys):
    from trainables.runners.gan_train import losses_csv

    (tmp_path / "gan-cache" / "aaaaaaaaaaaa").mkdir(parents=True)
    rows = [{"epoch": e, "d_loss": 1.0, "g_loss": 1.0, "seconds": 2.0, "images_per_second": 250.0, "started_at": 0.0}
            for e in (1, 2)]
    (tmp_path / "gan-cache" / "aaaaaaaaaaaa" / "losses.csv").write_text(losses_csv(rows))
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.csv").write_text("trial,images_per_second\na,20000\nb,30000\n")
    assert cli.main(["plan", "quick", "--storage", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # 6 GANs of n = 500 or 1000 x 25 epochs = 112,500 images at 250/s: 7m30s; one compute line, its speeds'
    # sources named (the outputs' speeds are calibrated: the cache has no meta.json to time them by).
    (compute,) = [line for line in out.splitlines() if line.startswith("[plan] compute:")]
    assert compute.startswith("[plan] compute: GANs 7m30s (6 to train, one worker each)")
    assert compute.endswith("GAN speed 250 images/s, the median of 1 GAN(s) in the cache (measured on whichever "
                            "machine trained them); trial speed 25000 images/s, the median of 2 earlier trial(s) in "
                            "this storage root")
    assert "GANs to train:" not in out and "no time estimate" not in out


@pytest.mark.parametrize("overrides, line", [
    ([], "[plan] replication: seeds 0-2: 3 independent unit(s) per size (a real subset and its GAN), each with 1 "
         "classifier repeat(s)"),
    (["gan.repeats=3", "seeds=9"], "[plan] replication: seeds 0-8: 3 independent unit(s) per size (a real subset "
                                   "and its GAN), each with 3 classifier repeat(s)"),
    (["gan.repeats=once", "first_seed=4"], "[plan] replication: seeds 4-6: 1 independent unit(s) per size (a real "
     "subset and its GAN), each with 3 classifier repeat(s); fewer than 3 units: the answer holds for the GAN(s) "
     "trained, not in general"),
    (["search.mode=optuna"], "[plan] replication: every Optuna trial uses seed 0; test the best configuration "
                             "against R = 0 over fresh seeds with `study confirm DIR` afterwards"),
])
def test_the_plan_says_what_is_independently_repeated(overrides, line):
    from study.plan_view import _units_line
    from study.spec import load_spec

    assert _units_line(load_spec("quick", overrides, check_registries=False)) == line


def test_the_plan_of_a_nested_design_prints_its_units(tmp_path, capsys):
    assert cli.main(["plan", "quick", "--storage", str(tmp_path), "--set", "gan.repeats=3", "--set", "seeds=6",
                     "--set", "sizes=[500]"]) == 0
    out = capsys.readouterr().out
    assert "3 independent unit(s) per size (a real subset and its GAN), each with 2 classifier repeat(s)" in out
    assert "3 GAN key(s)" in out       # one GAN per unit, not per seed


def test_an_empty_root_is_calibrated_in_seconds_at_the_study_shapes(tmp_path, capsys):
    """No history: a few real GAN and classifier steps give the speeds; a GPU study states its GPU-hours
    and, without a GPU here, the assumption they rest on."""
    import time

    started = time.perf_counter()
    assert cli.main(["plan", "abadi-mnist", "--storage", str(tmp_path / "s"), "--set", "dataset=mnist-5k",
                     "--set", "sizes=[200]", "--set", "seeds=1"]) in (0, cli.EXIT_USAGE)
    seconds = time.perf_counter() - started
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("[plan] calibrated here in"))
    assert "GAN worker abadi alpha 2 per-class:" in line and "classifier mlp:" in line
    spent = float(re.search(r"in (\d+\.\d) s", line).group(1))
    assert spent < 60, line
    cost = next(line for line in out.splitlines() if line.startswith("[plan] cost:"))
    assert "GPU-hours (assumed: a GPU runs these models 20x faster than this machine's CPU" in cost
    assert "CPU-hours beside them" in cost
    assert not (tmp_path / "s").exists()
    print(f"plan with calibration: {seconds:.1f} s")


def test_an_optuna_plan_counts_and_costs_its_search_trials(tmp_path, capsys):
    """Optuna runs search.trials trials: the plan counts them (not the 2 points it may draw) and costs each
    at the widest R it may draw."""
    assert cli.main(["plan", "quick", "--storage", str(tmp_path), "--set", "search.mode='optuna'",
                     "--set", "search.trials=7"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(", 7 classifier trial(s) (optuna)")
    assert "(7 trial(s), training and evaluation)" in out


def test_a_study_without_gans_has_no_gan_stage_in_its_cost(tmp_path, capsys):
    assert cli.main(["plan", "quick", "--storage", str(tmp_path), "--set", "mix.ratios=[0]"]) == 0
    out = capsys.readouterr().out
    assert "[plan] compute: no GAN to train, classifier trials between " in out
    assert re.search(r"^\[plan\] wall time here: about \S+ \(Ray start \S+, no GAN stage; classifier stage ", out,
                     flags=re.M)


def test_on_a_gpu_machine_the_wall_time_runs_as_many_gans_and_trials_as_its_gpus_hold(tmp_path, capsys, monkeypatch):
    """16 CPUs and 1 GPU: the driver's GAN stage gives each Train worker a GPU, so one run at a time, and
    trials of 0.5 GPU run two at a time; the plan lays the stages out the same way (not 16 at a time)."""
    from study import cluster

    monkeypatch.setattr(cluster, "local_capacity", lambda: (16.0, 1.0))
    cli.main(["plan", "quick", "--storage", str(tmp_path), "--set", "resources.gpus_per_trial=0.5"])
    out = capsys.readouterr().out
    assert re.search(r"GAN stage \S+ in 1 Train run\(s\), 1 at a time; classifier stage \S+, 2 trial\(s\) at a time",
                     out), out
