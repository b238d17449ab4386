"""Which metric is reported, what chooses the best R (validation, never test), and the R = 0 baseline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import best_ratio_table, choose_metrics, gains
from analysis.cells import cells_with_gains, varying_axes
from analysis.load import tidy_trials
from trainables.files.results_columns import axis_columns, is_gan_axis

_spec = importlib.util.spec_from_file_location(
    "make_study", Path(__file__).parent / "fixtures" / "analysis" / "make_study.py")
make_study = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_study)

# Test says R = 1 is best, validation says R = 0.5: the report must follow validation.
TEST_EFFECT = {0.0: 0.0, 0.5: 0.01, 1.0: 0.03, 2.0: 0.0, 4.0: -0.03}
VAL_EFFECT = {0.0: 0.0, 0.5: 0.04, 1.0: 0.01, 2.0: 0.0, 4.0: -0.03}


# ---------------------------------------------------------------- metric choice
def test_new_study_reports_test_acc_at_best_val_and_selects_on_val_acc_max():
    choice = choose_metrics(tidy_trials(make_study.make_trials()))
    assert (choice.reported, choice.selection) == ("test_acc_at_best_val", "val_acc_max")
    assert not choice.selection_on_test and choice.notes == ()
    assert choice.papers_protocol_too


def test_new_study_without_a_validation_split_reports_the_last_epoch():
    trials = tidy_trials(make_study.make_trials(validation=False))
    choice = choose_metrics(trials, {"eval": {"validation": 0}})
    assert choice.reported == "test_acc" and choice.selection_on_test
    assert any("no validation split" in n for n in choice.notes) and any("optimistic" in n for n in choice.notes)


def test_spec_eval_metric_is_what_the_tables_report():
    choice = choose_metrics(tidy_trials(make_study.make_trials()), {"eval": {"metric": "f1"}})
    assert choice.reported == "f1" and choice.selection == "val_acc_max"


# ---------------------------------------------------------------- selection on validation
def test_best_ratio_is_chosen_on_validation_even_when_test_disagrees():
    trials = tidy_trials(make_study.make_trials(sizes=(500, 1000), effect=TEST_EFFECT, val_effect=VAL_EFFECT))
    cells = cells_with_gains(trials, "test_acc_at_best_val", "val_acc_max")
    r_gt0 = cells[cells["ratio"] > 0]
    for size in (500, 1000):
        mine = r_gt0[r_gt0["size"] == size]
        assert mine.loc[mine["mean"].idxmax(), "ratio"] == 1.0            # the test set would pick R = 1
        assert mine.loc[mine["select_mean"].idxmax(), "ratio"] == 0.5     # validation picks R = 0.5
    best = best_ratio_table(trials)
    assert (best["best_ratio"] == 0.5).all()
    assert (best["chosen_on"] == "val_acc_max").all() and not best["chosen_on_test"].any()
    row = best[best["size"] == 500].iloc[0]
    cell = cells[(cells["size"] == 500) & (cells["ratio"] == 0.5)].iloc[0]
    assert row["mean"] == pytest.approx(cell["mean"]) and row["gain"] == pytest.approx(cell["gain"])


def test_without_validation_the_choice_is_on_test_and_marked_optimistic():
    trials = tidy_trials(make_study.make_trials(sizes=(500,), effect=TEST_EFFECT, val_effect=VAL_EFFECT,
                                                validation=False))
    best = best_ratio_table(trials)
    assert best["best_ratio"].iloc[0] == 1.0 and best["chosen_on_test"].iloc[0]
    assert best["chosen_on"].iloc[0] == "test_acc"


def test_best_ratio_per_real_augment_and_classifier():
    trials = tidy_trials(make_study.make_trials(sizes=(500,), reals=(True, False), augments=("none", "classic"),
                                                classifiers=("mlp", "cnn2")))
    best = best_ratio_table(trials)
    assert len(best) == 2 * 2 * 2
    assert {"classifier", "real", "augment"} <= set(best.columns)


def test_best_ratio_table_reads_a_raw_results_csv(tmp_path):
    """The CLI's summary calls it on pd.read_csv(results.csv), untidied."""
    make_study.make_trials().to_csv(tmp_path / "results.csv", index=False)
    best = best_ratio_table(pd.read_csv(tmp_path / "results.csv"))
    assert list(best["best_ratio"]) == [1.0, 1.0]


def test_diverged_cells_never_win_on_validation_either():
    trials = make_study.make_trials(sizes=(500,))
    trials.loc[trials["ratio"] == 1.0, ["status", "val_acc_max", "test_acc_at_best_val"]] = ["diverged", 0.99, 0.99]
    assert best_ratio_table(tidy_trials(trials))["best_ratio"].iloc[0] == 0.5


# ---------------------------------------------------------------- the R = 0 baseline of every GAN arm
def test_gan_axes_include_the_sample_filter_but_not_classifier_settings():
    assert is_gan_axis("mix_filter") and is_gan_axis("mix_filter_threshold")
    assert is_gan_axis("gan_epochs") and is_gan_axis("gan_recipe") and is_gan_axis("alpha")
    assert not is_gan_axis("gan_key") and not is_gan_axis("classifier_epochs") and not is_gan_axis("mix_real")
    cols = ["trial", "size", "ratio", "val_acc_max", "train_steps", "epochs_trained", "gan_lr", "study"]
    assert axis_columns(cols) == ["size", "ratio", "gan_lr"]       # metrics and the folder label are no axes


def test_one_r0_trial_is_the_baseline_of_every_arch_and_filter():
    trials = make_study.make_trials(sizes=(500,), ratios=(0.0, 1.0), gan_archs=("dcgan", "dagan"))
    trials["mix_filter"] = trials["ratio"].map(lambda r: "confident" if r > 0 else np.nan)
    extra = trials[trials["ratio"] > 0].assign(mix_filter="none",
                                               trial=lambda d: d["trial"] + "-nofilter")
    trials = tidy_trials(pd.concat([trials, extra], ignore_index=True))
    g = gains(trials, "test_acc_at_best_val")
    assert len(g) == 4 and (g["n_pairs"] == 3).all()               # 2 archs x 2 filters, each paired with R = 0
    assert set(g["gan_arch"]) == {"dcgan", "dagan"} and set(g["mix_filter"]) == {"none", "confident"}
    assert {"gan_arch", "mix_filter"} <= set(varying_axes(trials))


def test_classifier_setting_columns_are_axes_that_pair_with_their_own_baseline():
    a = make_study.make_trials(sizes=(500,), ratios=(0.0, 1.0)).assign(classifier_epochs=15)
    b = make_study.make_trials(sizes=(500,), ratios=(0.0, 1.0)).assign(classifier_epochs=30)
    b["trial"] = b["trial"] + "b"
    b["test_acc_at_best_val"] += 0.05                              # longer training: higher at R = 0 and R = 1
    g = gains(tidy_trials(pd.concat([a, b], ignore_index=True)), "test_acc_at_best_val")
    assert len(g) == 2 and g["gain"].to_numpy() == pytest.approx([0.03, 0.03], abs=0.005)


# ---------------------------------------------------------------- a GAN too weak to judge
def test_a_weak_gan_annotates_a_significant_verdict_and_voids_a_null_one():
    from analysis.answer import Evidence, answer_lines
    from analysis.stats import VERDICT_WEAK

    hurt = {0.0: 0.0, 0.5: -0.05, 1.0: -0.06, 2.0: -0.07, 4.0: -0.08}
    trials = make_study.make_trials(sizes=(500, 1000), effect=hurt)
    assert set(best_ratio_table(trials)["verdict"]) == {"hurts"}
    weak = {key: "GAN-train near chance" for key in trials.loc[trials["size"] == 500, "gan_key"] if key}
    judged = best_ratio_table(trials, weak=weak).set_index("size")
    assert judged.loc[500, "verdict"] == "hurts" and judged.loc[500, "weak_gan"]     # never hidden
    assert "GAN-train near chance" in judged.loc[500, "gan_note"] and not judged.loc[1000, "weak_gan"]
    text = "\n".join(answer_lines(judged.reset_index(), "test_acc_at_best_val", Evidence(weak)))
    assert "weak GAN" in text and "GAN-train near chance" in text

    flat = make_study.make_trials(sizes=(500, 1000), effect={0.0: 0.0, 0.5: 0.0, 1.0: 0.0, 2.0: 0.0, 4.0: 0.0},
                                  noise=0.03)
    weak = {key: "GAN-train near chance" for key in flat.loc[flat["size"] == 500, "gan_key"] if key}
    judged = best_ratio_table(flat, weak=weak).set_index("size")
    assert judged.loc[500, "verdict"] == VERDICT_WEAK and judged.loc[1000, "verdict"] != VERDICT_WEAK
    lines = answer_lines(judged.reset_index(), "test_acc_at_best_val", Evidence(weak))
    assert "1 of 2 cell(s) are inconclusive" in "\n".join(lines)
    every = {key: "weak" for key in flat["gan_key"] if key}
    head = answer_lines(best_ratio_table(flat, weak=every), "test_acc_at_best_val", Evidence(every))[0]
    assert head.startswith("**Inconclusive: the GANs were too weak to judge**")


def test_gan_strength_is_measured_against_the_real_reference_above_chance():
    from analysis.gan_judgement import strength, weakness

    base = {"status": "ok", "classes": [str(k) for k in range(10)], "real_reference_acc": 0.9, "gan_test_acc": 0.8}
    assert strength({**base, "gan_train_acc": 0.1}) == pytest.approx(0.0)
    assert strength({**base, "gan_train_acc": 0.9}) == pytest.approx(1.0)
    assert weakness({**base, "gan_train_acc": 0.45}) and not weakness({**base, "gan_train_acc": 0.75})
    # Without a validation split the gate is not measured (null): judged on GAN-test alone.
    unmeasured = {**base, "gate_split": None, "gan_train_acc": None, "real_reference_acc": None}
    assert weakness({**unmeasured, "gan_test_acc": 0.12}) and not weakness({**unmeasured, "gan_test_acc": 0.6})
