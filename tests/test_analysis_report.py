"""The report's new sections: the papers' protocol gap, the metric and selection statement, the schedule
warning, and the fallbacks for results.csv files without validation columns."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import build_report
from analysis.load import tidy_trials
from analysis.protocol_gap import protocol_gap, protocol_gap_frame

_spec = importlib.util.spec_from_file_location(
    "make_study", Path(__file__).parent / "fixtures" / "analysis" / "make_study.py")
make_study = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_study)


# ---------------------------------------------------------------- protocol gap
def test_protocol_gap_is_the_mean_paired_difference_with_a_t_interval_over_trials():
    trials = make_study.make_trials()
    trials.loc[0, "status"] = "diverged"                  # not ok: not counted
    trials = tidy_trials(trials)
    gap = protocol_gap(trials)
    ok = trials[trials["status"] == "ok"]
    d = (ok["test_acc_max"] - ok["test_acc_at_best_val"]).to_numpy()
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert gap.n == len(ok) == 29 and gap.mean == pytest.approx(d.mean())
    assert (gap.lo, gap.hi) == (pytest.approx(lo), pytest.approx(hi))
    assert gap.lo > 0 and gap.mean == pytest.approx(make_study.PROTOCOL_GAP, abs=0.002)
    assert "t interval over trials" in gap.method


def test_protocol_gap_per_cell_pairs_by_seed():
    frame = protocol_gap_frame(tidy_trials(make_study.make_trials(sizes=(500,))))
    assert list(frame["ratio"]) == [0.0, 0.5, 1.0, 2.0, 4.0] and (frame["n"] == 3).all()
    assert frame["gap"].to_numpy() == pytest.approx((frame["test_acc_max"] - frame["test_acc_at_best_val"]).to_numpy())
    assert (frame["gap_lo"] <= frame["gap"]).all() and (frame["gap"] <= frame["gap_hi"]).all()


def test_protocol_gap_is_not_measurable_without_validation():
    assert protocol_gap(tidy_trials(make_study.make_trials(validation=False))) is None
    assert protocol_gap_frame(tidy_trials(make_study.make_trials(validation=False))).empty


# ---------------------------------------------------------------- the report
def _section(text: str, title: str) -> str:
    return text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_report_states_metric_selection_tests_schedule_and_gap(tmp_path):
    test_effect = {0.0: 0.0, 0.5: 0.01, 1.0: 0.03, 2.0: 0.0, 4.0: -0.03}
    val_effect = {0.0: 0.0, 0.5: 0.04, 1.0: 0.01, 2.0: 0.0, 4.0: -0.03}
    trials = make_study.make_trials(effect=test_effect, val_effect=val_effect)
    report = build_report(make_study.write_study_dir(tmp_path / "s", trials, with_gans=False))
    text = report.read_text()
    lines = text.splitlines()
    assert "Holm-adjusted" in lines[2]
    assert lines[5].startswith("- n = 500 real images: best R = 0.5 (chosen on validation)") and "Holm p = " in lines[5]
    how = _section(text, "How these numbers were chosen")
    assert "**test accuracy at the epoch of best validation accuracy** (`test_acc_at_best_val`)" in how
    assert "mean `val_acc_max` over seeds" in how and "never the test set" in how
    assert "`epochs`: a fixed number of epochs" in how and "extra updates" in how
    assert "**Papers' protocol gap**" in how and "| test acc at best val epoch | test acc at best test epoch (papers) |" \
        in how
    best = pd.read_csv(tmp_path / "s" / "report" / "tables" / "best_ratio.csv")
    assert set(best["best_ratio"]) == {0.5} and {"p_value", "p_holm", "chosen_on"} <= set(best.columns)
    gap = pd.read_csv(tmp_path / "s" / "report" / "tables" / "protocol_gap.csv")
    assert len(gap) == 10
    assert (tmp_path / "s" / "report" / "plots" / "accuracy_vs_size.png").stat().st_size > 5000
    assert "(tables/abadi_t4_papers_protocol.csv)" in text


@pytest.mark.parametrize(("schedule", "caution"), [("steps", False), ("early-stop", False), ("epochs", True)])
def test_the_extra_updates_caution_only_under_the_epochs_schedule(tmp_path, schedule, caution):
    spec = make_study.spec_toml("s", schedule=schedule).replace("epochs = 15\n", "epochs = 15\npatience = 4\n")
    root = make_study.write_study_dir(tmp_path / "s", make_study.make_trials(sizes=(500,)), with_gans=False, spec=spec)
    how = _section(build_report(root).read_text(), "How these numbers were chosen")
    assert f"`{schedule}`" in how and ("**Caution**" in how) is caution
    assert ("patience: 4 epochs" in how) is (schedule == "early-stop")


def test_a_schedule_that_varies_within_the_study_is_read_from_its_column(tmp_path):
    trials = make_study.make_trials(sizes=(500,))
    steps = trials.assign(classifier_schedule="steps", trial=trials["trial"] + "s")
    trials = pd.concat([trials.assign(classifier_schedule="epochs"), steps], ignore_index=True)
    root = make_study.write_study_dir(tmp_path / "s", trials, with_gans=False)
    text = build_report(root).read_text()
    how = _section(text, "How these numbers were chosen")
    assert "`epochs`: a fixed" in how and "`steps`: the same number" in how and "**Caution**" in how
    best = pd.read_csv(tmp_path / "s" / "report" / "tables" / "best_ratio.csv")
    assert sorted(best["classifier_schedule"]) == ["epochs", "steps"]


def test_a_report_without_a_readable_spec_toml_assumes_the_default_schedule_and_says_so(tmp_path):
    root = make_study.write_study_dir(tmp_path / "s", spec="\x00 not TOML")
    how = _section(build_report(root).read_text(), "How these numbers were chosen")
    assert "`epochs`" in how and "spec.toml could not be read: assumed" in how and "**Caution**" in how


def test_a_study_without_a_validation_split_reports_the_last_epoch(tmp_path):
    trials = make_study.make_trials(validation=False)
    root = make_study.write_study_dir(tmp_path / "noval", trials, with_gans=False,
                                      spec=make_study.spec_toml("noval", validation=0))
    text = build_report(root).read_text()
    how = _section(text, "How these numbers were chosen")
    assert "(`test_acc`)" in how and "no validation split" in how
    assert "chosen on test: optimistic" in text
    assert np.isfinite(pd.read_csv(root / "report" / "tables" / "best_ratio.csv")["gain"]).all()
