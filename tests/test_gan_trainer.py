"""The GAN keys' Ray Train run: which of Ray's default parts it drops, the settings it applies, and how
the GAN stage packs keys into runs. No Ray cluster is started: building a TorchTrainer and listing
its callbacks needs none."""

from __future__ import annotations

import dataclasses

import pytest

from study.stage_gans import estimated_work, longest_first, pack_runs
from trainables.gan.job import GanJob, KeyRun
from trainables.runners import gan_trainer

JOB = GanJob(dataset="mnist-5k", data_root="~/.cache/study-data", size=500, seed=0, arch="abadi",
             conditioning="conditional", alpha=1.0, epochs=25, batch_size=32, lr=2e-4, beta1=0.5, pool_per_class=60)


@pytest.fixture
def clean_settings(monkeypatch):
    for name in {**gan_trainer.TRAIN_POLL_INTERVAL_S, **gan_trainer.ONE_NODE_SETTINGS}:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _build(jobs=(JOB,), root="/tmp/unused"):
    keys = [KeyRun.of(job, root, "loop", {"key": job.key()}) for job in jobs]
    return gan_trainer.build_trainer(list(jobs), None, root, keys, use_gpu=False)


def _callback_names(trainer) -> list[str]:
    return [type(callback).__name__ for callback in trainer._create_default_callbacks()]


def test_gan_trainer_drops_only_the_callbacks_a_gan_run_does_not_use(clean_settings, tmp_path):
    from ray.train.torch import TorchTrainer

    from trainables.runners import gan_worker

    ours = _build(root=str(tmp_path))
    plain = TorchTrainer(gan_worker.train_loop_per_worker, train_loop_config={})
    dropped = {cls.__name__ for cls in gan_trainer.unused_callback_types()}
    assert dropped == {"DatasetsCallback", "PlacementGroupCleanerCallback"}
    assert dropped <= set(_callback_names(plain))   # Ray still has them: the filter is not a no-op
    assert _callback_names(ours) == [name for name in _callback_names(plain) if name not in dropped]
    assert isinstance(ours, TorchTrainer)
    assert ours.run_config.name == gan_trainer.run_name([JOB]) and ours.run_config.callbacks in (None, [])
    assert ours.run_config.storage_path == str(tmp_path / gan_trainer.TRAIN_RUNS_FOLDER)


def test_poll_interval_is_set_but_a_users_own_setting_wins(clean_settings, tmp_path):
    import os

    _build(root=str(tmp_path))
    assert os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] == "0.25"
    clean_settings.setenv("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "3")
    _build(root=str(tmp_path))
    assert os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] == "3"


@pytest.mark.parametrize(("alive_nodes", "watcher_off"), [(1, True), (2, False)])
def test_preemption_watcher_is_off_only_on_a_one_node_cluster(clean_settings, tmp_path, alive_nodes, watcher_off):
    import os

    import ray

    nodes = [{"Alive": True}] * alive_nodes + [{"Alive": False}]   # a dead node does not count
    clean_settings.setattr(ray, "is_initialized", lambda: True)
    clean_settings.setattr(ray, "nodes", lambda: nodes)
    _build(root=str(tmp_path))
    assert (os.environ.get("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER") == "0") is watcher_off


def test_the_longest_keys_start_first_and_pools_to_grow_last():
    short, long_, wide, full = (dataclasses.replace(JOB, size=500), dataclasses.replace(JOB, size=1000),
                                dataclasses.replace(JOB, size=500, alpha=2.0), dataclasses.replace(JOB, size="full"))
    grow = dataclasses.replace(JOB, size=5000)
    ordered = longest_first([short, long_, full, wide], [grow])
    assert ordered == [full, wide, long_, short, grow]
    assert estimated_work(long_) > estimated_work(short)
    ties = [dataclasses.replace(JOB, seed=seed) for seed in (3, 1, 2)]
    assert longest_first(ties, []) == ties   # equal work keeps the given (key) order


def test_one_run_trains_several_keys_in_the_given_order(clean_settings, tmp_path):
    jobs = [dataclasses.replace(JOB, seed=seed) for seed in (2, 0, 1)]
    trainer = _build(jobs, str(tmp_path))
    keys = trainer.train_loop_config["keys"]
    assert [run.job for run in keys] == jobs   # each job travels to the workers as itself
    assert [run.gan_dir for run in keys] == [str(tmp_path / job.key()) for job in jobs]
    assert gan_trainer.run_name(jobs) == gan_trainer.run_name(jobs[::-1])   # named by its keys, not their order
    assert gan_trainer.run_name(jobs) != gan_trainer.run_name(jobs[:2])


def test_keys_of_different_run_shapes_never_share_a_run(clean_settings, tmp_path):
    with pytest.raises(ValueError, match="one shape"):
        _build([JOB, dataclasses.replace(JOB, seed=1, workers=2)], str(tmp_path))


def test_pack_runs_gives_each_slot_one_run_longest_first():
    """Three long keys and three short ones on two slots: the longest-first split (L+L+S and L+S+S),
    each run ordered longest first; pools to grow (no training) go to the lighter run, after its training."""
    long_ = [dataclasses.replace(JOB, size=1000, seed=seed) for seed in range(3)]
    short = [dataclasses.replace(JOB, size=500, seed=seed) for seed in range(3)]
    grow = [dataclasses.replace(JOB, size=200, seed=seed) for seed in range(2)]
    runs = pack_runs(short + long_, grow, slots=2)
    assert len(runs) == 2
    assert [job.size for job in runs[0]] == [1000, 1000, 500]
    assert [job.size for job in runs[1]] == [1000, 500, 500, 200, 200]
    assert sorted(job.key() for run in runs for job in run) == sorted(job.key() for job in short + long_ + grow)


def test_pack_runs_makes_one_run_per_key_when_slots_are_plenty_and_splits_run_shapes():
    jobs = [dataclasses.replace(JOB, seed=seed) for seed in range(3)]
    assert [len(run) for run in pack_runs(jobs, [], slots=8)] == [1, 1, 1]
    # No cap (a cluster that may grow): one run per key, every one queued for the autoscaler.
    assert [len(run) for run in pack_runs(jobs, [dataclasses.replace(JOB, seed=7)], slots=None)] == [1, 1, 1, 1]
    wide = dataclasses.replace(JOB, seed=9, workers=2)
    runs = pack_runs(jobs + [wide], [], slots=1)
    assert sorted(len(run) for run in runs) == [1, 3]
    assert [wide] in runs


@pytest.fixture
def quick_heartbeat(monkeypatch):
    """_gan_trial with a 50 ms heartbeat, its reports collected instead of sent to Tune."""
    import ray.tune

    from study import stage_gans

    reports = []
    monkeypatch.setattr(stage_gans, "HEARTBEAT_S", 0.05)
    monkeypatch.setattr(ray.tune, "report", reports.append)
    return stage_gans, reports


def test_the_gan_trial_reports_a_heartbeat_while_its_keys_train_then_its_result(quick_heartbeat, monkeypatch):
    """Tune runs a stop only between two results of a trial: the GAN trial reports while it trains."""
    import time

    from trainables.runners import gan_keys

    stage_gans, reports = quick_heartbeat

    def training(jobs, cache_root, real_ref, use_gpu, stopped):
        time.sleep(0.5)
        return {job.key(): {"status": "ok", "seconds": 1.5} for job in jobs}

    monkeypatch.setattr(gan_keys, "run_gan_jobs", training)
    stage_gans._gan_trial({"jobs": [dataclasses.asdict(JOB)]}, real_ref=None, cache_root="cache")
    assert len(reports) >= 3 and all(r == {"status": "running"} for r in reports[:-1])
    assert reports[-1] == {"status": "ok", "gan_keys": JOB.key(), "seconds": 1.5}


def test_a_gan_trial_whose_training_raises_raises_it_without_a_result(quick_heartbeat, monkeypatch):
    from trainables.runners import gan_keys

    stage_gans, reports = quick_heartbeat

    def failing(*args, **kwargs):
        raise RuntimeError("GAN training failed: simulated")

    monkeypatch.setattr(gan_keys, "run_gan_jobs", failing)
    with pytest.raises(RuntimeError, match="simulated"):
        stage_gans._gan_trial({"jobs": [dataclasses.asdict(JOB)]})
    assert all(r == {"status": "running"} for r in reports)


def test_a_gan_trial_that_tune_stops_marks_its_run_stopped_not_failed(quick_heartbeat, monkeypatch):
    """Tune stops a trial by raising SystemExit in its report; the Train run's end that follows (its
    controller dies with the trial's actor) must not be recorded as the GAN's failure."""
    import threading

    import ray.tune

    from trainables.runners import gan_keys

    stage_gans, reports = quick_heartbeat
    seen, release = {}, threading.Event()

    def training(jobs, cache_root, real_ref, use_gpu, stopped):
        release.wait(5)
        seen["stopped"] = stopped.is_set()
        raise RuntimeError("The actor died unexpectedly before finishing this task.")

    def stop_at_first_report(result):
        release.set()
        raise SystemExit(0)

    monkeypatch.setattr(gan_keys, "run_gan_jobs", training)
    monkeypatch.setattr(ray.tune, "report", stop_at_first_report)
    with pytest.raises(SystemExit):
        stage_gans._gan_trial({"jobs": [dataclasses.asdict(JOB)]})
    for _ in range(100):
        if "stopped" in seen:
            break
        threading.Event().wait(0.05)
    assert seen == {"stopped": True}


def test_a_failure_after_the_stop_writes_no_error_meta(tmp_path, monkeypatch):
    """_train with `stopped` set re-raises a failed fit as it is: no key's meta.json says "error"."""
    import threading
    import types

    from trainables.files import gan_cache
    from trainables.runners import gan_keys

    class DeadRun:   # what build_run returns, whose fit fails as a run whose controller died
        train_loop_config = {"keys": [types.SimpleNamespace(meta={"key": JOB.key(), "status": "training"})]}

        def fit(self):
            raise RuntimeError("The actor died unexpectedly before finishing this task.")

    monkeypatch.setattr(gan_keys, "build_run", lambda *args, **kwargs: DeadRun())
    stopped = threading.Event()
    stopped.set()
    with pytest.raises(RuntimeError, match="died unexpectedly"):
        gan_keys._train([JOB], str(tmp_path), None, False, lambda text: None, stopped)
    assert not gan_cache.key_store(str(tmp_path), JOB.key()).exists(gan_cache.META_FILE)
