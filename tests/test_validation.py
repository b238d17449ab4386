"""Validation carved out of each real subset (eval.validation_from = "subset"): class-balanced, seeded,
disjoint from the training part, never shown to the GAN; "split" keys unchanged; bad input refused."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from study import cli, plan
from study import spec as S
from study.checks import SpecError
from study.spec_text import spec_to_toml
from trainables.data import sampling
from trainables.data.errors import DataError
from trainables.data.images import ImageSet
from trainables.data.validation import carve, real_sets
from trainables.terms.validation import DEFAULT_FRACTION, ValidationRule

SUBSET = ValidationRule("subset", "auto", 0.2)


def numbered(per_class: int = 60, classes: int = 10) -> ImageSet:
    """A labelled set whose every image carries its own index (pixels 0-1), so parts can be compared."""
    labels = torch.arange(classes).repeat(per_class)
    index = torch.arange(len(labels))
    images = torch.stack([index // 256, index % 256], 1).to(torch.uint8).reshape(-1, 1, 1, 2)
    return ImageSet(images, labels, tuple(str(c) for c in range(classes)))


def ids(images: ImageSet) -> set[int]:
    flat = images.images.reshape(len(images), -1).long()
    return set((flat[:, 0] * 256 + flat[:, 1]).tolist())


def test_the_subset_is_carved_class_balanced_disjoint_and_whole():
    train = numbered()
    real, validation = real_sets(train, None, 500, 3, SUBSET)
    assert len(real) == 400 and len(validation) == 100
    assert validation.class_counts().tolist() == [10] * 10 and real.class_counts().tolist() == [40] * 10
    subset = sampling.subset(train, 500, 3)
    assert not ids(real) & ids(validation)
    assert ids(real) | ids(validation) == ids(subset)       # the budget n, nothing from outside it


def test_the_carve_is_seeded_by_the_subset_seed():
    train = numbered()
    first = real_sets(train, None, 500, 3, SUBSET)[1]
    again = real_sets(train, None, 500, 3, SUBSET)[1]
    other = real_sets(train, None, 500, 4, SUBSET)[1]
    assert ids(first) == ids(again) and ids(first) != ids(other)


def test_split_mode_returns_the_shared_hold_out_unchanged():
    train = numbered()
    left, held = sampling.split_validation(train, 50)
    real, validation = real_sets(left, held, 200, 1, ValidationRule("split", 50))
    assert validation is held and ids(real) == ids(sampling.subset(left, 200, 1))


def test_the_count_rule_has_one_home():
    assert ValidationRule().held_out(4000) == 400
    assert ValidationRule().held_out(60000) == 5000 and ValidationRule(count=123).held_out(4000) == 123
    assert ValidationRule("subset").held_out(4000) == 0      # nothing held out of the split
    assert SUBSET.carved([50] * 10) == 100 and ValidationRule().carved([50] * 10) == 0


def test_a_class_without_a_validation_or_training_image_is_a_data_error():
    tiny = sampling.subset(numbered(), 30, 0)             # 3 per class
    with pytest.raises(DataError, match="no validation image"):
        carve(tiny, 0.1, 0)
    with pytest.raises(DataError, match="no training image"):
        carve(sampling.subset(numbered(), 10, 0), 0.5, 0)


def test_synthetic_count_follows_the_training_part():
    from trainables.runners.classifier_trial import build_training_set

    real, _validation = real_sets(numbered(), None, 500, 0, SUBSET)
    pool = numbered(per_class=200)
    assert len(build_training_set(real, pool, 2.0, True)) == 400 + 800    # R x (n - v), not R x n


# ---------------------------------------------------------------- GAN keys and what the GAN sees

JOB = dict(dataset="mnist-5k", data_root="~", size=500, seed=1, arch="abadi", conditioning="conditional",
           alpha=1.0, epochs=25, batch_size=32, lr=2e-4, beta1=0.5, pool_per_class=100, validation=400,
           recipe="modern")


def test_split_keys_are_unchanged_and_subset_keys_name_the_rule():
    from trainables.gan.job import GanJob

    assert GanJob(**JOB).key() == "af5501e49cc3"          # the key this job had before validation_from existed
    assert GanJob(**JOB, validation_from="split", validation_fraction=0.3).key() == "af5501e49cc3"
    subset = GanJob(**{**JOB, "validation": 0}, validation_from="subset", validation_fraction=0.2)
    assert subset.key_fields()["validation_fraction"] == 0.2 and subset.key() != GanJob(**JOB).key()
    assert dataclasses.replace(subset, validation_fraction=0.3).key() != subset.key()


def test_the_plan_gives_subset_studies_their_own_gan_keys():
    split = S.loads_spec("sizes = [100]\nseeds = 1\n[mix]\nratios = [1]", check_registries=False)
    subset = S.loads_spec("sizes = [100]\nseeds = 1\n[mix]\nratios = [1]\n[eval]\nvalidation_from = \"subset\"",
                          check_registries=False)
    (point,) = plan.grid_points(split)
    split_job, subset_job = plan.gan_job(split, point, 400), plan.gan_job(subset, point, 0)
    assert "validation_from" not in split_job.key_fields()
    assert subset_job.validation_rule() == ValidationRule("subset", "auto", DEFAULT_FRACTION)
    assert split_job.key() != subset_job.key()


def test_the_gan_trains_on_the_training_part_only(monkeypatch):
    """gan_train.train_key draws its real images through real_sets with the key's rule; its pool's gate
    is measured on the validation part. Stopped right after the draw (the rest needs Ray Train)."""
    from trainables.gan.job import GanJob, KeyRun
    from trainables.runners import gan_train

    job = GanJob(**{**JOB, "size": 500, "validation": 0}, validation_from="subset", validation_fraction=0.2)
    run = KeyRun.of(job, "/tmp/unused-cache", "loop", {})
    seen = {}

    class Drawn(Exception):
        pass

    def spy(*args):
        seen["parts"] = real_sets(*args)
        raise Drawn

    monkeypatch.setattr(gan_train, "real_sets", spy)
    worker = gan_train.Worker(rank=0, world=1, device=torch.device("cpu"), train=numbered(), test=numbered(1),
                              faults=None, scoring_cache=None, validation=None)
    with pytest.raises(Drawn):
        gan_train.train_key(run, worker)
    real, validation = seen["parts"]
    assert len(real) == 400 and len(validation) == 100 and not ids(real) & ids(validation)


def test_the_filter_classifier_never_sees_the_validation_part(monkeypatch):
    from trainables.gan import pool as gan_pool
    from trainables.gan.job import GanJob
    from trainables.runners import gan_keys

    job = GanJob(**{**JOB, "size": 500, "validation": 0}, validation_from="subset", validation_fraction=0.2)
    seen = {}
    monkeypatch.setattr(gan_pool, "ensure_filtered", lambda job, store, meta, real, t: seen.setdefault("real", real))
    train = numbered()
    gan_keys._filter_pool(job, "/tmp/unused-cache", (train, numbered(1), sampling.split_validation(train, 0)[1]), {}, 0.9)
    held = real_sets(train, None, 500, 1, job.validation_rule())[1]
    assert len(seen["real"]) == 400 and not ids(seen["real"]) & ids(held)


# ---------------------------------------------------------------- bad input

def _error(*overrides: str, registries: bool = True) -> SpecError:
    with pytest.raises(SpecError) as info:
        S.loads_spec("", list(overrides), check_registries=registries)
    return info.value


@pytest.mark.parametrize("overrides, key, words", [
    (["eval.validation_from=subset", "eval.validation_fraction=0"], "eval.validation_fraction", "> 0 and <= 0.5"),
    (["eval.validation_from=subset", "eval.validation_fraction=0.6"], "eval.validation_fraction", "> 0 and <= 0.5"),
    (["eval.validation_fraction='a fifth'"], "eval.validation_fraction", "not a number"),
    (["eval.validation_from=subsets"], "eval.validation_from", "split | subset"),
    (["eval.validation_from=subset", "eval.validation=500"], "eval.validation", "contradicts"),
    (["eval.validation_from=subset", "eval.validation=0"], "eval.validation", "contradicts"),
    (["eval.validation_from=subset", "eval.validation_fraction=0.04", "sizes=[100]"], "eval.validation_fraction",
     "gives no validation image per class"),
    (["eval.validation_from=subset", "sizes=[10, 500]"], "sizes", "cannot be split"),
])
def test_bad_validation_input_is_one_line_naming_the_key(overrides, key, words):
    error = _error(*overrides)
    assert error.key == key and words in str(error) and "\n" not in str(error)


def test_bad_validation_input_exits_2_before_anything_is_written(tmp_path, capsys):
    args = ["run", "quick", "--storage", str(tmp_path), "--set", "eval.validation_from=subset",
            "--set", "eval.validation_fraction=0.7"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: eval.validation_fraction")
    assert not list(tmp_path.iterdir())


def test_subset_validation_allows_early_stopping_without_a_split_and_round_trips():
    spec = S.loads_spec("[eval]\nvalidation_from = \"subset\"\nvalidation_fraction = 0.3", check_registries=True)
    assert S.validation_rule(spec) == ValidationRule("subset", "auto", 0.3)
    assert S.loads_spec(spec_to_toml(spec), check_registries=False) == spec


def test_an_extension_may_not_change_where_validation_comes_from():
    from study.extend import FROZEN_KEYS

    assert {"eval.validation_from", "eval.validation_fraction"} <= set(FROZEN_KEYS)


# ---------------------------------------------------------------- the report

def test_the_report_states_the_validation_size_next_to_n(tmp_path):
    import pandas as pd

    from analysis.load import Study
    from analysis.sections import validation_lines

    trials = pd.DataFrame({"size": [200, 200, 500], "validation_images": [40, 40, 100]})
    subset = Study(root=tmp_path, trials=trials, curves=pd.DataFrame(),
                   spec={"eval": {"validation_from": "subset", "validation_fraction": 0.2}})
    (line,) = validation_lines(subset)
    assert "n = 200: 160 train + 40 validation; n = 500: 400 train + 100 validation" in line
    split = dataclasses.replace(subset, trials=trials.assign(validation_images=400), spec={"eval": {}})
    (line,) = validation_lines(split)
    assert "400 images held out of the training split" in line and "2.0x the smallest n (200)" in line
    assert validation_lines(dataclasses.replace(subset, trials=pd.DataFrame({"size": [500]}), spec={})) == []


def test_results_csv_has_the_validation_count_as_a_non_axis_column():
    from trainables.files.results_columns import METRIC_COLUMNS, NON_AXIS, axis_columns

    assert "validation_images" in METRIC_COLUMNS and "validation_images" in NON_AXIS
    assert "validation_images" not in axis_columns(["size", "ratio", "validation_images"])
    json.dumps(dataclasses.asdict(SUBSET))       # the rule travels in a Tune context and a GAN key config


# ---------------------------------------------------------------- end to end

@pytest.mark.slow
def test_a_tiny_study_validates_on_a_part_of_each_subset(ray_local, tmp_path):
    import pandas as pd

    tiny = ["--set", "sizes=[100]", "--set", "seeds=1", "--set", "gan.epochs=2", "--set", "gan.checkpoint_every=1",
            "--set", "classifier.epochs=2", "--set", "mix.ratios=[0, 1]", "--set", "eval.validation_from=subset"]
    assert cli.main(["run", "quick", *tiny, "--storage", str(tmp_path)]) == 0
    root = tmp_path / "quick"
    results = pd.read_csv(root / "results.csv").sort_values("ratio")
    assert set(results["status"]) == {"ok"}
    assert results["validation_images"].tolist() == [30, 30]            # 30% (the default) of each class of n = 100
    assert results["train_images"].tolist() == [70, 140]                # the training part, plus R x 70
    (key,) = {k for k in results["gan_key"] if isinstance(k, str) and k}
    meta = json.loads((tmp_path / "gan-cache" / key / "meta.json").read_text())
    assert meta["key_fields"]["validation_from"] == "subset" and meta["key_fields"]["validation"] == 0
    assert meta["gate_held_out_images"] == 30 and meta["gate_images"] == 70     # the gate: the subset's own parts
    report = (root / "report" / "report.md").read_text()
    assert "n = 100: 70 train + 30 validation" in report
    assert "100 (70 train + 30 validation)" in (root / "report" / "tables" / "best_ratio.md").read_text()


def test_a_full_subset_reads_as_the_labelled_budget_under_subset_validation():
    import pandas as pd

    from analysis.load import full_sizes

    trials = pd.DataFrame({"dataset": ["mnist-5k"] * 2, "size": ["full"] * 2, "ratio": [0.0, 1.0],
                           "real": [True, True], "train_images": [3200, 6400], "validation_images": [800, 800]})
    subset = {"eval": {"validation_from": "subset", "validation_fraction": 0.2}}
    assert full_sizes(trials, subset) == {"mnist-5k": 4000}          # 3,200 train + 800 validation
    assert full_sizes(trials, {"eval": {}}) == {"mnist-5k": 3200}    # split: the training images
    assert full_sizes(trials.iloc[:0], subset) == {}
    no_counts = trials.drop(columns=["train_images", "validation_images"])
    assert full_sizes(no_counts, subset) == {"mnist-5k": 4000}       # by the rule: nothing held out of the split


def test_the_best_r_table_names_the_validation_part_of_each_size(tmp_path):
    import pandas as pd

    from analysis.best_view import best_display
    from analysis.load import Study
    from analysis.sections import carved_validation

    trials = pd.DataFrame({"size": [200, 500], "validation_images": [60, 150]})
    subset = Study(root=tmp_path, trials=trials, curves=pd.DataFrame(), spec={"eval": {"validation_from": "subset"}})
    assert carved_validation(subset) == {200: 60, 500: 150}
    assert carved_validation(dataclasses.replace(subset, spec={"eval": {}})) == {}      # split: n is all training
    best = pd.DataFrame({"size": [500], "best_ratio": [1.0], "n": [3], "mean": [0.9], "chosen_on": ["val"],
                         "chosen_on_test": [False], "select_mean": [0.9], "baseline": [0.88], "family_size": [2],
                         "gain": [0.02], "adj_lo": [0.0], "adj_hi": [0.04], "local_lo": [0.0], "local_hi": [0.04],
                         "verdict": ["helps"], "gain_lo": [0.01], "gain_hi": [0.03], "p_value": [0.01],
                         "p_holm": [0.02], "weak_gan": [False]})
    shown = best_display(best, carved_validation(subset))
    assert shown["size (labelled n)"].tolist() == ["500 (350 train + 150 validation)"]
    assert best_display(best)["size (real images)"].tolist() == [500]
