"""The plan: grid points over any axis, left-out combinations, trial names, GAN jobs and keys."""

from __future__ import annotations

import itertools
import math

import pytest

from study import plan
from study.checks import SpecError
from study.extend import check_extension
from study.presets import preset_names
from study.spec import load_spec, loads_spec
from study.spec_text import spec_to_toml


def spec_of(text: str = "", *overrides: str):
    return loads_spec(text, list(overrides), check_registries=False)


def axes(point: dict) -> tuple:
    return point["size"], point["alpha"], point["ratio"], point["classifier"], point["seed"]


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_plans_unique_named_points_deterministically(name):
    spec = load_spec(name, check_registries=False)
    points = plan.trial_points(spec)
    names = [plan.trial_name(p) for p in points]
    assert len(set(names)) == len(names) == len({plan.point_identity(p) for p in points})
    assert plan.trial_points(spec) == points


def test_the_grid_covers_every_combination_once_and_runs_r0_once_for_all_gan_settings():
    spec = spec_of("sizes = [500, 1000]\nseeds = 3\n[gan]\nalpha = [1, 2]\n[mix]\nratios = [0, 1, 2]")
    points = plan.grid_points(spec)
    with_gan = [axes(p) for p in points if p["ratio"] > 0]
    assert set(with_gan) == set(itertools.product([500, 1000], [1.0, 2.0], [1.0, 2.0], ["mlp"], range(3)))
    baselines = [p for p in points if p["ratio"] == 0]
    assert len(baselines) == 2 * 3                          # not once per alpha
    assert all(p["alpha"] is None and p["gan_arch"] is None for p in baselines)


def test_any_key_of_gan_classifier_and_mix_is_an_axis():
    spec = spec_of('seeds = 1\nsizes = [100]\n[gan]\narch = ["abadi", "dcgan"]\nepochs = [2, 4]\n'
                   '[classifier]\nlr = [0.1, 0.01]\n[mix]\nratios = [0, 1]\naugment = ["none", "classic"]')
    points = plan.grid_points(spec)
    assert len([p for p in points if p["ratio"] > 0]) == 2 * 2 * 2 * 2
    assert len([p for p in points if p["ratio"] == 0]) == 2 * 2          # lr x augment
    assert set(plan.varying_columns(spec)) == {"gan_arch", "gan_epochs", "classifier_lr", "ratio", "augment"}


def test_synthetic_only_at_r0_is_left_out_and_counted():
    spec = spec_of("seeds = 2\nsizes = [100]\n[mix]\nratios = [0, 1]\nreal = [true, false]")
    points = plan.grid_points(spec)
    assert not [p for p in points if p["ratio"] == 0 and not p["real"]]
    assert len(points) == 3 * 2
    assert plan.skipped_combinations(spec) == 2


def test_a_grid_that_trains_on_nothing_is_refused():
    with pytest.raises(SpecError, match="trains on nothing") as info:
        spec_of("[mix]\nratios = [0]\nreal = false")
    assert info.value.key == "mix.ratios"


def test_per_classifier_tables_override_their_classifier_only():
    spec = spec_of('seeds = 1\nsizes = [100]\n[classifier]\nname = ["mlp", "lenet"]\nepochs = [15, 30]\n'
                   '[classifier.lenet]\nepochs = 200\n[mix]\nratios = [0]')
    epochs = sorted((p["classifier"], p["classifier_epochs"]) for p in plan.grid_points(spec))
    assert epochs == [("lenet", 200), ("mlp", 15), ("mlp", 30)]
    assert spec_of(spec_to_toml(spec)) == spec     # [classifier.lenet] survives spec.toml


@pytest.mark.parametrize("text, key", [
    ('[classifier]\nname = ["mlp"]\n[classifier.lenet]\nepochs = 3', "classifier.lenet"),
    ('[classifier.mlp]\nepoch = 3', "classifier.mlp.epoch"),
    ('[classifier.mlp]\nepochs = [3, 4]', "classifier.mlp.epochs"),
    ('[gan]\nworkers = [1, 2]', "gan.workers"),
    ('[gan]\nworkers = 3\nbatch_size = 64', "gan.batch_size"),
    ('[eval]\nvalidation = 0\n[classifier]\nschedule = "early-stop"', "classifier.schedule"),
    ('[eval]\nvalidation = -1', "eval.validation"),
    ('[classifier]\nschedule = "forever"', "classifier.schedule"),
    ('[mix]\nreal = [true, false]\n[search]\nmode = "optuna"', "mix.ratios"),
])
def test_bad_axes_and_keys_are_refused_naming_the_key(text, key):
    with pytest.raises(SpecError) as info:
        spec_of(text)
    assert info.value.key == key and "\n" not in str(info.value)


def test_trial_names_survive_an_extension():
    old = spec_of("seeds = 2\n[mix]\nratios = [0, 1]")
    new = spec_of("seeds = 3\n[mix]\nratios = [0, 1, 2]")
    old_names = {plan.trial_name(p) for p in plan.grid_points(old)}
    assert old_names < {plan.trial_name(p) for p in plan.grid_points(new)}
    check_extension(old, new)


@pytest.mark.parametrize("override, key", [
    ("dataset=fashion-mnist", "dataset"), ("eval.validation=10", "eval.validation"),
    ("gan.repeats=once", "gan.repeats"), ("mix.ratios=[0, 2]", "mix.ratios"),
    ("classifier.epochs=3", "classifier.epochs"),
])
def test_an_extension_that_changes_finished_trials_is_refused(override, key):
    old = spec_of("[mix]\nratios = [0, 1]")
    with pytest.raises(SpecError) as info:
        check_extension(old, spec_of("[mix]\nratios = [0, 1]", override))
    assert info.value.key == key


def test_gan_keys_ignore_pool_size_and_workers_and_repeats_once_shares_one_gan_per_subset():
    train_size, classes = 3600, 10      # mnist-5k's training split after a validation split of 400
    spec = spec_of("seeds = 3\nsizes = [100]\n[mix]\nratios = [0, 1]")
    wide = spec_of("seeds = 3\nsizes = [100]\n[gan]\nworkers = 2\n[mix]\nratios = [0, 1, 4]")
    jobs, wide_jobs = plan.gan_jobs(spec, train_size, classes, 400), plan.gan_jobs(wide, train_size, classes, 400)
    assert set(jobs) == set(wide_jobs) and len(jobs) == 3
    assert all(wide_jobs[k].pool_per_class > jobs[k].pool_per_class for k in jobs)
    once = spec_of('seeds = 3\nsizes = [100]\n[gan]\nrepeats = "once"\n[mix]\nratios = [0, 1]')
    assert len(plan.gan_jobs(once, train_size, classes, 400)) == 1
    other_split = plan.gan_jobs(spec, train_size, classes, 0)
    assert not set(other_split) & set(jobs)      # the validation split changes the subset


def test_pools_hold_the_largest_ratio_and_at_least_n_images():
    assert plan.pool_per_class_needed(0.5, 100, 10) == 11      # never below n / K (the scored images)
    assert plan.pool_per_class_needed(2.0, 105, 10) == math.ceil(210 / 10) + 1


# ---------------------------------------------------------------- the unit of replication


@pytest.mark.parametrize("text, units", [
    ("seeds = 4", [0, 1, 2, 3]),                                                  # per-seed: every seed a unit
    ('seeds = 4\n[gan]\nrepeats = "once"', [0, 0, 0, 0]),                         # once: one subset and GAN
    ("seeds = 6\n[gan]\nrepeats = 3", [0, 1, 2, 0, 1, 2]),                         # k: modulo, not blocks
    ("seeds = 6\nfirst_seed = 10\n[gan]\nrepeats = 2", [10, 11, 10, 11, 10, 11]),  # counted from first_seed
    ('seeds = 2\nfirst_seed = 7\n[gan]\nrepeats = "once"', [7, 7]),
    ("seeds = 3\nfirst_seed = 5", [5, 6, 7]),
])
def test_subset_seed_maps_each_seed_to_its_unit(text, units):
    spec = spec_of(text)
    assert [plan.subset_seed(spec, seed) for seed in plan.seeds(spec)] == units


def test_the_grid_uses_the_first_seed_range_and_a_count_trains_that_many_gans_per_size():
    spec = spec_of("seeds = 6\nfirst_seed = 3\nsizes = [100, 200]\n[gan]\nrepeats = 3\n[mix]\nratios = [0, 1]")
    assert {p["seed"] for p in plan.grid_points(spec)} == {3, 4, 5, 6, 7, 8}
    jobs = plan.gan_jobs(spec, 3600, 10, 400)
    assert len(jobs) == 2 * 3 and {job.seed for job in jobs.values()} == {3, 4, 5}
    # Optuna's trials use the first seed too (a repeat is not a hyperparameter)
    optuna = spec_of("first_seed = 4\n[search]\nmode = 'optuna'\n[mix]\nratios = [0, 1]")
    assert {p["seed"] for p in plan.trial_points(optuna)} == {4}


def test_an_extension_with_more_seeds_keeps_every_earlier_unit():
    old = spec_of("seeds = 6\n[gan]\nrepeats = 3\n[mix]\nratios = [0, 1]")
    new = spec_of("seeds = 6\n[gan]\nrepeats = 3\n[mix]\nratios = [0, 1]", "seeds=9")
    check_extension(old, new)
    assert all(plan.subset_seed(old, s) == plan.subset_seed(new, s) for s in plan.seeds(old))
    old_keys = set(plan.gan_jobs(old, 3600, 10, 400))
    assert old_keys == set(plan.gan_jobs(new, 3600, 10, 400))      # 3 more classifier repeats, no new GAN
    assert {plan.trial_name(p) for p in plan.grid_points(old)} < {plan.trial_name(p) for p in plan.grid_points(new)}


def test_a_harmless_change_of_repeats_is_an_extension_and_a_harmful_one_is_refused():
    per_seed = spec_of("seeds = 3\n[mix]\nratios = [0, 1]")
    # per-seed with 3 seeds -> 3 GANs per size with 6 seeds: seeds 0-2 keep their subsets and GANs
    check_extension(per_seed, spec_of("seeds = 3\n[mix]\nratios = [0, 1]", "gan.repeats=3", "seeds=6"))
    once = spec_of('seeds = 3\n[gan]\nrepeats = "once"\n[mix]\nratios = [0, 1]')
    check_extension(once, spec_of('seeds = 3\n[gan]\nrepeats = "once"\n[mix]\nratios = [0, 1]', "gan.repeats=1"))
    with pytest.raises(SpecError) as info:
        check_extension(once, spec_of('seeds = 3\n[mix]\nratios = [0, 1]', "gan.repeats=3"))
    assert info.value.key == "gan.repeats" and "(seed 1: subset 0 -> 1)" in str(info.value)
    with pytest.raises(SpecError) as info:
        check_extension(per_seed, spec_of("seeds = 3\n[mix]\nratios = [0, 1]", "first_seed=3"))
    assert info.value.key == "first_seed" and "\n" not in str(info.value)
