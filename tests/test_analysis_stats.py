"""Statistics: Holm's correction against a hand computation, the seeded bootstrap, verdicts on Holm p."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from analysis import best_ratio_table, gains, holm
from analysis.load import tidy_trials
from analysis.stats import BOOTSTRAP_RESAMPLES, bootstrap_ci, verdict

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


def test_gains_holm_family_splits_by_every_other_axis():
    trials = tidy_trials(make_study.make_trials(sizes=(500,), alphas=(1.0, 2.0), reals=(True, False)))
    g = gains(trials, "test_acc_at_best_val")
    families = g.groupby(["alpha", "real"])
    assert families.ngroups == 4
    for _, family in families:
        assert family["p_holm"].to_numpy() == pytest.approx(holm(family["p_value"].to_numpy()))


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
    assert verdict(0.01, 0.08) == "no significant difference"    # raw p may be < 0.05: Holm decides
    assert verdict(0.01, np.nan).startswith("untested")


def test_best_ratio_verdict_follows_holm_not_raw_p():
    # The same small gain at every ratio: the chosen R passes a raw t-test, not Holm over the 4 ratios.
    effect = {0.0: 0.0, 0.5: 0.004, 1.0: 0.004, 2.0: 0.004, 4.0: 0.004}
    trials = tidy_trials(make_study.make_trials(sizes=(500,), effect=effect, noise=0.008))
    row = best_ratio_table(trials).iloc[0]
    assert row["p_value"] < 0.05 <= row["p_holm"]
    assert row["verdict"] == "no significant difference"
    g = gains(trials, "test_acc_at_best_val")
    assert (g["p_holm"] >= g["p_value"]).all()
