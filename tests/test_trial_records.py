"""Damaged trial records: set aside (renamed, never deleted), reported in one line, rerun."""

from __future__ import annotations

import json

import pytest

from study import plan
from study import spec as S
from study.folder import StudyFolder
from study.stage_classifiers import pending_points
from trainables.files.storage import Store
from trainables.files.trial_records import read_trial_record, trial_record


@pytest.mark.parametrize("payload, problem", [
    (b'{"status": "ok", "test_acc": 0.9', "not valid JSON"),        # truncated mid-write
    (b"", "not valid JSON"),                                         # a full disk's 0-byte file
    (b"[1, 2]", "a JSON list, not an object"),
    (b"\xff\xfe\x00garbage", "unreadable"),
])
def test_a_damaged_record_is_set_aside_reported_and_the_trial_counts_as_unfinished(tmp_path, payload, problem):
    store, said = Store(tmp_path), []
    store.write_bytes(payload, trial_record("t1"))
    assert read_trial_record(store, "t1", say=said.append) is None
    assert (tmp_path / "trials" / "t1.json.damaged").read_bytes() == payload   # kept, byte for byte
    assert not (tmp_path / "trials" / "t1.json").exists()
    (line,) = said
    assert "t1" in line and problem in line and "t1.json.damaged" in line and "runs again" in line


def test_a_second_damage_does_not_overwrite_the_first_set_aside_file(tmp_path):
    store = Store(tmp_path)
    for payload in (b"{", b"[]"):
        store.write_bytes(payload, trial_record("t1"))
        read_trial_record(store, "t1", say=lambda _: None)
    assert (tmp_path / "trials" / "t1.json.damaged").read_bytes() == b"{"
    assert (tmp_path / "trials" / "t1.json.damaged-2").read_bytes() == b"[]"


def test_resume_reruns_exactly_the_points_whose_record_is_missing_or_damaged(tmp_path, capsys):
    spec = S.load_spec("quick", ["sizes=[500]", "seeds=1", "mix.ratios=[0, 1, 2]"], check_registries=False)
    points = plan.grid_points(spec)
    folder = StudyFolder(Store(tmp_path))
    names = [plan.trial_name(p) for p in points]
    folder.store.write_text(json.dumps({"status": "ok", "test_acc": 0.9}), trial_record(names[0]))
    folder.store.write_text('{"status": "ok", "test_', trial_record(names[1]))   # damaged
    pending = pending_points(folder, points)
    assert [plan.trial_name(p) for p in pending] == names[1:]
    assert f"trial {names[1]}: its record" in capsys.readouterr().out
    assert read_trial_record(folder.store, names[0]) == {"status": "ok", "test_acc": 0.9}


def test_a_zero_byte_tuner_state_is_set_aside_and_the_search_starts_afresh(tmp_path, capsys):
    from ray import tune

    from study.stage_classifiers import EXPERIMENT, _restored

    folder = StudyFolder(Store(tmp_path))
    experiment = tmp_path / "tune" / EXPERIMENT
    experiment.mkdir(parents=True)
    (experiment / "tuner.pkl").write_bytes(b"")          # what a full disk left behind
    assert tune.Tuner.can_restore(str(experiment))       # Ray would try, and fail on every resume
    assert _restored(folder, str(experiment), lambda config: None) is None
    assert (tmp_path / "tune" / f"{EXPERIMENT}.damaged" / "tuner.pkl").exists() and not experiment.exists()
    assert "cannot be restored" in capsys.readouterr().out
