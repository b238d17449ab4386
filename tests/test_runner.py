"""The study runner: mixing real and synthetic data, trial naming, the CLI, and end-to-end runs."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
import torch

from study import cli, plan
from study import spec as S
from study.checks import SpecError
from study.folder import StudyError, StudyFolder
from study.stage_classifiers import reports_every_epoch
from trainables.data import sampling
from trainables.data.errors import DataError
from trainables.data.images import ImageSet
from trainables.runners.classifier_trial import EpochReports, build_training_set, synthetic_count

# A study small enough to run end to end in well under a minute on 2 cores.
TINY = ["--set", "sizes=[100]", "--set", "seeds=1", "--set", "gan.epochs=2", "--set", "gan.checkpoint_every=1",
        "--set", "classifier.epochs=2", "--set", "mix.ratios=[0, 1]"]


def fake_pool(per_class: int, num_classes: int = 10, shape=(1, 28, 28)) -> ImageSet:
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    images = torch.full((len(labels), *shape), 200, dtype=torch.uint8)
    return ImageSet(images=images, labels=labels, classes=tuple(str(k) for k in range(num_classes)))


# --------------------------------------------------------------------------------------------------
# The mixed training set
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ratio", [0, 0.25, 0.5, 1, 2, 4])
def test_mixed_set_has_round_r_n_synthetic_images_class_balanced(mnist5k, ratio):
    real = sampling.subset(mnist5k[0], 500, seed=0)
    pool = fake_pool(per_class=4 * 500 // 10 + 1)
    mixed = build_training_set(real, pool, ratio, use_real=True)

    n_synthetic = synthetic_count(ratio, 500)
    assert n_synthetic == round(ratio * 500)
    assert len(mixed) == 500 + n_synthetic
    assert torch.equal(mixed.images[:500], real.images)  # the real subset comes through untouched
    synthetic_labels = mixed.labels[500:]
    counts = torch.bincount(synthetic_labels, minlength=10)
    assert counts.max() - counts.min() <= 1  # class-balanced
    assert torch.bincount(mixed.labels, minlength=10).sum() == len(mixed)


def test_synthetic_only_set_ignores_the_real_images(mnist5k):
    real = sampling.subset(mnist5k[0], 200, seed=1)
    only = build_training_set(real, fake_pool(per_class=50), 2, use_real=False)
    assert len(only) == 400
    assert bool((only.images == 200).all())


def test_ratio_zero_needs_no_pool_and_synthetic_only_needs_a_ratio(mnist5k):
    real = sampling.subset(mnist5k[0], 100, seed=0)
    assert build_training_set(real, None, 0, use_real=True) is real
    with pytest.raises(ValueError, match="ratio > 0"):
        build_training_set(real, None, 0, use_real=False)


def test_a_pool_too_small_for_the_ratio_is_refused(mnist5k):
    real = sampling.subset(mnist5k[0], 100, seed=0)
    with pytest.raises(DataError):
        build_training_set(real, fake_pool(per_class=2), 1, use_real=True)


# --------------------------------------------------------------------------------------------------
# The command line: help, presets, and the unhappy paths (exit code 2, one line, nothing lost)
# --------------------------------------------------------------------------------------------------
def test_presets_and_show(capsys):
    assert cli.main(["presets"]) == 0
    listing = capsys.readouterr().out
    assert "quick" in listing and "abadi-mnist" in listing
    assert cli.main(["show", "quick"]) == 0
    assert 'name = "quick"' in capsys.readouterr().out


@pytest.mark.parametrize("overrides, key", [
    (["mix.ratios=[-1]"], "mix.ratios"),
    (["gan.workers=3"], "gan.batch_size"),
    (["classifier.lenet.epochs=3"], "classifier.lenet"),
    (["gan.checkpoint_every=[1, 2]"], "gan.checkpoint_every"),
    (["sizes=[3900]"], "eval.validation"),
    (["gan.alpha=[0]"], "gan.alpha"),
    (["classifier.name=['vgg']"], "classifier.name"),
    (["sizes=[999999]"], "sizes"),
    (["search.mode='random'"], "search.mode"),
    (["gan.nonsense=1"], "gan.nonsense"),
    (["gan.repeats=3", "seeds=2"], "gan.repeats"),
    (["first_seed=-1"], "first_seed"),
    (["eval.min_effect=-0.5"], "eval.min_effect"),
    (["eval.min_effect='small'"], "eval.min_effect"),
    (["search.metric=test_acc"], "search.metric"),
    (["search.mode=optuna", "search.metric=test_acc_at_best_val"], "search.metric"),
])
def test_bad_input_exits_2_with_one_line_naming_the_key(tmp_path, capsys, overrides, key):
    args = ["run", "quick", "--storage", str(tmp_path)]
    for item in overrides:
        args += ["--set", item]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {key}")
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_results_csv_names_every_trials_unit_in_subset_seed(tmp_path):
    """R = 0 rows too: the analysis pairs an arm with the baseline of the same real subset."""
    from study.results import results_frames
    from study.stage_classifiers import StageOutcome

    spec = S.loads_spec("seeds = 4\nfirst_seed = 2\nsizes = [100]\n[gan]\nrepeats = 2\n[mix]\nratios = [0, 1]",
                        check_registries=False)
    points = plan.grid_points(spec)
    results, _ = results_frames(spec, StudyFolder.for_spec(str(tmp_path), "s"), StageOutcome(points, []))
    assert list(results.columns[:7]) == ["trial", "dataset", "size", "alpha", "ratio", "classifier", "seed"]
    assert results.columns[7] == "subset_seed"
    assert {(r, s, u) for r, s, u in zip(results["ratio"], results["seed"], results["subset_seed"], strict=True)} == {
        (ratio, seed, 2 + (seed - 2) % 2) for ratio in (0.0, 1.0) for seed in (2, 3, 4, 5)}
    assert set(results["status"]) == {"error"}      # nothing ran: every row says so


def test_a_folder_holding_another_spec_is_refused(tmp_path, capsys):
    spec = S.load_spec("quick")
    folder = StudyFolder.for_spec(str(tmp_path), "quick")
    folder.prepare(spec, resume=False, gan_cache=str(tmp_path / "cache"))
    before = (tmp_path / "quick" / "spec.toml").read_text()
    other = S.load_spec("quick", ["seeds=5"])
    with pytest.raises(StudyError, match="--name"):
        folder.prepare(other, resume=False, gan_cache=str(tmp_path / "cache"))
    assert (tmp_path / "quick" / "spec.toml").read_text() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_an_unwritable_storage_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(StudyError, match="--storage"):
        StudyFolder.for_spec(str(locked), "quick").prepare(S.load_spec("quick"), resume=False, gan_cache="c")


def test_an_unwritable_storage_path_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert cli.main(["run", "quick", "--storage", str(blocker / "sub")]) == 2
    assert capsys.readouterr().err.startswith("error: --storage")
    assert blocker.read_text() == "not a folder"


def test_resume_of_a_folder_without_a_spec_exits_2(tmp_path, capsys):
    assert cli.main(["resume", str(tmp_path)]) == 2
    assert "spec.toml" in capsys.readouterr().err


def test_epochs_are_reported_at_most_once_per_interval_and_never_the_last():
    schedule = EpochReports(epochs=6, interval_s=1.0, last=100.0)
    due = [epoch for epoch, now in zip(range(1, 7), (100.4, 101.1, 101.5, 102.2, 102.5, 104.0), strict=True)
           if schedule.due(epoch, now)]
    assert due == [2, 4]  # 6 is the last epoch: it goes out with the final report


def test_every_epoch_but_the_last_is_reported_when_the_interval_is_zero():
    schedule = EpochReports(epochs=4, interval_s=0.0, last=0.0)
    assert [e for e in range(1, 5) if schedule.due(e, 0.0)] == [1, 2, 3]


def test_only_asha_asks_trials_for_every_epoch():
    grid = S.load_spec("quick", [])
    optuna = S.load_spec("quick", ["search.mode='optuna'"])
    asha = S.load_spec("quick", ["search.mode='optuna'", "search.asha=true"])
    assert [reports_every_epoch(s) for s in (grid, optuna, asha)] == [False, False, True]


# --------------------------------------------------------------------------------------------------
# End to end (slow): real GANs, real Tune trials
# --------------------------------------------------------------------------------------------------
RESULT_COLUMNS = {"trial", "dataset", "size", "alpha", "ratio", "classifier", "seed", "status", "val_acc_max",
                  "best_val_epoch", "test_acc_at_best_val", "test_acc", "test_acc_max", "precision", "recall",
                  "f1", "per_class_acc", "train_seconds", "images_per_second", "train_steps"}


def _results(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "results.csv")


@pytest.mark.slow
def test_quick_study_end_to_end(ray_local, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")   # Tune's result.json, as users get it
    assert cli.main(["run", "quick", *TINY, "--storage", str(tmp_path)]) == 0
    root = tmp_path / "quick"
    results = _results(root)
    assert len(results) == 2 and RESULT_COLUMNS <= set(results.columns)
    assert set(results["status"]) == {"ok"}
    assert sorted(results["ratio"]) == [0, 1]
    assert results["test_acc"].between(0.1, 1).all()
    assert len(json.loads(results["per_class_acc"][0])) == 10
    curves = pd.read_csv(root / "curves.csv")
    assert len(curves) == 2 * 2 and set(curves["epoch"]) == {1, 2}
    # Every report is scalars only (no list reaches Tune's loggers); the whole curve is in the trial's record.
    result_files = sorted((root / "tune" / "classifiers").glob("*/result.json"))
    assert len(result_files) == 2
    for result_file in result_files:
        reports = [json.loads(line) for line in result_file.read_text().splitlines()]
        assert reports[-1]["status"] == "ok"
        assert not [k for report in reports for k, v in report.items() if isinstance(v, list | dict) and k != "config"]
        record = json.loads((root / "trials" / f"{result_file.parent.name}.json").read_text())
        assert [p["epoch"] for p in record["curve"]] == [1, 2]
    # Written again from the plan and the records alone (a stopped study's `study report`): the same files.
    from study.folder import StudyFolder
    from study.results import restore_results

    written = {name: (root / name).read_bytes() for name in ("results.csv", "curves.csv")}
    for name in written:
        (root / name).unlink()
    restore_results(StudyFolder.for_spec(str(tmp_path), "quick"))
    assert {name: (root / name).read_bytes() for name in written} == written
    assert results["test_acc_at_best_val"].between(0.1, 1).all() and results["val_acc_max"].notna().all()
    assert {"val_acc", "val_loss"} <= set(curves.columns)
    (gan_dir,) = (root / "gans").iterdir()        # the study's view: small files only
    assert (gan_dir / "meta.json").exists() and not (gan_dir / "pool.pt").exists()
    pool = torch.load(tmp_path / "gan-cache" / gan_dir.name / "pool.pt", weights_only=True)
    assert torch.bincount(pool["labels"]).min() * 10 >= 100
    assert (root / "spec.toml").exists() and (root / "env.json").exists()
    out = capsys.readouterr().out
    assert "report" in out
    # The console: the [study] lines, progress and the answer in the report's words; Ray's and Tune's
    # output (status tables, "Trial ... completed") only in study.log.
    assert "[study] the answer" in out and "Inconclusive: the GANs were too weak to judge" in out   # 3 GAN epochs
    assert "Trial status" not in out and "Trial status" in (root / "study.log").read_text()
    (run,) = json.loads((root / "run.json").read_text())["runs"]
    assert list(run["stage_seconds"]) == ["checks", "ray_start", "gans", "classifiers"]
    assert run["stage_seconds"]["gans"] > 0 and sum(run["stage_seconds"].values()) <= run["wall_seconds"]
    report = (root / "report" / "report.md").read_text()
    assert "the study took" in report and "min of wall time" in report
    # The analysis tests' fixture still writes what this real study wrote.
    from fixture_drift import differences

    assert differences(root, tmp_path / "drift") == []


@pytest.mark.slow
def test_optuna_study_runs_the_requested_number_of_trials(ray_local, study_caches, tmp_path, monkeypatch):
    import optuna

    study_caches.seed_gans(tmp_path, TINY)   # the GAN is not what this test is about

    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")   # Tune's result.json, as users get it
    database = f"sqlite:///{tmp_path / 'optuna.db'}"
    args = ["run", "quick", *TINY, "--set", "search.mode='optuna'", "--set", "search.trials=3",
            "--set", "search.asha=true", "--set", "mix.ratios=[0, 0.5, 1]", "--storage", str(tmp_path),
            "--set", f"search.storage='{database}'", "--no-report"]
    assert cli.main(args) == 0
    results = _results(tmp_path / "quick")
    assert len(results) == 3 and set(results["status"]) == {"ok"}
    assert set(results["ratio"]) <= {0, 0.5, 1}
    # ASHA decides at epoch milestones, so its trials report every epoch (the last one as the final report).
    result_files = sorted((tmp_path / "quick" / "tune" / "classifiers").glob("*/result.json"))
    assert len(result_files) == 3
    for result_file in result_files:
        reports = [json.loads(line) for line in result_file.read_text().splitlines()]
        assert [r["epoch"] for r in reports] == list(range(1, len(reports) + 1))
    # search.storage: a persistent Optuna study, named after the study, that optuna-dashboard opens
    # through the same storage API (a fresh process reads it).
    assert optuna.study.get_all_study_names(database) == ["quick"]
    stored = optuna.load_study(study_name="quick", storage=database)
    assert len(stored.trials) == 3 and {t.state.name for t in stored.trials} == {"COMPLETE"}
    assert all(0 < t.value <= 1 for t in stored.trials)


@pytest.mark.slow
def test_resume_reruns_nothing_and_duplicates_nothing(ray_local, study_caches, tmp_path):
    study_caches.seed_study(tmp_path, TINY)   # a finished tiny study (`study run quick TINY --no-report`)
    root = tmp_path / "quick"
    first = _results(root)
    records = {p.name: p.stat().st_mtime_ns for p in (root / "trials").iterdir()}
    metas = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/*/meta.json")}
    (root / "results.csv").unlink()  # as if the driver died before writing it

    assert cli.main(["resume", str(root), "--no-report"]) == 0
    second = _results(root)
    assert len(second) == len(first) and not second["trial"].duplicated().any()
    pd.testing.assert_frame_equal(first.drop(columns=["train_seconds", "images_per_second"]),
                                  second.drop(columns=["train_seconds", "images_per_second"]))
    assert {p.name: p.stat().st_mtime_ns for p in (root / "trials").iterdir()} == records
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/*/meta.json")} == metas


@pytest.mark.slow
def test_study_on_uri_storage_goes_through_pyarrow_end_to_end(ray_local, study_caches, tmp_path, capsys):
    """--storage as a URI (file:// takes the same pyarrow path as s3:// and gs://): every output lands
    there, and `study report URI` rebuilds the report in place. (The dataset's scoring network is seeded:
    the GAN itself is trained and written through the URI.)"""
    study_caches.seed_scoring(tmp_path / "remote", TINY)
    uri = f"file://{tmp_path}/remote"
    assert cli.main(["run", "quick", *TINY, "--storage", uri, "--name", "remote"]) == 0
    root = tmp_path / "remote" / "remote"
    assert len(_results(root)) == 2
    cache = tmp_path / "remote" / "gan-cache"
    assert list(cache.glob("*/pool.pt")) and list(cache.glob("*/checkpoint_*")) and list(root.glob("gans/*/meta.json"))
    assert (root / "tune" / "classifiers").is_dir()
    report = root / "report" / "report.md"
    first = report.read_text()
    report.unlink()
    assert cli.main(["report", f"{uri}/remote"]) == 0
    assert report.read_text() == first
    assert f"{uri}/remote/report/report.md" in capsys.readouterr().out


def test_gpu_trials_on_a_machine_without_gpus_are_refused_before_anything_is_written(tmp_path, capsys):
    """They would wait forever on an embedded cluster; a rerun with gpus_per_trial=0 must not trip
    over a half-made folder either."""
    args = ["run", "quick", *TINY, "--storage", str(tmp_path)]
    assert cli.main([*args, "--set", "resources.gpus_per_trial=0.25"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: resources.gpus_per_trial: 0.25 but this machine has no GPU")
    assert not (tmp_path / "quick" / "spec.toml").exists()


def test_cpu_requests_beyond_the_machine_are_refused_and_on_a_joined_cluster_wait(capsys):
    from study import cluster
    from study import spec as S
    from study.folder import StudyError

    spec = S.load_spec("quick", ["resources.cpus_per_trial=4"], check_registries=False)
    with pytest.raises(StudyError, match=r"resources.cpus_per_trial: 4 but this machine has 2 CPU\(s\)"):
        cluster.check_resources(spec, joined_cluster=False, capacity=(2.0, 0.0))
    cluster.check_resources(spec, joined_cluster=True, capacity=(2.0, 0.0))      # an autoscaler may add nodes
    assert "trials of 4 CPUs wait for the autoscaler" in capsys.readouterr().out
    cluster.check_resources(spec, joined_cluster=False, capacity=(8.0, 0.0))


def test_a_cluster_that_may_grow_gets_no_concurrency_cap(monkeypatch):
    """Joined clusters (an autoscaler may be behind them): Tune queues every trial with its resource
    request, and that queued demand is what makes the autoscaler add nodes."""
    from study import cluster

    monkeypatch.setattr(cluster._Embedded, "started", False)
    monkeypatch.setattr(cluster, "cluster_capacity", lambda: (2.0, 0.0))
    assert cluster.trials_that_fit(1, 0) is None and cluster.trials_that_fit(1, 0.5) is None


def test_the_embedded_cluster_caps_concurrency_at_what_it_holds(monkeypatch):
    from study import cluster

    monkeypatch.setattr(cluster._Embedded, "started", True)
    monkeypatch.setattr(cluster, "cluster_capacity", lambda: (8.0, 0.0))
    assert cluster.trials_that_fit(1, 0.25) is None  # Tune queues them until the autoscaler adds GPUs
    assert cluster.trials_that_fit(1, 0) == 8
    monkeypatch.setattr(cluster, "cluster_capacity", lambda: (8.0, 2.0))
    assert cluster.trials_that_fit(1, 0.25) == 8 and cluster.trials_that_fit(1, 0.5) == 4


@pytest.mark.slow
def test_two_studies_share_their_gans_and_an_extension_retrains_none(ray_local, study_caches, tmp_path, capsys):
    """Studies in one storage root read one GAN cache: the second study (a synthetic-only twin)
    trains nothing, and `resume --set` widening the ratios grows the pools without retraining."""
    study_caches.seed_gans(tmp_path, TINY)   # the first study's GAN, trained as its run would
    assert cli.main(["run", "quick", *TINY, "--storage", str(tmp_path), "--name", "first", "--no-report"]) == 0
    cache = tmp_path / "gan-cache"
    (meta_path,) = cache.glob("*/meta.json")
    trained = meta_path.read_text()
    capsys.readouterr()

    twin = ["run", "quick", *TINY, "--set", "mix.real=false", "--set", "mix.ratios=[1]",
            "--storage", str(tmp_path), "--name", "twin", "--no-report"]
    assert cli.main(twin) == 0
    assert "1 ready, 0 to train, 0 to grow" in capsys.readouterr().out
    assert meta_path.read_text() == trained
    assert set(_results(tmp_path / "twin")["real"]) == {False}

    first = tmp_path / "first"
    records = {p.name: p.stat().st_mtime_ns for p in (first / "trials").iterdir()}
    assert cli.main(["resume", str(first), "--set", "mix.ratios=[0, 1, 2]", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "3 trial(s), 2 already finished, 1 to run" in out
    assert "0 ready, 0 to train, 1 to grow or filter their pool" in out
    grown = json.loads(meta_path.read_text())
    assert grown["epochs_trained"] == json.loads(trained)["epochs_trained"]
    assert grown["seconds"] == json.loads(trained)["seconds"]          # not trained again
    assert grown["pool"]["per_class"] > json.loads(trained)["pool"]["per_class"]
    assert {p.name: p.stat().st_mtime_ns for p in (first / "trials").iterdir() if p.name in records} == records
    assert sorted(_results(first)["ratio"]) == [0, 1, 2]
    assert "ratios = [0.0, 1.0, 2.0]" in (first / "spec.toml").read_text()


def test_resume_set_of_a_key_that_changes_finished_trials_exits_2_and_changes_nothing(tmp_path, capsys):
    folder = StudyFolder.for_spec(str(tmp_path), "quick")
    folder.prepare(S.load_spec("quick"), resume=False, gan_cache=str(tmp_path / "gan-cache"))
    before = (tmp_path / "quick" / "spec.toml").read_text()
    assert cli.main(["resume", str(tmp_path / "quick"), "--set", "dataset=fashion-mnist"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: dataset: changing it")
    assert (tmp_path / "quick" / "spec.toml").read_text() == before


def test_a_merged_report_of_remote_or_missing_folders_exits_2(tmp_path, capsys):
    assert cli.main(["report", "s3://bucket/a", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: s3://bucket/a: a report over several folders reads local")
    assert cli.main(["report", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert f"error: {tmp_path / 'a'}: does not exist; allowed: a folder written by `study run`" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    (tmp_path / "a-file").write_text("x")
    assert cli.main(["report", str(tmp_path / "a-file")]) == 2
    assert f"{tmp_path / 'a-file'}: is a file, not a study folder" in capsys.readouterr().err


@pytest.mark.slow
def test_a_filter_a_weak_gan_cannot_fill_fails_its_trials_with_how_many_it_kept(ray_local, study_caches, tmp_path):
    """A 2-epoch GAN's samples are not recognisable, so a confident filter keeps (almost) none: the GAN
    draws up to 20 images per needed one, then the filtered trial ends as an error saying how many it
    kept, and the unfiltered arm of the same GAN still runs. (Filtering that succeeds is tested without
    Ray in test_gan_stage.py.)"""
    study_caches.seed_gans(tmp_path, TINY)   # the 2-epoch GAN, unfiltered; the filtered pool is made here
    args = ["run", "quick", *TINY, "--set", "mix.filter=['none', 'confident']", "--set", "mix.filter_threshold=0.1",
            "--storage", str(tmp_path), "--no-report"]
    assert cli.main(args) == 0
    results = _results(tmp_path / "quick").set_index("mix_filter", drop=False)
    assert len(results) == 3                                    # R = 0 once, R = 1 unfiltered and filtered
    assert set(results[results["ratio"] > 0]["mix_filter"]) == {"none", "confident"}
    assert results.loc["none", "status"] == "ok"
    reason = results.loc["confident", "reason"]
    assert results.loc["confident", "status"] == "error" and "mix.filter confident at 0.1 kept" in reason
    assert "of 220 drawn images" in reason and "lower mix.filter_threshold" in reason
    (meta_path,) = (tmp_path / "gan-cache").glob("*/meta.json")
    entry = json.loads(meta_path.read_text())["filtered_pools"]["confident-0.1"]
    assert entry["status"] == "error" and entry["drawn_per_class"] == 220


@pytest.mark.slow
def test_a_study_with_mlflow_tracking_leaves_one_run_per_trial_in_a_real_store(ray_local, study_caches, tmp_path,
                                                                                monkeypatch):
    from mlflow.tracking import MlflowClient

    from study.gan_tracking import ROLE_TAG

    monkeypatch.chdir(tmp_path)   # MLflow's default artifact root for a sqlite store is ./mlruns
    study_caches.seed_gans(tmp_path / "s", TINY)   # a cached key is tracked as one GAN run all the same

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"   # MLflow 3 refuses a plain file store
    args = ["run", "quick", *TINY, "--set", "mix.ratios=[0, 1]", "--set", f"tracking.mlflow='{store}'",
            "--storage", str(tmp_path / "s"), "--no-report"]
    assert cli.main(args) == 0
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("quick")
    every = client.search_runs([experiment.experiment_id])
    roles = [run.data.tags.get(ROLE_TAG) for run in every]
    assert roles.count("study") == 1 and roles.count("gan") == 1          # one parent, one GAN key (n = 100, seed 0)
    parent = next(run.info.run_id for run in every if run.data.tags.get(ROLE_TAG) == "study")
    runs = [run for run in every if run.data.tags.get(ROLE_TAG) not in ("study", "gan")]
    assert len(runs) == 2 and all(run.data.tags.get("mlflow.parentRunId") == parent for run in every
                                  if run.info.run_id != parent)
    for run in runs:
        # Every epoch reaches the tracker (2 epochs), with the final metrics of the trial's record.
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_acc")] == [1, 2]
        assert 0 < run.data.metrics["test_acc_at_best_val"] <= 1


def test_an_mlflow_uri_that_cannot_be_used_is_refused_before_the_study(tmp_path):
    from study import tracking

    spec = S.load_spec("quick", [f"tracking.mlflow='file://{tmp_path}/mlruns'"], check_registries=False)
    with pytest.raises(SpecError, match=r"tracking.mlflow: file://.+/mlruns cannot be used \(The filesystem "
                                          r"tracking backend .+\); allowed: an MLflow tracking URI that answers"):
        tracking.check_installed(spec)


def test_a_tracker_whose_package_is_missing_is_refused_naming_the_extra(monkeypatch):
    import importlib.util

    from study import tracking

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    spec = S.load_spec("quick", ["tracking.wandb='my-project'"], check_registries=False)
    with pytest.raises(SpecError, match=r"tracking.wandb: needs the wandb package, which is not installed; allowed: "
                                          r"pip install 'gan-augment-study\[wandb\]'"):
        tracking.check_installed(spec)
