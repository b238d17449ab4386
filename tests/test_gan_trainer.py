"""The GAN key's Ray Train run: which of Ray's default parts it drops, the settings it applies, and the
order the GAN stage starts keys in. No Ray cluster is started: building a TorchTrainer and listing
its callbacks needs none."""

from __future__ import annotations

import dataclasses

import pytest

from study.stage_gans import estimated_work, longest_first
from trainables import gan_trainer
from trainables.gan_job import GanJob

JOB = GanJob(dataset="mnist-5k", data_root="~/.cache/study-data", size=500, seed=0, arch="abadi",
             conditioning="conditional", alpha=1.0, epochs=25, batch_size=32, lr=2e-4, beta1=0.5, pool_per_class=60)


@pytest.fixture
def clean_settings(monkeypatch):
    for name in {**gan_trainer.TRAIN_POLL_INTERVAL_S, **gan_trainer.ONE_NODE_SETTINGS}:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _callback_names(trainer) -> list[str]:
    return [type(callback).__name__ for callback in trainer._create_default_callbacks()]


def test_gan_trainer_drops_only_the_callbacks_a_gan_run_does_not_use(clean_settings, tmp_path):
    from ray.train.torch import TorchTrainer

    from trainables import gan_train

    ours = gan_trainer.build_trainer(JOB, None, str(tmp_path), "loop", use_gpu=False)
    plain = TorchTrainer(gan_train.train_loop_per_worker, train_loop_config={})
    dropped = {cls.__name__ for cls in gan_trainer.unused_callback_types()}
    assert dropped == {"DatasetsCallback", "PlacementGroupCleanerCallback"}
    assert dropped <= set(_callback_names(plain))   # Ray still has them: the filter is not a no-op
    assert _callback_names(ours) == [name for name in _callback_names(plain) if name not in dropped]
    assert isinstance(ours, TorchTrainer)
    assert ours.run_config.name == JOB.key() and ours.run_config.callbacks in (None, [])


def test_poll_interval_is_set_but_a_users_own_setting_wins(clean_settings, tmp_path):
    import os

    gan_trainer.build_trainer(JOB, None, str(tmp_path), "loop", use_gpu=False)
    assert os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] == "0.25"
    clean_settings.setenv("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "3")
    gan_trainer.build_trainer(JOB, None, str(tmp_path), "loop", use_gpu=False)
    assert os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] == "3"


@pytest.mark.parametrize(("alive_nodes", "watcher_off"), [(1, True), (2, False)])
def test_preemption_watcher_is_off_only_on_a_one_node_cluster(clean_settings, tmp_path, alive_nodes, watcher_off):
    import os

    import ray

    nodes = [{"Alive": True}] * alive_nodes + [{"Alive": False}]   # a dead node does not count
    clean_settings.setattr(ray, "is_initialized", lambda: True)
    clean_settings.setattr(ray, "nodes", lambda: nodes)
    gan_trainer.build_trainer(JOB, None, str(tmp_path), "loop", use_gpu=False)
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
