"""The study folder's own files on resume: an edited spec.toml is refused with the diff; a
damaged spec.toml or run.json is set aside (renamed, kept), said in one line, and the resume goes on."""

from __future__ import annotations

import json

import pytest

from study import spec as S
from study.folder import RUN_FILE, SPEC_FILE, StudyError, StudyFolder


@pytest.fixture
def prepared(tmp_path) -> StudyFolder:
    """A study folder as `study run quick` leaves it before its stages (spec.toml, run.json, env.json)."""
    folder = StudyFolder.for_spec(str(tmp_path), "quick")
    folder.prepare(S.load_spec("quick"), resume=False, gan_cache=str(tmp_path / "gan-cache"))
    return folder


def test_an_edited_spec_toml_is_refused_on_resume_with_the_changed_keys(prepared, tmp_path):
    stored = (tmp_path / "quick" / SPEC_FILE).read_text()
    prepared.check_unedited(S.loads_spec(stored, check_registries=False))          # as written: fine
    edited = stored.replace("ratios = [0.0, 0.5, 1.0, 2.0]", "ratios = [0.0, 0.5, 1.0, 2.0, 4.0]").replace(
        "epochs = 25", "epochs = 30")
    assert edited.count("\n") == stored.count("\n") and edited != stored
    with pytest.raises(StudyError, match=r"spec.toml was edited after the study ran \(gan.epochs: 25 -> 30; "
                                         r"mix.ratios: \[0.0, 0.5, 1.0, 2.0\] -> \[0.0, 0.5, 1.0, 2.0, 4.0\]\); "
                                         r"allowed: put it back, or extend the study with `study resume"):
        prepared.check_unedited(S.loads_spec(edited, check_registries=False))


@pytest.mark.parametrize("damage", [
    lambda text: text[: len(text) // 2] + "[mix\n",         # cut short in the middle of a table header
    lambda text: "\x00" * 64 + text,                         # NUL bytes: not TOML
    lambda text: text.encode("utf-16").decode("latin-1"),    # not UTF-8 once written back as bytes
], ids=["truncated", "nul bytes", "foreign encoding"])
def test_a_damaged_spec_toml_is_set_aside_and_written_again_from_run_json(prepared, tmp_path, capsys, damage):
    path = tmp_path / "quick" / SPEC_FILE
    whole = path.read_text()
    path.write_bytes(damage(whole).encode("latin-1"))
    damaged = path.read_bytes()
    assert prepared.stored_spec_text() == whole
    assert path.read_text() == whole and (tmp_path / "quick" / f"{SPEC_FILE}.damaged").read_bytes() == damaged
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "spec.toml cannot be read" in out and "written again from run.json" in out


def test_a_damaged_spec_toml_without_a_recorded_copy_is_refused(prepared, tmp_path):
    (tmp_path / "quick" / RUN_FILE).unlink()
    (tmp_path / "quick" / SPEC_FILE).write_text("[mix\nratios = [0")
    with pytest.raises(StudyError, match=r"spec.toml cannot be read \(TOMLDecodeError: .+\) and run.json holds no "
                                         r"copy; allowed: restore spec.toml"):
        prepared.stored_spec_text()


@pytest.mark.parametrize("payload", ['{"gan_cache": "/x", "spec": {', "[1, 2]", ""], ids=["torn", "a list", "empty"])
def test_a_damaged_run_json_is_set_aside_and_the_resume_goes_on(prepared, tmp_path, capsys, payload):
    (tmp_path / "quick" / RUN_FILE).write_text(payload)
    assert prepared.recorded_cache() is None            # the default cache (or --gan-cache) is used
    prepared.check_unedited(S.load_spec("quick"))        # nothing to compare with: not refused
    assert (tmp_path / "quick" / f"{RUN_FILE}.damaged").read_text() == payload
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "run.json is damaged" in out and "set aside as run.json.damaged" in out
    prepared.prepare(S.load_spec("quick"), resume=True, gan_cache=str(tmp_path / "gan-cache"))
    assert json.loads((tmp_path / "quick" / RUN_FILE).read_text())["gan_cache"] == "gan-cache"   # under the root
    assert prepared.recorded_cache() == str(tmp_path / "gan-cache")


def test_a_study_recorded_before_a_key_existed_is_not_called_edited(prepared, tmp_path):
    run = json.loads((tmp_path / "quick" / RUN_FILE).read_text())
    del run["spec"]["search"]["storage"]          # what a run of the previous version recorded
    (tmp_path / "quick" / RUN_FILE).write_text(json.dumps(run))
    prepared.check_unedited(S.load_spec("quick"))   # the new key takes its default: no change
