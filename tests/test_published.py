"""The published join (analysis/published.py): a paper's number stands beside a cell of ours only when
dataset, true size, R, real/synthetic, classifier, alpha, GAN architecture, per-class vs conditional,
schedule and augmentation agree; the table names the paper's settings that still differ; sizes are the
true counts after the validation hold-out; the papers'-protocol twin only under the papers' schedule."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cells import cells_with_gains
from analysis.load import full_sizes, load_study, tidy_trials
from analysis.metrics import choose_metrics, metric_label
from analysis.protocol_gap import protocol_gap_table
from analysis.published import PROTOCOLS, differences, load_published, paper_value
from analysis.render import table_markdown
from analysis.tables import TABLES, Context, build_grid, build_tables, study_archs
from trainables.terms.dataset_sizes import DATASET_SIZES, num_classes, train_images

_spec = importlib.util.spec_from_file_location(
    "make_study", Path(__file__).parent / "fixtures" / "analysis" / "make_study.py")
make_study = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_study)

PUB = load_published()
# Abadi Table 4, n = 500, R = 1, alpha 2, MLP: 0.8662; every setting as the paper ran it.
ABADI_CELL = dict(dataset="mnist", size=500, ratio=1.0, real=True, classifier="mlp", alpha=2.0, gan_arch="abadi",
                  conditioning="per-class", schedule="epochs", augment="none")


def _context(trials: pd.DataFrame, specs=(), full=None, metric=None) -> Context:
    trials = tidy_trials(trials, full)
    choice = choose_metrics(trials, specs)
    metric = metric or choice.reported
    return Context(trials, metric, cells_with_gains(trials, metric, choice.selection), PUB, choice,
                   study_archs(trials), specs=tuple(specs), full_sizes=full or {})


def _spec(gan=None, classifier=None, eval_=None) -> dict:
    spec = {"dataset": "mnist", "gan": {"arch": "abadi", "conditioning": "per-class", "epochs": 2000,
                                        "recipe": "paper", **(gan or {})},
            "classifier": {"name": ["mlp"], "epochs": 15, "schedule": "epochs", **(classifier or {})},
            "eval": {"validation": "auto", **(eval_ or {})}}
    return spec


def _full_trials(n: int, ratios=(0.0, 0.5, 1.0, 2.0)) -> pd.DataFrame:
    """A study of sizes 500 and "full", whose full trials trained on n real images (train_images says so)."""
    trials = make_study.make_trials(sizes=(500, "full"), ratios=ratios)
    full = trials["size"] == "full"
    trials.loc[full, "train_images"] = [n + int(round(r * n)) for r in trials.loc[full, "ratio"]]
    return trials


# ---------------------------------------------------------------- the join rule, cell by cell
def test_every_setting_agreeing_joins():
    assert paper_value(PUB, "abadi", "table4", **ABADI_CELL) == pytest.approx(0.8662)


@pytest.mark.parametrize("field, value", [
    ("dataset", "mnist-5k"), ("size", 550), ("ratio", 0.75 + 0.01), ("real", False), ("classifier", "cnn2"),
    ("alpha", 1.0), ("gan_arch", "dcgan"), ("conditioning", "conditional"), ("schedule", "early-stop"),
    ("schedule", "steps"), ("augment", "classic")])
def test_one_mismatched_setting_means_no_join(field, value):
    assert np.isnan(paper_value(PUB, "abadi", "table4", **{**ABADI_CELL, field: value})), field


def test_r0_cells_check_no_gan_settings_but_the_studys_architecture():
    r0 = {**ABADI_CELL, "ratio": 0.0, "alpha": np.nan}
    assert paper_value(PUB, "abadi", "table4", **{**r0, "conditioning": "conditional"}) == pytest.approx(0.8092)
    assert np.isnan(paper_value(PUB, "abadi", "table4", **{**r0, "gan_arch": ("dcgan",)}))
    assert np.isnan(paper_value(PUB, "abadi", "table4", **{**r0, "schedule": "early-stop"}))
    assert np.isnan(paper_value(PUB, "abadi", "table4", **{**r0, "augment": "classic"}))


def test_dagan_columns_each_join_their_own_arm_only():
    cell = dict(dataset="cifar10", size=500, real=True, schedule="epochs")
    gan = {**cell, "ratio": 1.0}

    def value(method, **kw):
        return paper_value(PUB, "dagan", "table3", method=method, **kw)

    assert value("DAGAN", gan_arch="dagan", conditioning="conditional", augment="none", **gan) == pytest.approx(0.393)
    assert np.isnan(value("DAGAN", gan_arch="dagan", conditioning="per-class", augment="none", **gan))
    assert np.isnan(value("DAGAN", gan_arch="dagan", conditioning="conditional", augment="classic", **gan))
    assert value("DAGAN_aug", gan_arch="dagan", conditioning="conditional", augment="classic",
                 **gan) == pytest.approx(0.455)
    # The paper's vanilla GAN is one GAN per class: a conditional DCGAN is another arm.
    assert value("Vanilla GAN", gan_arch="dcgan", conditioning="per-class", augment="none",
                 **gan) == pytest.approx(0.383)
    assert np.isnan(value("Vanilla GAN", gan_arch="dcgan", conditioning="conditional", augment="none", **gan))
    assert np.isnan(value("Semi GAN", gan_arch="dcgan", conditioning="per-class", augment="none", **gan))
    # C and C_aug: R = 0, with and without classic augmentation; never a GAN cell.
    assert value("C", gan_arch=("dagan",), augment="none", **{**cell, "ratio": 0.0}) == pytest.approx(0.372)
    assert np.isnan(value("C", gan_arch=("dagan",), augment="classic", **{**cell, "ratio": 0.0}))
    assert value("C_aug", gan_arch=("dagan",), augment="classic", **{**cell, "ratio": 0.0}) == pytest.approx(0.396)
    assert np.isnan(value("C", gan_arch="dagan", conditioning="conditional", augment="none", **gan))


def test_differences_name_the_papers_settings_that_do_not_block_a_join():
    assert differences("abadi", dataset="mnist", classifier="mlp", gan_epochs={2000}, recipe={"paper"},
                       classifier_epochs={15}) == []
    said = differences("abadi", dataset="mnist", classifier="mlp", gan_epochs={25}, recipe={"modern"},
                       classifier_epochs={15})
    assert said == ["GAN epochs: Abadi 2000, ours 25", "GAN recipe: Abadi paper, ours modern"]
    assert differences("abadi", dataset="cifar10", classifier="cnn2", gan_epochs={300})[0] == \
        "GAN epochs: Abadi 3000, ours 300"
    # An R = 0 cell has no GAN: only the classifier's settings can differ.
    assert differences("abadi", dataset="mnist", classifier="mlp", gan_epochs={25}, classifier_epochs={30},
                       uses_gan=False) == ["classifier epochs: Abadi 15, ours 30"]
    # What a paper does not state is said, not assumed.
    assert differences("dagan", "DAGAN", dataset="cifar10", gan_epochs={300}) == [
        "GAN epochs: not stated by Zhang & Wu, ours 300"]


def test_each_paper_protocol_is_encoded_once_from_its_text():
    assert PROTOCOLS["abadi"].gan_epochs == {"mnist": 2000, "cifar10": 3000}
    assert PROTOCOLS["abadi"].conditioning == "per-class" and PROTOCOLS["dagan"].conditioning == "conditional"
    assert PROTOCOLS["xing"].gan_epochs == {"cifar10": 50} and PROTOCOLS["hooda"].gan_epochs == {"cifar10": 120}
    assert {p.schedule for p in PROTOCOLS.values()} == {"epochs"}


# ---------------------------------------------------------------- through the tables
def test_a_table_joins_with_a_note_naming_the_gan_epochs_and_recipe_that_differ():
    spec = _spec(gan={"epochs": 25, "recipe": "modern"})
    table = build_grid(_context(make_study.make_trials(sizes=(500,)), [spec]), TABLES["abadi_t4"])
    assert table.data["paper"].notna().all()
    note = next(n for n in table.notes if n.startswith("Abadi's numbers stand beside cells"))
    assert "GAN epochs: Abadi 2000, ours 25" in note and "GAN recipe: Abadi paper, ours modern" in note
    same = build_grid(_context(make_study.make_trials(sizes=(500,)), [_spec()]), TABLES["abadi_t4"])
    assert same.data["paper"].notna().all() and not any("other settings" in n for n in same.notes)


def test_a_varied_gan_epochs_axis_is_read_per_cell():
    trials = make_study.make_trials(sizes=(500,))
    gan = trials["ratio"] > 0
    trials = pd.concat([trials.assign(gan_epochs=np.where(gan, 2000, np.nan)),
                        trials[gan].assign(gan_epochs=25.0, trial=lambda d: d["trial"] + "b")], ignore_index=True)
    table = build_grid(_context(trials, [_spec()]), TABLES["abadi_t4"])
    assert table.data["paper"].notna().all()
    assert any("GAN epochs: Abadi 2000, ours 25" in n and "2000/25" not in n for n in table.notes)


def test_a_conditional_gan_or_early_stopping_or_classic_augmentation_joins_no_abadi_number():
    trials = make_study.make_trials(sizes=(500,))
    conditional = trials.assign(conditioning=trials["conditioning"].where(trials["ratio"] == 0, "conditional"))
    table = build_grid(_context(conditional, [_spec()]), TABLES["abadi_t4"])
    assert table.data.loc[table.data["select_ratio"] > 0, "paper"].isna().all()
    assert table.data.loc[table.data["select_ratio"] == 0, "paper"].notna().all()    # R = 0 has no GAN
    early = _context(trials, [_spec(classifier={"schedule": "early-stop"})])
    assert build_grid(early, TABLES["abadi_t4"]).data["paper"].isna().all()
    classic = make_study.make_trials(sizes=(500,), augments=("classic",))
    assert build_grid(_context(classic, [_spec()]), TABLES["abadi_t4"]).data["paper"].isna().all()


def test_a_per_classifier_schedule_overrides_the_classifier_table():
    spec = _spec(classifier={"schedule": "epochs", "mlp": {"schedule": "early-stop"}})
    assert build_grid(_context(make_study.make_trials(sizes=(500,)), [spec]), TABLES["abadi_t4"]).data[
        "paper"].isna().all()


# ---------------------------------------------------------------- true sizes
def test_full_size_is_the_count_the_trials_trained_on_not_the_datasets_size():
    trials = tidy_trials(_full_trials(55000))
    assert sorted(trials["size"].unique()) == [500, 55000]
    assert full_sizes(_full_trials(55000)) == {"mnist": 55000}


@pytest.mark.parametrize("validation, expected", [("auto", 55000), (0, 60000), (1000, 59000)])
def test_full_size_from_the_spec_when_no_trial_recorded_its_images(validation, expected):
    trials = make_study.make_trials(sizes=("full",), ratios=(0.0,)).drop(columns="train_images")
    spec = _spec()
    spec["eval"]["validation"] = validation
    assert full_sizes(trials, spec) == {"mnist": expected}
    assert full_sizes(trials) == {}                                       # nothing known: stays "full"
    assert set(tidy_trials(trials, {})["size"]) == {"full"}


def test_load_study_labels_full_rows_with_the_true_count(tmp_path):
    trials = make_study.make_trials(sizes=(500, "full"), ratios=(0.0, 1.0)).drop(columns="train_images")
    trials.to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "spec.toml").write_text('dataset = "mnist"\n[eval]\nvalidation = "auto"\n')
    study = load_study(tmp_path)
    assert sorted(study.trials["size"].unique()) == [500, 55000] and study.full_counts == {"mnist": 55000}


def test_the_papers_full_set_number_does_not_join_our_smaller_full_subset():
    ctx = _context(_full_trials(55000), [_spec()], full={"mnist": 55000})
    table = build_grid(ctx, TABLES["abadi_t4"])
    assert table.data.loc[table.data["size"] == 55000, "paper"].isna().all()
    assert table.data.loc[table.data["size"] == 500, "paper"].notna().all()
    text = table_markdown(table)
    assert "| 55000 | ours" in text and "60000" not in text.split("\n\n")[0]
    assert any("full-set numbers (60,000 real mnist images)" in n and "55,000" in n for n in table.notes)
    # All of the training split (eval.validation = 0): the paper's full set, same size, joins.
    whole = _context(_full_trials(60000), [_spec(eval_={"validation": 0})], full={"mnist": 60000})
    table = build_grid(whole, TABLES["abadi_t4"])
    assert table.data.loc[table.data["size"] == 60000, "paper"].notna().all()
    assert not any("full-set" in n for n in table.notes)


# ---------------------------------------------------------------- the papers'-protocol twin
def test_the_twin_is_built_only_under_the_papers_schedule():
    trials = make_study.make_trials(sizes=(500,))
    epochs = {t.name for t in build_tables(_context(trials, [_spec()]))}
    assert "abadi_t4_papers_protocol" in epochs
    early = _context(trials, [_spec(classifier={"schedule": "early-stop"})])
    names = {t.name: t for t in build_tables(early)}
    assert "abadi_t4" in names and not any(n.endswith("_papers_protocol") for n in names)
    assert not any("papers_protocol" in n for n in names["abadi_t4"].notes)


def test_a_mixed_schedule_study_builds_its_twin_over_the_epochs_trials_only():
    trials = make_study.make_trials(sizes=(500,))
    both = pd.concat([trials.assign(classifier_schedule="epochs"),
                      trials.assign(classifier_schedule="early-stop", trial=trials["trial"] + "e")],
                     ignore_index=True)
    tables = {t.name: t for t in build_tables(_context(both, [_spec(classifier={"schedule": ["epochs", "early-stop"]})]))}
    main, twin = tables["abadi_t4"], tables["abadi_t4_papers_protocol"]
    assert set(main.data["classifier_schedule"]) == {"epochs", "early-stop"}
    assert main.data.loc[main.data["classifier_schedule"] == "early-stop", "paper"].isna().all()
    assert main.data.loc[main.data["classifier_schedule"] == "epochs", "paper"].notna().all()
    assert "classifier_schedule" not in twin.data or set(twin.data["classifier_schedule"]) == {"epochs"}


def test_test_acc_max_is_not_called_the_papers_protocol_under_early_stopping():
    trials = make_study.make_trials(sizes=(500,))
    early = [_spec(classifier={"schedule": "early-stop"})]
    table = build_grid(_context(trials, early, metric="test_acc_max"), TABLES["abadi_t4"])
    assert "not the papers' protocol" in table.notes[0]
    assert "not the papers' protocol" in metric_label("test_acc_max", papers_schedule=False)
    gap = protocol_gap_table(tidy_trials(trials), tuple(early))
    assert "not the papers' protocol" in gap.title and "(papers)" not in " ".join(gap.display.columns)
    assert "papers' protocol overstates" in protocol_gap_table(tidy_trials(trials), (_spec(),)).title


# ---------------------------------------------------------------- one dataset table
def test_the_one_table_of_dataset_sizes_is_consistent():
    """trainables.terms.dataset_sizes is read by the registry (which builds its entries from it) and by the
    analysis alike; a class-balanced subset of the smallest class's count per class fits the split."""
    for name, sizes in DATASET_SIZES.items():
        if sizes.train_images is not None:
            assert sizes.smallest_train_class * sizes.num_classes <= sizes.train_images, name
    assert num_classes("kdef") == 7 and train_images("kdef") is None      # published numbers only, no loader
    assert num_classes("folder:/x") == 10 and train_images("folder:/x") is None


def test_dataclass_context_defaults_keep_old_callers_working():
    ctx = _context(make_study.make_trials(sizes=(500,)))
    assert dataclasses.replace(ctx, specs=()).papers_schedule       # no spec: the only schedule there was
