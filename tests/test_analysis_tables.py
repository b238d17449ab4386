"""Paper tables by study shape: Abadi T1-T4 from one study or a synthetic-only one, the DAGAN table with
its five methods, published numbers only for the paper's own GAN, and papers'-protocol twins."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cells import cells_with_gains
from analysis.load import tidy_trials
from analysis.metrics import choose_metrics
from analysis.per_class import per_class_frame
from analysis.published import load_published
from analysis.render import table_markdown
from analysis.tables import TABLES, Context, build_grid, build_tables, study_archs

_spec = importlib.util.spec_from_file_location(
    "make_study", Path(__file__).parent / "fixtures" / "analysis" / "make_study.py")
make_study = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_study)


def _context(trials: pd.DataFrame, metric: str | None = None, archs: tuple[str, ...] | None = None) -> Context:
    trials = tidy_trials(trials)
    choice = choose_metrics(trials)
    metric = metric or choice.reported
    return Context(trials, metric, cells_with_gains(trials, metric, choice.selection), load_published(), choice,
                   study_archs(trials) if archs is None else archs)


def conditional_dagan(trials: pd.DataFrame) -> pd.DataFrame:
    """As the DAGAN presets run it: DAGAN as one conditional GAN (the fixture writes per-class GANs)."""
    trials = trials.copy()
    trials.loc[trials["gan_arch"] == "dagan", "conditioning"] = "conditional"
    return trials


def _names(ctx: Context) -> set[str]:
    return {t.name for t in build_tables(ctx)}


def _cell(table, **where) -> pd.Series:
    data = table.data
    for key, value in where.items():
        data = data[data[key] == value]
    assert len(data) == 1, where
    return data.iloc[0]


# ---------------------------------------------------------------- Abadi
def test_table_2_and_4_from_one_study_with_real_true_and_false():
    trials = make_study.make_trials(sizes=(500, 1000), reals=(True, False))
    ctx = _context(trials, "test_acc_max")
    assert {"abadi_t2", "abadi_t3", "abadi_t4"} <= _names(ctx) and "abadi_t1" not in _names(ctx)
    t2 = build_grid(ctx, TABLES["abadi_t2"])
    assert [c for c in t2.display.columns if c.startswith(("Real", "Fake"))] == [
        "Real (R = 0)", "Fake (synthetic only, R = 1)"]
    real = _cell(t2, size=500, column="Real (R = 0)")
    fake = _cell(t2, size=500, column="Fake (synthetic only, R = 1)")
    assert real["paper"] == pytest.approx(0.8092) and fake["paper"] == pytest.approx(0.6801)
    assert fake["mean"] < real["mean"] - 0.1              # the fixture's synthetic-only penalty is 0.15
    assert fake["gain"] == pytest.approx(fake["mean"] - real["mean"], abs=0.003)   # cost vs real R = 0
    t4 = build_grid(ctx, TABLES["abadi_t4"])
    assert set(t4.data["select_real"]) == {True}          # Table 4 holds real + synthetic cells only
    assert _cell(t4, size=1000, column="R = 1")["paper"] == pytest.approx(0.9061)


def test_table_1_and_3_from_a_synthetic_only_study():
    trials = make_study.make_trials(sizes=(500,), ratios=(1.0, 2.0, 4.0), reals=(False,), alphas=(1.0, 2.0, 4.0))
    ctx = _context(trials, "test_acc_max")
    assert _names(ctx) == {"abadi_t1", "abadi_t3", "per_class"}
    t1 = build_grid(ctx, TABLES["abadi_t1"])
    assert [c["select_ratio"] for _, c in t1.data.iterrows()] == [1.0, 1.0, 1.0]     # Table 1 is at R = 1
    assert list(t1.data["paper"]) == pytest.approx([0.6489, 0.6801, 0.6753])
    t3 = build_grid(ctx, TABLES["abadi_t3"])
    assert {"R = 1", "R = 2", "R = 4"} <= set(t3.display.columns)
    r2 = t3.data[(t3.data["column"] == "R = 2") & (t3.data["alpha"] == 2.0)].iloc[0]
    assert r2["paper"] == pytest.approx(0.6801)


def test_dagan_presets_shape_never_makes_an_abadi_table():
    """dagan-svhn: R = 0 and 1, one DAGAN, no classic augmentation. It used to come out as 'Abadi Table 4'."""
    trials = make_study.make_trials(sizes=(500, 1000), ratios=(0.0, 1.0), gan_archs=("dagan",), dataset="svhn")
    ctx = _context(conditional_dagan(trials))
    names = _names(ctx)
    assert not any(n.startswith("abadi") for n in names)
    assert "dagan" in names
    table = build_grid(ctx, TABLES["dagan"])
    assert [c.label for c in TABLES["dagan"].columns(ctx)] == ["C", "DAGAN"]
    assert _cell(table, size=500, column="C")["paper"] == pytest.approx(0.377)
    assert _cell(table, size=500, column="DAGAN")["paper"] == pytest.approx(0.497)
    assert any("Not in this study: C_aug, Vanilla GAN, DAGAN_aug" in n for n in table.notes)


def test_abadi_table_4_needs_a_ratio_sweep():
    for ratios, fires in (((0.0, 1.0), False), ((0.0, 0.05, 0.1), False), ((0.0, 0.5, 1.0), True),
                          ((0.5, 1.0), True)):
        ctx = _context(make_study.make_trials(sizes=(500,), ratios=ratios))
        assert TABLES["abadi_t4"].needs(ctx) is fires, ratios


# ---------------------------------------------------------------- DAGAN
def _dagan_study(**kw) -> pd.DataFrame:
    return conditional_dagan(make_study.make_trials(
        sizes=(500, 1000), ratios=(0.0, 0.5, 1.0), dataset="cifar10", gan_archs=kw.pop("gan_archs", ("dcgan", "dagan")),
        augments=("none", "classic"), **kw))


def test_dagan_table_has_five_method_columns_with_the_papers_numbers_beside():
    ctx = _context(_dagan_study(), "test_acc_max")
    table = build_grid(ctx, TABLES["dagan"])
    labels = [c.label for c in TABLES["dagan"].columns(ctx)]
    assert labels[:5] == ["C", "C_aug", "Vanilla GAN", "DAGAN", "DAGAN_aug"]
    assert labels[5:] == ["Vanilla GAN_aug"]            # an arm the study ran that the paper has not
    published = {"C": 0.372, "C_aug": 0.396, "Vanilla GAN": 0.383, "DAGAN": 0.393, "DAGAN_aug": 0.455}
    for label, value in published.items():
        assert _cell(table, size=500, column=label)["paper"] == pytest.approx(value)
    assert np.isnan(_cell(table, size=500, column="Vanilla GAN_aug")["paper"])
    assert _cell(table, size=1000, column="DAGAN_aug")["paper"] == pytest.approx(0.520)
    text = table_markdown(table)
    assert "| 500 | paper | 0.3720" in text
    # GAN columns are the arm's own cells: DAGAN picks a dagan cell, with classic augmentation for _aug.
    assert _cell(table, size=500, column="DAGAN")["gan_arch"] == "dagan"
    assert _cell(table, size=500, column="Vanilla GAN")["gan_arch"] == "dcgan"
    assert _cell(table, size=500, column="DAGAN_aug")["select_augment"] == "classic"


def test_dagan_gan_columns_pick_their_r_on_validation():
    test_effect = {0.0: 0.0, 0.5: 0.01, 1.0: 0.03}
    val_effect = {0.0: 0.0, 0.5: 0.04, 1.0: 0.01}
    ctx = _context(_dagan_study(effect=test_effect, val_effect=val_effect))
    table = build_grid(ctx, TABLES["dagan"])
    for label in ("Vanilla GAN", "DAGAN", "DAGAN_aug"):
        assert _cell(table, size=500, column=label)["ratio"] == 0.5, label
    assert "[R=0.5]" in table_markdown(table) and any("chosen on validation" in n for n in table.notes)


# ---------------------------------------------------------------- no borrowed numbers
def test_no_published_number_when_the_gan_architecture_differs():
    # An Abadi-shaped MNIST study run with Xing's DCGAN: Abadi's numbers are not ours to compare with.
    dcgan = _context(make_study.make_trials(gan_archs=("dcgan",)), "test_acc_max")
    t4 = build_grid(dcgan, TABLES["abadi_t4"])
    assert t4.data["paper"].isna().all() and "| paper |" not in table_markdown(t4)
    abadi = build_grid(_context(make_study.make_trials(), "test_acc_max"), TABLES["abadi_t4"])
    assert abadi.data["paper"].notna().all()
    # A DAGAN-shaped CIFAR-10 study with Abadi's GAN: neither DAGAN's C nor its GAN columns join.
    other = _context(_dagan_study(gan_archs=("abadi",)), "test_acc_max")
    table = build_grid(other, TABLES["dagan"])
    assert [c.label for c in TABLES["dagan"].columns(other)] == ["C", "C_aug", "abadi GAN", "abadi GAN_aug"]
    assert table.data["paper"].isna().all()


def test_r0_cells_take_the_paper_of_the_studys_architecture():
    only_dcgan = _context(_dagan_study(gan_archs=("dcgan",)), "test_acc_max")
    table = build_grid(only_dcgan, TABLES["dagan"])
    assert _cell(table, size=500, column="C")["paper"] == pytest.approx(0.372)        # dcgan is DAGAN's too
    assert _cell(table, size=500, column="Vanilla GAN")["paper"] == pytest.approx(0.383)
    # R = 0 alone says nothing about the GAN: with no architecture known, no paper number.
    r0_only = make_study.make_trials(sizes=(500,), ratios=(0.0,), augments=("none", "classic"), dataset="cifar10")
    baselines = dataclasses.replace(TABLES["dagan"], columns=lambda c: TABLES["dagan"].columns(c)[:2])
    grid = build_grid(_context(r0_only, "test_acc_max", archs=()), baselines)
    assert grid.data["paper"].isna().all()
    grid = build_grid(_context(r0_only, "test_acc_max", archs=("dagan",)), baselines)   # from spec.toml
    assert list(grid.data["paper"]) == pytest.approx([0.372, 0.396])


# ---------------------------------------------------------------- papers' protocol twins
def test_tables_with_published_numbers_are_also_built_under_the_papers_protocol():
    ctx = _context(make_study.make_trials())
    assert ctx.metric == "test_acc_at_best_val"
    tables = {t.name: t for t in build_tables(ctx)}
    assert {"abadi_t4", "abadi_t4_papers_protocol", "per_class"} == set(tables)
    main, twin = tables["abadi_t4"], tables["abadi_t4_papers_protocol"]
    assert set(main.data["metric"]) == {"test_acc_at_best_val"} and set(twin.data["metric"]) == {"test_acc_max"}
    assert "papers' protocol" in twin.title and "optimistic" in twin.title
    gap = (twin.data["mean"] - main.data["mean"]).to_numpy()
    assert gap == pytest.approx(np.full(len(gap), make_study.PROTOCOL_GAP), abs=0.003)
    # Only the like-for-like table may call a paper number "disagreeing".
    assert not any(n.startswith("Disagrees") for n in main.notes)
    assert any(n.startswith("Disagrees") for n in twin.notes)
    # Bold (the pick) is the same cell in both: the choice is on validation, whatever is reported.
    assert main.display.iloc[0].tolist().index(next(v for v in main.display.iloc[0] if str(v).startswith("**"))) == \
        twin.display.iloc[0].tolist().index(next(v for v in twin.display.iloc[0] if str(v).startswith("**")))


def test_no_twin_without_published_numbers_or_under_the_papers_protocol_already():
    assert "abadi_t4_papers_protocol" not in _names(_context(make_study.make_trials(dataset="mnist-5k")))
    protocol = _context(make_study.make_trials(), metric="test_acc_max")
    assert _names(protocol) == {"abadi_t4", "per_class"}


# ---------------------------------------------------------------- per-class accuracy
def test_per_class_table_means_over_seeds_per_cell():
    trials = tidy_trials(make_study.make_trials(sizes=(500,), ratios=(0.0, 1.0)))
    frame = per_class_frame(trials)
    assert list(frame["ratio"]) == [0.0, 1.0] and (frame["n"] == 3).all()
    ok = trials[trials["ratio"] == 1.0]
    assert frame.loc[1, "class_0"] == pytest.approx((ok["test_acc_at_best_val"] - 0.01).mean(), abs=1e-4)
    assert (frame["worst_class"] == 0).all()
    collapsed = trials.copy()
    collapsed.loc[collapsed["ratio"] == 1.0, "per_class_acc"] = "[0.9, 0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]"
    collapsed.loc[collapsed.index[0], "per_class_acc"] = "not json"          # unreadable: skipped
    frame = per_class_frame(collapsed)
    assert frame.loc[1, "worst_class"] == 2 and frame.loc[1, "worst_acc"] == pytest.approx(0.1)
    assert frame.loc[0, "n"] == 2
    table = build_tables(_context(collapsed))[-1]
    assert table.name == "per_class" and "class 2" in table.display.columns


def test_a_papers_layout_over_another_gan_says_so_in_its_title():
    ctx = _context(_dagan_study())                       # a ratio sweep: Abadi Table 4's shape, DAGAN's GANs
    titles = {t.name: t.title for t in build_tables(ctx)}
    assert "Abadi's layout over another GAN: this study used dagan, dcgan; Abadi used abadi" in titles["abadi_t4"]
    assert "layout over another GAN" not in titles["dagan"]
    assert "layout" not in {t.name: t.title for t in build_tables(_context(make_study.make_trials()))}["abadi_t4"]
