"""One report over several study folders of one dataset (build_report([...], out_dir))."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from analysis import StudyDirError, build_merged_report, build_report, load_studies

_spec = importlib.util.spec_from_file_location(
    "make_study", Path(__file__).parent / "fixtures" / "analysis" / "make_study.py")
make_study = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_study)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _real_and_synthetic(tmp_path: Path) -> tuple[Path, Path]:
    """Abadi's MNIST pair: real + synthetic (Table 4) and synthetic only (Tables 2 and 3)."""
    real = make_study.write_study_dir(tmp_path / "abadi-mnist", make_study.make_trials(sizes=(500, 1000)))
    fake = make_study.make_trials(sizes=(500, 1000), ratios=(1.0, 2.0, 4.0), reals=(False,))
    synthetic = make_study.write_study_dir(tmp_path / "abadi-mnist-synthetic", fake, with_gans=False)
    return real, synthetic


def test_merged_report_of_two_folders_builds_the_tables_neither_makes_alone(tmp_path):
    real, synthetic = _real_and_synthetic(tmp_path)
    out = tmp_path / "merged"
    report = build_report([real, synthetic], out)
    assert report == out / "report.md"
    tables = {p.stem for p in (out / "tables").glob("*.csv")}
    assert {"abadi_t2", "abadi_t3", "abadi_t4"} <= tables          # T2 needs real R = 0 and synthetic-only
    t2 = pd.read_csv(out / "tables" / "abadi_t2.csv")
    assert set(t2["column"]) == {"Real (R = 0)", "Fake (synthetic only, R = 1)"} and t2["n"].min() == 3
    text = report.read_text()
    assert text.startswith("# abadi-mnist + abadi-mnist-synthetic: ")
    assert "Merged from 2 study folders" in text and "spec.toml of abadi-mnist-synthetic" in text
    assert not (real / "report").exists() and not (synthetic / "report").exists()   # the folders are untouched
    first = _digest(out)
    assert build_merged_report([real, synthetic], out) == report and _digest(out) == first   # idempotent


def test_trials_of_two_folders_never_collide(tmp_path):
    real, synthetic = _real_and_synthetic(tmp_path)
    assert set(pd.read_csv(real / "results.csv")["trial"]) & set(pd.read_csv(synthetic / "results.csv")["trial"])
    study = load_studies([real, synthetic])
    assert study.trials["trial"].is_unique and len(study.trials) == 30 + 18
    assert study.trials["trial"].str.startswith(("abadi-mnist/", "abadi-mnist-synthetic/")).all()
    assert set(study.trials["study"]) == {"abadi-mnist", "abadi-mnist-synthetic"}
    assert set(study.curves["trial"]) <= set(study.trials["trial"]) and study.curves["ratio"].notna().all()
    assert "study" not in study.trials.columns.intersection(["dataset"])   # the folder label is no axis


def test_same_named_folders_are_told_apart_by_their_parent(tmp_path):
    a = make_study.write_study_dir(tmp_path / "laptop" / "quick", make_study.make_trials(sizes=(500,)))
    b = make_study.write_study_dir(tmp_path / "cluster" / "quick", make_study.make_trials(sizes=(1000,)))
    study = load_studies([a, b])
    assert set(study.trials["study"]) == {"laptop/quick", "cluster/quick"} and study.trials["trial"].is_unique


def test_settings_that_differ_between_folders_become_axes(tmp_path):
    short = make_study.write_study_dir(tmp_path / "short", make_study.make_trials(sizes=(500,)), with_gans=False)
    long_spec = make_study.spec_toml("long").replace("epochs = 5", "epochs = 50").replace(
        'schedule = "epochs"', 'schedule = "steps"')
    long = make_study.write_study_dir(tmp_path / "long", make_study.make_trials(sizes=(500,)), with_gans=False,
                                      spec=long_spec)
    trials = load_studies([short, long]).trials
    r0 = trials["ratio"] == 0
    assert set(trials.loc[~r0, "gan_epochs"]) == {5, 50}
    assert set(trials["classifier_schedule"]) == {"epochs", "steps"}
    text = build_report([short, long], tmp_path / "out").read_text()
    assert "`epochs`: a fixed number of epochs" in text and "`steps`: the same number" in text
    best = pd.read_csv(tmp_path / "out" / "tables" / "best_ratio.csv")
    assert set(best["classifier_schedule"]) == {"epochs", "steps"}     # one best R per schedule


def test_refuses_folders_of_different_datasets(tmp_path):
    mnist = make_study.write_study_dir(tmp_path / "mnist", make_study.make_trials(sizes=(500,)), with_gans=False)
    cifar = make_study.write_study_dir(tmp_path / "cifar", make_study.make_trials(sizes=(500,), dataset="cifar10"),
                                       with_gans=False)
    with pytest.raises(StudyDirError, match="different datasets.*mnist.*cifar10"):
        build_report([mnist, cifar], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_refuses_a_merge_without_an_output_folder_or_with_a_folder_twice(tmp_path):
    a, b = _real_and_synthetic(tmp_path)
    with pytest.raises(StudyDirError, match="output folder"):
        build_report([a, b])
    with pytest.raises(StudyDirError, match="given twice"):
        build_report([a, a], tmp_path / "out")
    with pytest.raises(StudyDirError, match="nope: does not exist"):
        build_report([a, tmp_path / "nope"], tmp_path / "out")


def test_single_folder_report_can_go_elsewhere_and_keeps_its_default(tmp_path):
    root = make_study.write_study_dir(tmp_path / "study")
    assert build_report(root) == root / "report" / "report.md"
    assert build_report([root], tmp_path / "elsewhere") == tmp_path / "elsewhere" / "report.md"
    assert (root / "report" / "report.md").read_text() == (tmp_path / "elsewhere" / "report.md").read_text()
