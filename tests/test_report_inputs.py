"""`study report` on bad input: a folder that is not a study is refused, alone or
beside real studies (exit 2, one line, nothing written, no rows merged in); a study's damaged files (a
truncated gans/<key>/meta.json, a binary results.csv or curves.csv) are set aside and rebuilt from what
the study still holds (the GAN cache, the trial records in trials/), and the report is built; a study
stopped before it wrote results.csv gets it from its trial records."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from study import cli
from study.results import NOT_RUN
from tests.fixtures.analysis import make_study


def _tree(root: Path) -> dict:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def study(tmp_path) -> Path:
    return make_study.write_study_dir(tmp_path / "real")


# ---------------------------------------------------------------- not a study: refused
@pytest.mark.parametrize("content", [
    {},                                                             # empty folder
    {"notes.txt": "mine", "data.csv": "a,b\n1,2\n"},               # a user's folder
    {"results.csv": "name,score\nx,1\n"},                          # a CSV called results.csv, not a study's
    {"results.csv": "dataset,size,ratio\nmnist,500,0\n"},          # a results.csv alone: `study run` wrote none
    {"report.md": "# old", ".study-report": "x"},                  # a report folder
], ids=["empty", "user files", "foreign results.csv", "results.csv alone", "a report folder"])
def test_a_folder_that_is_not_a_study_is_refused_alone_and_beside_a_study(tmp_path, study, capsys, content):
    other = tmp_path / "other"
    other.mkdir()
    for name, text in content.items():
        (other / name).write_text(text)
    before, real_before = _tree(other), _tree(study)
    for args in (["report", str(other)], ["report", str(study), str(other), "--out", str(tmp_path / "out")]):
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert err.startswith(f"error: {other}: not a study folder (no spec.toml or run.json); allowed: a folder "
                              "written by `study run`")
    assert _tree(other) == before and _tree(study) == real_before and not (tmp_path / "out").exists()


def test_a_damaged_results_csv_without_trial_records_is_refused_and_kept(study, capsys):
    (study / "results.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    before = _tree(study)
    assert cli.main(["report", str(study)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "results.csv: cannot be read as the study's results (" in err
    assert "the study holds no trial records to write it again from; allowed: restore results.csv from a copy" in err
    assert _tree(study) == before


# ---------------------------------------------------------------- damage: set aside and rebuilt
@pytest.mark.parametrize("damage", [b"\x89PNG\r\n\x1a\n\x00\x00binary", b"trial,size\n\xff\xfe\x00",
                                    b"just,some\nother,columns\n"], ids=["binary", "bad bytes", "foreign columns"])
def test_a_damaged_results_csv_is_set_aside_and_rebuilt_from_the_trial_records(study, capsys, damage):
    finished = make_study.write_trial_records(study, finished=2)
    (study / "results.csv").write_bytes(damage)
    (study / "curves.csv").write_bytes(b"\x00\x01")
    assert cli.main(["report", str(study)]) == 0
    out = capsys.readouterr().out
    assert "results.csv cannot be read" in out and "set aside as results.csv.damaged" in out
    assert "[study] results.csv and curves.csv written from the trial records: 2 of 30 trial(s) finished" in out
    assert (study / "results.csv.damaged").read_bytes() == damage
    assert (study / "curves.csv.damaged").read_bytes() == b"\x00\x01"
    rebuilt = pd.read_csv(study / "results.csv")
    assert len(rebuilt) == 30 and sorted(rebuilt.loc[rebuilt["status"] == "ok", "trial"]) == sorted(finished)
    assert set(rebuilt.loc[rebuilt["status"] == "error", "reason"]) == {NOT_RUN}
    assert (study / "curves.csv").read_text().count("\n") == 5            # header + 2 trials x 2 epochs
    assert (study / "report" / "report.md").is_file()


def test_a_study_stopped_before_results_csv_gets_it_from_its_records_and_the_same_report_twice(tmp_path, capsys):
    """A run stopped mid-stage writes no results.csv (it would look final); `study report` writes it and
    curves.csv from the trial records, once: the second report reads them back unchanged."""
    root = tmp_path / "stopped"
    root.mkdir()
    (root / "spec.toml").write_text(make_study.spec_toml("stopped"))
    make_study.write_trial_records(root, finished=12)
    assert cli.main(["report", str(root)]) == 0
    assert "written from the trial records: 12 of 30 trial(s) finished" in capsys.readouterr().out
    results, report = (root / "results.csv").read_bytes(), (root / "report" / "report.md").read_text()
    assert cli.main(["report", str(root)]) == 0
    assert "written from the trial records" not in capsys.readouterr().out
    assert (root / "results.csv").read_bytes() == results and (root / "report" / "report.md").read_text() == report


@pytest.mark.parametrize("damage", ['{"key": "k", "status": "o', "\x00\x00", "[1, 2]"],
                         ids=["truncated", "binary", "a list"])
def test_a_damaged_gan_meta_json_is_set_aside_and_copied_again_from_the_cache(study, tmp_path, capsys, damage):
    (meta_path, *_) = sorted((study / "gans").glob("*/meta.json"))
    original = json.loads(meta_path.read_text())
    cache = tmp_path / "gan-cache" / meta_path.parent.name
    cache.mkdir(parents=True)
    (cache / "meta.json").write_text(json.dumps(original))
    (study / "run.json").write_text(json.dumps({"gan_cache": "gan-cache", "spec": {}, "runs": []}))
    meta_path.write_text(damage)
    assert cli.main(["report", str(study)]) == 0
    out = capsys.readouterr().out
    assert "meta.json cannot be read" in out and "copied again from the GAN cache" in out
    assert json.loads(meta_path.read_text()) == original
    assert (meta_path.parent / "meta.json.damaged").read_text() == damage


def test_a_damaged_gan_meta_json_without_a_cached_copy_reads_as_unknown(study, capsys):
    (meta_path, *_) = sorted((study / "gans").glob("*/meta.json"))
    meta_path.write_text('{"key": "k", "sta')
    assert cli.main(["report", str(study)]) == 0
    assert "the GAN cache holds no copy" in capsys.readouterr().out
    assert not meta_path.exists() and (meta_path.parent / "meta.json.damaged").exists()
    assert (study / "report" / "report.md").is_file()
