"""`study confirm DIR`: the chosen arm and R against R = 0 with fresh seeds, subsets and GANs.

Fast tests: the pure construction (a best-ratio row + the explored spec -> the confirm spec), the checks
on the explored folder (exit 2, one line, nothing written). The slow one runs a tiny study and confirms it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from study import cli, confirm, plan
from study.spec import loads_spec

_fixture = importlib.util.spec_from_file_location(
    "make_study", Path(__file__).parent / "fixtures" / "analysis" / "make_study.py")
make_study = importlib.util.module_from_spec(_fixture)
_fixture.loader.exec_module(make_study)

EXPLORED = """name = "explored"
dataset = "mnist"
sizes = [500, 1000]
seeds = 2
[gan]
alpha = [1, 2]
[classifier]
name = ["mlp", "cnn2"]
[classifier.cnn2]
epochs = 7
[mix]
ratios = [0, 0.5, 1, 2]
augment = ["none", "classic"]
"""

ROW = {"size": 500, "classifier": "mlp", "augment": "classic", "best_ratio": 1.0, "alpha": 2.0, "family_size": 12,
       "gain": 0.021, "p_holm": 0.04, "verdict": "helps", "n": 2, "mean": 0.9}


def spec_of(text: str, *overrides: str):
    return loads_spec(text, list(overrides), check_registries=False)


# ---------------------------------------------------------------- the pure construction


def test_a_best_ratio_row_becomes_a_grid_of_r0_and_the_chosen_r_over_fresh_independent_seeds():
    explored = spec_of(EXPLORED)
    made = confirm.confirm_spec(explored, ROW, first_seed=2, seeds=3, name="explored-confirm")
    spec = made.spec
    assert spec.sizes == (500,) and spec.mix.ratios == (0.0, 1.0) and spec.mix.real is True
    assert spec.classifier.name == ("mlp",) and spec.classifier.by_name == {}   # cnn2's table is not for this arm
    assert spec.gan.alpha == (2.0,) and spec.mix.augment == "classic"
    assert (spec.seeds, spec.first_seed, spec.gan.repeats) == (3, 2, "per-seed")
    assert spec.search.mode == "grid" and spec.name == "explored-confirm"
    # Every seed its own real subset and GAN, none of them an explored one (seeds 0 and 1)
    assert [plan.subset_seed(spec, s) for s in plan.seeds(spec)] == [2, 3, 4]
    assert len(plan.grid_points(spec)) == 2 * 3
    assert made.group == {"size": 500, "classifier": "mlp", "augment": "classic"} and made.arm == {"alpha": 2.0}
    assert made.ratio == 1.0
    assert made.explored == {"candidates": 12, "gain": 0.021, "p_holm": 0.04, "verdict": "helps"}
    record = made.record("studies/explored")
    assert json.loads(json.dumps(record)) == record and record["confirms"] == "studies/explored"


def test_the_chosen_classifier_keeps_its_own_table():
    made = confirm.confirm_spec(spec_of(EXPLORED), {**ROW, "classifier": "cnn2", "classifier_epochs": 7.0},
                                first_seed=2, seeds=3, name="c")
    assert made.spec.classifier.name == ("cnn2",) and made.spec.classifier.by_name == {"cnn2": {"epochs": 7}}
    assert {p["classifier_epochs"] for p in plan.grid_points(made.spec)} == {7}


def test_values_read_back_from_csv_take_the_specs_own_types_and_full_stays_full():
    explored = spec_of('sizes = [500, "full"]\n[gan]\nepochs = [5, 10]\n[mix]\nratios = [0, 1]')
    made = confirm.confirm_spec(explored, {"size": 4000, "best_ratio": 1.0, "gan_epochs": 10.0},
                                first_seed=2, seeds=3, name="c")
    assert made.spec.sizes == ("full",) and made.spec.gan.epochs == 10 and isinstance(made.spec.gan.epochs, int)


def test_groups_get_a_suffix_each_and_the_seeds_start_past_the_explored_ones():
    explored = spec_of(EXPLORED)
    rows = [ROW, {**ROW, "size": 1000}]
    made = confirm.confirmations(explored, rows, last_seed=5)
    assert [m.spec.name for m in made] == ["explored-confirm-n500", "explored-confirm-n1000"]
    assert {(m.spec.first_seed, m.spec.seeds) for m in made} == {(6, 3)}     # at least 3 seeds
    both = confirm.confirmations(explored, [ROW, {**ROW, "classifier": "cnn2"}], last_seed=1, seeds=4, name="mine")
    assert [m.spec.name for m in both] == ["mine-mlp", "mine-cnn2"] and both[0].spec.seeds == 4
    (one,) = confirm.confirmations(spec_of(EXPLORED, "seeds=8"), [ROW], last_seed=7)
    assert one.spec.name == "explored-confirm" and one.spec.seeds == 8       # the explored seeds when more


def test_an_optuna_studys_best_sampled_configuration_becomes_a_fixed_arm():
    explored = spec_of("[search]\nmode = 'optuna'\nratio_range = [0.1, 3]\nstorage = 'sqlite:///o.db'\n"
                       "[gan]\nalpha = [1, 2, 4]\n[mix]\nratios = [0, 1]")
    (made,) = confirm.confirmations(explored, [{"size": 1000, "best_ratio": 0.7342, "alpha": 4.0}], last_seed=0)
    spec = made.spec
    assert spec.search.mode == "grid" and spec.search.ratio_range is None and spec.search.storage == ""
    assert spec.mix.ratios == (0.0, 0.7342) and spec.gan.alpha == (4.0,) and spec.sizes == (1000,)
    assert spec.first_seed == 1


def test_only_a_chosen_r_above_zero_with_real_images_is_confirmed():
    best = pd.DataFrame([{**ROW, "real": True}, {**ROW, "real": False}, {**ROW, "size": 1000, "real": True}])
    assert [r["size"] for r in confirm.confirmable_rows(best)] == [500, 1000]
    assert [r["size"] for r in confirm.confirmable_rows(best, "1000")] == [1000]


# ---------------------------------------------------------------- the explored folder

FIXTURE_SPEC = """name = "fixture"
dataset = "mnist"
sizes = [500, 1000]
seeds = 3
[gan]
alpha = [1, 2]
[mix]
ratios = [0, 0.5, 1, 2, 4]
"""


def _explored(root: Path, **trials) -> Path:
    frame = make_study.make_trials(alphas=(1.0, 2.0), **trials)
    return make_study.write_study_dir(root / "fixture", frame, with_gans=False, spec=FIXTURE_SPEC)


def _files(root: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


def test_prepare_reads_the_best_pick_per_size_and_writes_nothing(tmp_path):
    from study.folder import StudyFolder

    folder_path = _explored(tmp_path)
    before = _files(tmp_path)
    prepared = confirm.prepare(StudyFolder.for_spec(str(tmp_path), "fixture"), str(folder_path), str(tmp_path))
    assert _files(tmp_path) == before
    names = [c.spec.name for c in prepared.confirmations]
    assert names == ["fixture-confirm-n500", "fixture-confirm-n1000"]
    for made in prepared.confirmations:
        assert made.spec.first_seed == 3 and made.spec.seeds == 3 and made.ratio == 1.0   # the fixture's best R
        assert made.spec.gan.alpha in ((1.0,), (2.0,)) and made.arm == {"alpha": made.spec.gan.alpha[0]}
        assert made.explored["candidates"] is not None and made.explored["gain"] > 0
    only = confirm.prepare(StudyFolder.for_spec(str(tmp_path), "fixture"), str(folder_path), str(tmp_path),
                           size="1000", seeds=5)
    assert [(c.spec.name, c.spec.seeds) for c in only.confirmations] == [("fixture-confirm", 5)]


def test_an_optuna_study_folder_is_confirmed_at_its_best_sampled_ratio(tmp_path):
    from study.folder import StudyFolder

    optuna = FIXTURE_SPEC.replace('ratios = [0, 0.5, 1, 2, 4]', 'ratios = [0, 1]') + (
        "[search]\nmode = 'optuna'\ntrials = 12\nratio_range = [0.1, 4]\n")
    frame = make_study.make_trials(sizes=(500,), alphas=(1.0, 2.0), ratios=(0.0, 0.37, 1.42), seeds=1,
                                   effect={0.0: 0.0, 0.37: 0.01, 1.42: 0.03})
    make_study.write_study_dir(tmp_path / "fixture", frame, with_gans=False, spec=optuna)
    (made,) = confirm.prepare(StudyFolder.for_spec(str(tmp_path), "fixture"), "fixture", str(tmp_path)).confirmations
    assert made.spec.mix.ratios == (0.0, 1.42) and made.spec.search.mode == "grid"
    assert made.spec.first_seed == 1 and made.spec.seeds == 3 and made.spec.sizes == (500,)
    assert made.spec.gan.alpha == (made.arm["alpha"],)


def _refused(args: list[str], capsys, root: Path) -> str:
    before = _files(root)
    assert cli.main(["confirm", *args]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "; allowed: " in err
    assert _files(root) == before     # refused before anything was written
    return err


def test_a_folder_that_is_not_a_study_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    err = _refused([str(tmp_path / "empty")], capsys, tmp_path)
    assert err == (f"error: {tmp_path / 'empty'}: no spec.toml here; allowed: a study folder written by `study run`")


def test_a_study_that_has_not_run_is_refused(tmp_path, capsys):
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "spec.toml").write_text(FIXTURE_SPEC)
    err = _refused([str(tmp_path / "new")], capsys, tmp_path)
    assert err == (f"error: {tmp_path / 'new'}: no results yet (no results.csv and no trials); allowed: a study folder "
                   "that has run (`study run`, or `study resume` to finish it)")


def test_a_study_without_a_finished_r_above_zero_is_refused(tmp_path, capsys):
    folder = _explored(tmp_path, ratios=(0.0,))
    err = _refused([str(folder)], capsys, tmp_path)
    assert err == (f"error: {folder}: no chosen R > 0 to confirm (no finished trial with R > 0 and real images); "
                   "allowed: a study with finished R > 0 trials (finish it with `study resume`)")


def test_bad_options_are_refused_naming_them(tmp_path, capsys):
    folder = _explored(tmp_path)
    assert _refused([str(folder), "--size", "300"], capsys, tmp_path) == (
        f"error: --size: 300 is not a size with a chosen R > 0 in {folder}; allowed: 500 | 1000")
    assert _refused([str(folder), "--seeds", "0"], capsys, tmp_path) == (
        "error: --seeds: 0 is too small; allowed: an integer >= 1")
    assert _refused([str(folder), "--name", "../x"], capsys, tmp_path).startswith("error: --name: \"../x\" is not valid")


HOLD_AND_SLEEP = """
import sys, time
from study.folder import StudyFolder
with StudyFolder.for_spec(sys.argv[1], "fixture").running():
    print("holding", flush=True)
    time.sleep(600)
"""


def test_a_running_study_is_refused_naming_its_driver(tmp_path, capsys):
    folder = _explored(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_AND_SLEEP, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        assert holder.stdout.readline().strip() == "holding"
        err = _refused([str(folder)], capsys, tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    assert err.startswith(f"error: {folder}: this study is running (host ") and f"pid {holder.pid}" in err
    assert err.endswith(f"allowed: wait for it to finish (or stop it), then `study confirm {folder}`")


# ---------------------------------------------------------------- end to end

TINY = ["--set", "sizes=[100]", "--set", "seeds=1", "--set", "gan.epochs=2", "--set", "gan.checkpoint_every=1",
        "--set", "classifier.epochs=2", "--set", "mix.ratios=[0, 1]"]


@pytest.mark.slow
def test_confirm_runs_only_the_chosen_arm_and_r0_over_fresh_seeds(ray_local, study_caches, tmp_path, capsys):
    study_caches.seed_study(tmp_path, TINY)   # the explored study, finished; the confirmation trains fresh GANs
    explored = pd.read_csv(tmp_path / "quick" / "results.csv")
    assert cli.main(["confirm", str(tmp_path / "quick"), "--seeds", "2"]) == 0
    root = tmp_path / "quick-confirm"
    results = pd.read_csv(root / "results.csv")
    assert len(results) == 2 * 2 and set(results["status"]) == {"ok"}
    assert sorted(results["ratio"]) == [0, 0, 1, 1]
    assert set(results["seed"]) == {1, 2} and set(results["subset_seed"]) == {1, 2}       # fresh: the explored used 0
    assert not set(results["gan_key"].dropna()) & set(explored["gan_key"].dropna())      # fresh GANs too
    record = json.loads((root / "confirm.json").read_text())
    assert record["confirms"] == str(tmp_path / "quick") and record["ratio"] == 1.0
    assert record["group"]["size"] == 100 and set(record["explored"]) >= {"candidates", "gain", "p_holm"}
    spec = loads_spec((root / "spec.toml").read_text(), check_registries=False)
    assert spec.mix.ratios == (0.0, 1.0) and spec.first_seed == 1 and spec.gan.repeats == "per-seed"
    assert "[study] confirming size 100" in capsys.readouterr().out
    # The report says what it confirms (analysis reads confirm.json)
    assert f"Confirmation of `{tmp_path / 'quick'}`" in (root / "report" / "report.md").read_text()
