"""Statistics: Holm's correction against a hand computation, the seeded bootstrap, verdicts on Holm p."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import best_ratio_table, cell_stats, gains, holm
from analysis.load import tidy_trials
from analysis.stats import (
    BOOTSTRAP_RESAMPLES,
    VERDICT_NO_SPREAD,
    bootstrap_ci,
    holm_levels,
    paired_p_value,
    verdict,
)

_spec = importlib.util.spec_from_file_location(
    "make_study", Path(__file__).parent / "fixtures" / "analysis" / "make_study.py")
make_study = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_study)


# ---------------------------------------------------------------- Holm
def test_holm_matches_a_hand_computation():
    # Sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> running max 0.06.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_skips_nan_caps_at_one_and_keeps_ties():
    out = holm([0.02, np.nan, 0.5])                      # m = 2: NaN is not a test
    assert out[0] == pytest.approx(0.04) and np.isnan(out[1]) and out[2] == pytest.approx(0.5)
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    assert holm([0.01, 0.01]) == pytest.approx([0.02, 0.02])
    assert holm([]).size == 0 and np.isnan(holm([np.nan])).all()
    assert holm([0.03]) == pytest.approx([0.03])         # a family of one is not adjusted


def test_gains_holm_family_is_the_ratios_of_one_size():
    g = gains(tidy_trials(make_study.make_trials(sizes=(500, 1000))), "test_acc_at_best_val")
    for _, family in g.groupby("size"):
        assert len(family) == 4
        assert family["p_holm"].to_numpy() == pytest.approx(holm(family["p_value"].to_numpy()))
    assert (g["p_holm"] >= g["p_value"]).all()


def test_gains_holm_family_is_every_candidate_the_best_pick_ranked():
    """3 alphas x 4 ratios ranked for one best R are 12 candidates, not 3 families of 4; synthetic-only
    cells are ranked apart (their own best-R row), so they form their own family."""
    trials = tidy_trials(make_study.make_trials(sizes=(500,), alphas=(1.0, 2.0, 4.0), reals=(True, False)))
    g = gains(trials, "test_acc_at_best_val")
    families = g.groupby(["size", "real"])
    assert families.ngroups == 2
    for _, family in families:
        assert len(family) == 12 and (family["family_size"] == 12).all()
        assert family["p_holm"].to_numpy() == pytest.approx(holm(family["p_value"].to_numpy()))


def test_holm_levels_give_intervals_that_agree_with_holm():
    p = np.array([0.001, 0.03, 0.013, 0.4])
    levels = holm_levels(p)
    # Steps: 0.001 < 0.05/4; 0.013 < 0.05/3; 0.03 >= 0.05/2 stops: it and 0.4 get 0.05/2.
    assert levels == pytest.approx([0.0125, 0.025, 0.05 / 3, 0.025])
    assert holm_levels([0.001, 0.02, 0.013, 0.4]) == pytest.approx([0.0125, 0.025, 0.05 / 3, 0.05])
    assert ((p < levels) == (holm(p) < 0.05)).all()


def test_adjusted_interval_excludes_zero_exactly_when_holm_rejects():
    for noise in (0.004, 0.01, 0.02, 0.04):
        g = gains(tidy_trials(make_study.make_trials(sizes=(500, 1000), alphas=(1.0, 2.0), noise=noise)),
                  "test_acc_at_best_val")
        excludes = (g["adj_lo"] > 0) | (g["adj_hi"] < 0)
        assert (excludes == (g["p_holm"] < 0.05)).all()
        assert ((g["adj_hi"] - g["adj_lo"]) >= (g["gain_hi"] - g["gain_lo"]) - 1e-12).all()


# ---------------------------------------------------------------- units of replication
def test_one_gan_with_three_classifier_repeats_is_one_unit():
    trials = tidy_trials(make_study.make_trials(sizes=(500,), repeats="once", noise=0.004))
    g = gains(trials, "test_acc_at_best_val").set_index("ratio")
    assert (g["n_pairs"] == 1).all() and (g["n_repeats"] == 3).all() and g["p_value"].isna().all()
    assert g["local_p"].notna().all()       # the classifier-noise view is still measured
    best = best_ratio_table(trials).iloc[0]
    assert best["verdict"] == "higher for the GAN(s) trained only (1 unit: not a general claim)"
    cells = cell_stats(trials, "test_acc_at_best_val")
    assert (cells["n"] == 1).all() and (cells["ci_kind"] == "classifier repeats").all()
    assert cells["ci_lo"].notna().all() and "classifier repeats only" in cells["note"].iloc[0]


def test_a_nested_design_tests_over_gan_units_with_repeats_averaged_first():
    trials = tidy_trials(make_study.make_trials(sizes=(500,), seeds=6, repeats=3))
    g = gains(trials, "test_acc_at_best_val").set_index("ratio")
    assert (g["n_pairs"] == 3).all() and (g["n_repeats"] == 6).all()
    ok = trials.groupby(["ratio", "subset_seed"])["test_acc_at_best_val"].mean()
    diff = (ok.loc[1.0] - ok.loc[0.0]).to_numpy()
    assert g.loc[1.0, "gain"] == pytest.approx(diff.mean())
    assert g.loc[1.0, "p_value"] == pytest.approx(stats.ttest_1samp(diff, 0).pvalue)
    assert best_ratio_table(trials).iloc[0]["verdict"] == "helps"


def test_zero_variance_gives_no_p_value_and_never_helps():
    assert np.isnan(paired_p_value([0.01, 0.01, 0.01])) and np.isnan(paired_p_value([0.0, 0.0]))
    trials = make_study.make_trials(sizes=(500,), ratios=(0.0, 1.0), seeds=3, noise=0.0)
    g = gains(tidy_trials(trials), "test_acc_at_best_val").iloc[0]
    assert np.isnan(g["p_value"]) and not g["spread"]
    assert best_ratio_table(tidy_trials(trials)).iloc[0]["verdict"] == VERDICT_NO_SPREAD


def test_the_count_is_complete_pairs_not_the_cell_size():
    trials = make_study.make_trials(sizes=(500,), ratios=(0.0, 1.0), seeds=4)
    trials = trials.drop(trials.index[(trials["ratio"] == 0.0) & (trials["seed"] >= 2)])   # 2 baselines lost
    best = best_ratio_table(tidy_trials(trials)).iloc[0]
    assert best["n"] == 4 and "for the GAN(s) trained only (2 units" in best["verdict"]


def test_merged_folders_never_pair_units_of_different_subsets():
    """A "once" folder (every seed on subset 0) merged with a per-seed one: the once folder's R > 0 seeds
    1 and 2 read subset 0, so they pair with subset 0's baseline only, never with seeds 1-2 of the other."""
    once = make_study.make_trials(sizes=(500,), ratios=(1.0,), repeats="once").assign(study="a")
    per_seed = make_study.make_trials(sizes=(500,), ratios=(0.0,)).assign(study="b")
    g = gains(tidy_trials(pd.concat([once, per_seed], ignore_index=True)), "test_acc_at_best_val").iloc[0]
    assert g["n_pairs"] == 1 and g["n_repeats"] == 1


# ---------------------------------------------------------------- bootstrap
def test_bootstrap_is_scipys_seeded_and_reproducible():
    d = np.array([0.012, 0.02, 0.031, 0.018, 0.025, 0.009])
    first, again = bootstrap_ci(d), bootstrap_ci(d)
    assert first == again
    direct = stats.bootstrap((d,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, method="BCa",
                             rng=np.random.default_rng(0)).confidence_interval
    assert first == pytest.approx((direct.low, direct.high))
    assert first[0] < d.mean() < first[1]
    assert bootstrap_ci(d, seed=1) != first
    assert bootstrap_ci([0.01] * 5) == (0.01, 0.01)      # no spread: BCa is undefined, the CI is the value
    assert np.isnan(bootstrap_ci([0.01])).all()


def test_gains_report_the_bootstrap_of_paired_differences_with_five_seeds():
    trials = tidy_trials(make_study.make_trials(sizes=(500,), seeds=5))
    g = gains(trials, "test_acc_at_best_val").set_index("ratio")
    ok = trials.set_index(["ratio", "seed"])["test_acc_at_best_val"]
    diff = (ok.loc[1.0] - ok.loc[0.0]).sort_index().to_numpy()
    assert (g.loc[1.0, "boot_lo"], g.loc[1.0, "boot_hi"]) == pytest.approx(bootstrap_ci(diff))
    assert g.loc[1.0, "boot_lo"] < g.loc[1.0, "gain"] < g.loc[1.0, "boot_hi"]
    again = gains(trials, "test_acc_at_best_val").set_index("ratio")
    assert again.loc[1.0, "boot_lo"] == g.loc[1.0, "boot_lo"]


# ---------------------------------------------------------------- verdicts
def test_verdict_uses_the_adjusted_p_value():
    assert verdict(0.01, 0.04) == "helps" and verdict(-0.01, 0.04) == "hurts"
    assert verdict(0.01, 0.08, -0.004, 0.008, 3) == "no meaningful difference"    # raw p may be < 0.05: Holm decides
    assert verdict(0.01, np.nan, n=3).startswith("untested") and verdict(0.01, 0.01, n=0).startswith("untested")


def test_best_ratio_verdict_follows_holm_not_raw_p():
    # The same small gain at every ratio: the chosen R passes a raw t-test, not Holm over the 4 ratios.
    effect = {0.0: 0.0, 0.5: 0.004, 1.0: 0.004, 2.0: 0.004, 4.0: 0.004}
    trials = tidy_trials(make_study.make_trials(sizes=(500,), effect=effect, noise=0.008))
    row = best_ratio_table(trials).iloc[0]
    assert row["p_value"] < 0.05 <= row["p_holm"]
    assert row["verdict"] not in ("helps", "hurts")
    g = gains(trials, "test_acc_at_best_val")
    assert (g["p_holm"] >= g["p_value"]).all()
