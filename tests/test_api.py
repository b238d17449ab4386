"""The Python API (study.api): specs from presets or dicts with overrides, refusals
with the CLI's one-line messages, a finished study folder read back as pandas objects; one slow test
runs a tiny study through it."""

from __future__ import annotations

import pytest

from study import api
from tests.fixtures.analysis.make_study import write_study_dir


def test_a_bad_override_is_the_clis_one_line_refusal():
    with pytest.raises(api.SpecError, match=r"^image_size: 16 is below 28 pixels") as caught:
        api.spec("quick", {"image_size": 16})
    assert "\n" not in str(caught.value)
    with pytest.raises(api.SpecError, match=r"^gan.epoch: unknown key"):
        api.spec("quick", {"gan.epoch": 3})
    with pytest.raises(api.SpecError, match="no such study file or preset"):
        api.spec("quik")


def test_a_missing_folder_is_a_study_error(tmp_path):
    with pytest.raises(api.StudyError, match="no such study folder"):
        api.open(tmp_path / "nothing")
    with pytest.raises(api.StudyError, match="no spec.toml here"):
        api.resume(tmp_path)


def test_specs_from_a_preset_a_dict_and_keywords():
    spec = api.spec("quick", {"gan.epochs": 3, "sizes": [100]}, seeds=1, name="nb")
    assert (spec.gan.epochs, spec.sizes, spec.seeds, spec.name) == (3, (100,), 1, "nb")
    from_dict = api.spec({"dataset": "mnist-5k", "sizes": [200], "gan": {"alpha": [1, 2]}}, ["mix.ratios=[0, 1]"])
    assert from_dict.gan.alpha == (1.0, 2.0) and from_dict.mix.ratios == (0.0, 1.0)
    assert api.spec("quick", ["sampling=stratified"]).sampling == "stratified"


def test_a_finished_folder_reads_as_pandas(tmp_path):
    folder = write_study_dir(tmp_path / "studies" / "fixture")
    study = api.open(tmp_path / "studies" / "fixture")
    assert len(study.results) > 0 and {"size", "ratio", "test_acc_at_best_val"} <= set(study.results.columns)
    assert len(study.curves) > 0 and len(study.best) > 0
    assert "n = 500" in study.answer
    assert api.report(folder).report_path.endswith("report/report.md")


@pytest.mark.slow
def test_a_tiny_study_through_the_api(tmp_path, study_caches):
    overrides = {"sizes": [100], "seeds": 1, "gan.epochs": 1, "classifier.epochs": 2, "mix.ratios": [0, 1],
                 "classifier.schedule": "epochs"}
    spec = api.spec("quick", overrides, name="api-tiny")
    study_caches.seed_scoring(tmp_path / "studies", [])   # the dataset's scoring network (the default split's)
    study = api.run(spec, storage=str(tmp_path / "studies"))
    assert len(study.results) == 2 and set(study.results["status"]) == {"ok"}
    assert study.report_path is not None
