"""Analysis package: statistics, tables, published join, plots, report, reading a study folder.

All inputs are hand-made (tests/fixtures/analysis/make_study.py) with a known answer: best R = 1.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import StudyDirError, best_ratio_table, build_report, cell_stats, gains, load_study, mean_ci
from analysis.cells import cells_with_gains
from analysis.load import tidy_trials
from analysis.metrics import choose_metrics
from analysis.plots import PLOTS, PlotData
from analysis.published import load_published, paper_value
from analysis.render import table_markdown, to_latex
from analysis.stats import paired_p_value
from analysis.tables import TABLES, Context, build_grid, build_tables, study_archs

_spec = importlib.util.spec_from_file_location(
    "make_study", Path(__file__).parent / "fixtures" / "analysis" / "make_study.py")
make_study = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_study)


def _context(trials: pd.DataFrame, metric: str = "test_acc_max") -> Context:
    trials = tidy_trials(trials)
    choice = choose_metrics(trials)
    return Context(trials, metric, cells_with_gains(trials, metric, choice.selection), load_published(), choice,
                   study_archs(trials))


# ---------------------------------------------------------------- statistics
def test_mean_ci_matches_scipy_t_interval():
    values = [0.81, 0.83, 0.80, 0.84, 0.82]
    ci = mean_ci(values)
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert ci.n == 5 and ci.mean == pytest.approx(np.mean(values))
    assert (ci.lo, ci.hi) == (pytest.approx(lo), pytest.approx(hi))
    assert np.isnan(mean_ci([0.9]).lo)      # one seed: no CI


def test_paired_gain_and_p_value_match_scipy():
    trials = tidy_trials(make_study.make_trials(sizes=(500,), seeds=4))
    g = gains(trials, "test_acc_max").set_index("ratio")
    base = trials[trials["ratio"] == 0].sort_values("seed")["test_acc_max"].to_numpy()
    r1 = trials[trials["ratio"] == 1].sort_values("seed")["test_acc_max"].to_numpy()
    assert g.loc[1.0, "gain"] == pytest.approx((r1 - base).mean())
    assert g.loc[1.0, "p_value"] == pytest.approx(stats.ttest_rel(r1, base).pvalue)
    assert g.loc[1.0, "n_pairs"] == 4 and np.isnan(g.loc[1.0, "boot_lo"])   # bootstrap needs >= 5 seeds
    assert np.isnan(paired_p_value([0.0, 0.0, 0.0]))     # no spread: no test, never p = 0 or 1 by fiat


def test_bootstrap_ci_reported_with_five_seeds():
    g = gains(tidy_trials(make_study.make_trials(sizes=(500,), seeds=5)), "test_acc_max")
    row = g[g["ratio"] == 1.0].iloc[0]
    assert row["boot_lo"] < row["gain"] < row["boot_hi"]


def test_r0_pairs_regardless_of_alpha():
    trials = make_study.make_trials(sizes=(500,), alphas=(1.0, 2.0))
    trials.loc[trials["ratio"] == 0, "alpha"] = 2.0     # a driver that fills alpha on R = 0 rows
    g = gains(tidy_trials(trials), "test_acc_max")
    assert set(g["alpha"]) == {1.0, 2.0} and (g["n_pairs"] == 3).all()


def test_best_ratio_found_per_size():
    best = best_ratio_table(tidy_trials(make_study.make_trials()))
    assert list(best["size"]) == [500, 1000]
    assert (best["best_ratio"] == 1.0).all()
    assert (best["verdict"] == "helps").all() and (best["p_value"] < 0.05).all()
    assert (best["gain_lo"] > 0).all()


def test_diverged_trials_never_rank():
    trials = make_study.make_trials(sizes=(500,))
    best_cell = trials["ratio"] == 1.0
    trials.loc[best_cell, "status"] = "diverged"
    trials.loc[best_cell, ["test_acc_max", "val_acc_max"]] = 0.999      # a bogus number must not win
    trials = tidy_trials(trials)
    assert best_ratio_table(trials)["best_ratio"].iloc[0] == 0.5
    cells = cell_stats(trials)
    dead = cells[cells["ratio"] == 1.0].iloc[0]
    assert dead["n"] == 0 and dead["diverged"] == 3 and "3 diverged" in dead["note"]


def test_single_seed_cell_is_noted():
    cells = cell_stats(tidy_trials(make_study.make_trials(sizes=(500,), seeds=1)))
    assert cells["note"].str.contains("one seed only").all()


# ---------------------------------------------------------------- tables and the papers' numbers
def test_published_numbers_join_the_right_cells():
    pub = load_published()
    mlp = {"dataset": "mnist", "classifier": "mlp", "gan_arch": "abadi"}
    assert paper_value(pub, "abadi", "table4", size=500, ratio=1.0, real=True, alpha=2.0, **mlp) == pytest.approx(0.8662)
    assert np.isnan(paper_value(pub, "abadi", "table4", size=500, ratio=1.0, real=True, alpha=1.0,
                                **mlp))          # alpha matters when R > 0
    assert paper_value(pub, "abadi", "table4", size=500, ratio=0.0, real=True, alpha=np.nan,
                       **mlp) == pytest.approx(0.8092)   # ... not at R = 0
    assert paper_value(pub, "abadi", "table1", size=500, ratio=1.0, real=False, alpha=4.0, **mlp) == pytest.approx(0.6753)
    assert paper_value(pub, "abadi", "table2", size=60000, ratio=0.0, real=True, **mlp) == pytest.approx(0.9723)
    # DAGAN counts per class: 50/class on CIFAR-10 is our size 500; percentages become fractions.
    assert paper_value(pub, "dagan", "table3", dataset="cifar10", size=500, method="C_aug",
                       gan_arch=("dagan",)) == pytest.approx(0.396)
    assert np.isnan(paper_value(pub, "abadi", "table4", dataset="mnist-5k", size=500, ratio=1.0, alpha=2.0,
                                gan_arch="abadi"))


def test_t4_shows_paper_row_with_difference_and_full_size_joins():
    trials = make_study.make_trials(sizes=(500, "full"))
    table = build_grid(_context(trials), TABLES["abadi_t4"])
    text = table_markdown(table)
    assert "| 500 | paper | 0.8092" in text and "| 60000 | paper | 0.9723" in text
    row = table.data[(table.data["size"] == 500) & (table.data["column"] == "R = 1")].iloc[0]
    assert row["paper"] == pytest.approx(0.8662)
    assert row["diff_vs_paper"] == pytest.approx(row["mean"] - 0.8662)


def test_table_with_missing_and_diverged_cells_renders():
    trials = make_study.make_trials()
    trials = trials[~((trials["size"] == 1000) & (trials["ratio"] == 2.0))]     # never run
    trials.loc[(trials["size"] == 500) & (trials["ratio"] == 4.0), "status"] = "diverged"
    table = build_grid(_context(trials), TABLES["abadi_t4"])
    text = table_markdown(table)
    assert "— (not run)" in text and "— (3 diverged)" in text
    assert "\\begin{tabular}" in to_latex(table)


def test_tables_are_chosen_by_axes_not_preset_name():
    plain = {t.name for t in build_tables(_context(make_study.make_trials()))}
    assert plain == {"abadi_t4", "per_class"}
    rich = make_study.make_trials(sizes=(500,), ratios=(0.0, 0.05, 1.0), classifiers=("mlp", "cnn2"),
                                  alphas=(1.0, 2.0), reals=(True, False), augments=("none", "classic"))
    names = {t.name for t in build_tables(_context(rich))}
    assert names == {"abadi_t1", "abadi_t2", "abadi_t3", "abadi_t4", "abadi_t5", "xing", "dagan", "per_class"}


# ---------------------------------------------------------------- plots
@pytest.mark.parametrize("name", sorted(PLOTS))
def test_every_plot_writes_a_nonempty_png(name, tmp_path):
    root = make_study.write_study_dir(tmp_path / "study")
    study = load_study(root)
    ctx = _context(study.trials)
    data = PlotData(study.trials, study.curves, ctx.cells, "test_acc_max", study.gans, ctx.selection_note)
    assert PLOTS[name].needs(data)
    paths = PLOTS[name].draw(data, tmp_path / "plots")
    assert paths
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


# ---------------------------------------------------------------- report
def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_report_is_idempotent_and_answers_first(tmp_path):
    root = make_study.write_study_dir(tmp_path / "study")
    results_before = (root / "results.csv").read_bytes()
    report = build_report(root)
    first = _digest(root / "report")
    assert build_report(root) == report and _digest(root / "report") == first
    assert (root / "results.csv").read_bytes() == results_before
    lines = report.read_text().splitlines()
    # The collapsed GAN is the very first thing a reader sees, then the answer.
    collapsed = make_study.gan_key("mnist", 500, 2.0, 0)
    assert lines[2].startswith(f"> **Mode collapse**: GAN `{collapsed}` (abadi, n = 500, seed 0)") \
        and "class(es) 0 " in lines[2]
    assert "helped in every cell tested" in lines[4]
    assert "n = 500 real images: best R = 1" in lines[7]
    text = report.read_text()
    assert "mode collapse in class(es) 0" in text and "the GAN was too weak" not in text
    assert "](plots/accuracy_vs_ratio.png)" in text and f"](plots/samples_{collapsed}.png)" in text


def test_a_gan_too_weak_to_judge_is_named_and_its_cells_are_not_judged(tmp_path):
    root = make_study.write_study_dir(tmp_path / "study", weak=((1000, 0), (1000, 1), (1000, 2)))
    text = build_report(root).read_text()
    (n500,) = [line for line in text.splitlines() if line.startswith("- n = 500 real images:")]
    (n1000,) = [line for line in text.splitlines() if line.startswith("- n = 1000 real images:")]
    assert n500.endswith("— helps; of 4 ratios tried, 2 helped and 1 hurt significantly.")   # its GANs are fine
    assert "GANs is weak" not in n500 and "GANs are weak" not in n500
    # A significant gain read from weak GANs is never hidden: it stands, named as resting on a weak GAN.
    assert "— helps;" in n1000 and "3 of its 3 GANs are weak" in n1000 and "GAN-test" in n1000
    assert "weak GAN" in text.splitlines()[4]


def test_report_says_plainly_when_nothing_helps(tmp_path):
    flat = {0.0: 0.0, 0.5: -0.01, 1.0: -0.02, 2.0: -0.02, 4.0: -0.03}
    trials = make_study.make_trials(effect=flat)
    trials.loc[trials.index[-1], ["status", "reason"]] = ["error", "worker died"]
    report = build_report(make_study.write_study_dir(tmp_path / "s", trials, with_gans=False))
    text = report.read_text()
    # Every R > 0 lowered accuracy significantly: the answer says R = 0 is best, never "best R = 0.5".
    assert text.splitlines()[2].startswith("**Adding synthetic images hurt in 2 of 2 cells**")
    assert "n = 500 real images: **R = 0 is best**: every R > 0 lowered" in text
    assert "the least harmful, R = 0.5, reaches" in text and "-1.0 pts" in text
    assert "worker died" in text and "1 trial(s) did not finish ok" in text


def test_a_folder_without_results_csv_is_refused_by_the_analysis_and_left_as_it_is(tmp_path):
    """The analysis reads results.csv only; `study report` writes a missing one from the trial records."""
    root = tmp_path / "study"
    root.mkdir()
    (root / "spec.toml").write_text(make_study.spec_toml("study"))
    make_study.write_trial_records(root, finished=2)
    before = sorted(p.name for p in root.rglob("*"))
    with pytest.raises(StudyDirError, match="has no results.csv yet; allowed: a study that has run"):
        load_study(root)
    assert sorted(p.name for p in root.rglob("*")) == before


def test_analysis_imports_without_ray_or_torch():
    code = "import sys, analysis; bad = {'ray', 'torch'} & set(sys.modules); sys.exit(1 if bad else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_report_rebuild_killed_at_a_rename_keeps_the_old_report_whole(tmp_path, monkeypatch):
    """report.md, tables and plots are written to a temp file and renamed."""
    import trainables.files.storage as storage_module  # the one atomic writer analysis writes through

    root = make_study.write_study_dir(tmp_path / "study")
    report = build_report(root)
    before = {p: p.read_bytes() for p in report.parent.rglob("*") if p.is_file()}

    def crash(src, dst):
        raise OSError("simulated kill before the rename")

    monkeypatch.setattr(storage_module.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        build_report(root)
    after = {p: p.read_bytes() for p in report.parent.rglob("*") if p.is_file()}
    assert after == before  # every file whole and unchanged, no temp file left behind
