"""study.wall_time: the plan's layout of the stages as the driver runs them, and study.cost's fixed costs
from a GAN cache's history."""

from __future__ import annotations

import json

import pytest

from study import cost, wall_time

COSTS = wall_time.FixedCosts(ray_start=4.0, gan_stage_setup=3.0, train_run_start=6.0, classifier_stage_setup=3.0,
                             trial_warm_up=2.0, trial_start=1.0, contended=False, source="test")


@pytest.mark.parametrize("durations, slots, finish", [
    ([], 2, 0.0),
    ([5.0], 2, 5.0),
    ([5.0, 5.0, 5.0], 1, 15.0),
    ([5.0, 5.0, 5.0], 2, 10.0),           # the third starts when the first slot frees at 5
    ([10.0, 1.0, 1.0, 1.0], 2, 10.0),     # the short ones queue behind each other in the second slot
    ([1.0, 1.0, 10.0], 2, 11.0),          # FIFO: the long one starts last, in the first free slot
    ([3.0, 4.0], 0, 7.0),                 # no slot is one slot
])
def test_trials_start_in_order_in_the_first_free_slot(durations, slots, finish):
    assert wall_time.slots_finish(durations, slots) == finish


def test_a_gan_stage_is_its_longest_run_with_start_up_and_set_up():
    # One run of two keys: start-up, both trainings, both outputs.
    assert wall_time.gan_stage_seconds([[(10.0, 2.0), (20.0, 3.0)]], 1, COSTS, 2) == 3.0 + 6.0 + 10 + 2 + 20 + 3
    # Two runs at once: the stage lasts as long as the longer one.
    runs = [[(10.0, 2.0)], [(30.0, 2.0)]]
    assert wall_time.gan_stage_seconds(runs, 2, COSTS, 2) == 3.0 + 6.0 + 30 + 2
    # The same runs one at a time follow each other.
    assert wall_time.gan_stage_seconds(runs, 1, COSTS, 2) == 3.0 + (6 + 10 + 2) + (6 + 30 + 2)
    assert wall_time.gan_stage_seconds([], 2, COSTS, 2) == 0.0


def test_runs_starting_together_share_the_cpus_for_their_start_ups():
    constants = wall_time.FixedCosts(train_run_start=6.0, gan_stage_setup=0.0)
    # Alone on 2 CPUs, or 3 on 4: its own time; 2 runs on 2 CPUs share them with each other and the driver.
    assert constants.run_start(1, 2) == 6.0 and constants.run_start(3, 4) == 6.0
    assert constants.run_start(2, 2) == 9.0
    runs = [[(10.0, 0.0)], [(10.0, 0.0)], [(10.0, 0.0)]]
    # The first two start together (9 s each), the third alone when a slot frees (6 s).
    assert wall_time.gan_stage_seconds(runs, 2, constants, 2) == (9 + 10) + (6 + 10)
    # A start-up measured in the storage root already holds its contention.
    assert COSTS.run_start(2, 2) == COSTS.train_run_start


def test_the_first_wave_waits_for_the_scoring_network_the_first_trained_key_trains():
    # Run A finishes training at 6 + 10 = 16 and trains the scoring network (8 s) until 24; run B
    # finishes training at 6 + 12 = 18 and waits for it: both score their pools after 24.
    runs = [[(10.0, 2.0)], [(12.0, 2.0)]]
    assert wall_time.gan_stage_seconds(runs, 2, COSTS, 2, scoring=8.0) == 3.0 + 24 + 2
    # A run still training when the network is ready does not wait.
    runs = [[(10.0, 2.0)], [(40.0, 2.0)]]
    assert wall_time.gan_stage_seconds(runs, 2, COSTS, 2, scoring=8.0) == 3.0 + 6 + 40 + 2
    # A later wave finds the network trained.
    runs = [[(10.0, 2.0)], [(10.0, 2.0)]]
    assert wall_time.gan_stage_seconds(runs, 1, COSTS, 2, scoring=8.0) == 3.0 + (6 + 10 + 8 + 2) + (6 + 10 + 2)


def test_a_classifier_stage_pays_each_trial_its_hand_over_and_each_slot_one_warm_up():
    # Set-up 3, then per slot: (warm-up 2 + hand-over 1 + 4) + (1 + 4).
    assert wall_time.classifier_stage_seconds([4.0, 4.0, 4.0, 4.0], 2, COSTS) == 3.0 + (2 + 1 + 4) + (1 + 4)
    assert wall_time.classifier_stage_seconds([4.0], 2, COSTS) == 3.0 + 2 + 1 + 4
    assert wall_time.classifier_stage_seconds([], 2, COSTS) == 0.0


def _meta(folder, **fields):
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps(fields))


def test_the_caches_history_replaces_the_constants(tmp_path):
    assert cost.measured_fixed_costs(str(tmp_path / "none")) == (None, None)
    run = {"train_run_keys": ["a", "b"]}
    _meta(tmp_path / "a", key="a", **run, status="ok", startup_seconds=5.0, outputs_seconds=9.0)
    # A run's later key starts from the one before: no start-up of its own to count.
    _meta(tmp_path / "b", key="b", **run, status="ok", startup_seconds=0.02, outputs_seconds=11.0)
    _meta(tmp_path / "f", key="f", train_run_keys=["f"], status="ok", startup_seconds=7.0, outputs_seconds=12.0)
    # A resumed run's start-up includes restoring its checkpoint; a failed key started but made no outputs.
    _meta(tmp_path / "c", key="c", train_run_keys=["c"], status="ok", startup_seconds=60.0, resumed_from_epoch=3,
          outputs_seconds=10.0)
    _meta(tmp_path / "d", key="d", train_run_keys=["d"], status="failed", startup_seconds=6.0, outputs_seconds=500.0)
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "meta.json").write_text("{torn")
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "meta.json").write_text("[1, 2]")       # JSON, but not a key's meta
    costs, outputs = cost.measured_fixed_costs(str(tmp_path))
    assert costs.train_run_start == 6.0 and outputs == 10.5 and not costs.contended
    assert costs.ray_start == wall_time.RAY_START_S
    assert costs.source == "start-ups of 3 Train run(s) and pool/scoring seconds of 4 GAN(s) in the cache"


def test_a_cache_without_finished_keys_has_no_history(tmp_path):
    _meta(tmp_path / "a", key="a", train_run_keys=["a"], status="failed", startup_seconds=5.0)
    assert cost.measured_fixed_costs(str(tmp_path)) == (None, None)
