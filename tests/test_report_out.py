"""`study report ... --out DIR` never destroys what it did not write: a study folder, a
folder of the user's own files, a file, or anything inside a study folder is refused with exit 2 and one
line naming --out, and every byte there stays as it was. A folder an earlier report wrote is replaced."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fixtures.analysis import make_study

from study.cli import main


def _digest(root: Path) -> dict[str, str]:
    if root.is_file():
        return {"": hashlib.sha256(root.read_bytes()).hexdigest()}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def studies(tmp_path):
    a = make_study.write_study_dir(tmp_path / "a", make_study.make_trials(), with_gans=False)
    b = make_study.write_study_dir(tmp_path / "b", make_study.make_trials(seeds=2), with_gans=False)
    return a, b


def _refused(capsys, argv, target: Path, before: dict) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --out: "), err
    assert _digest(target) == before
    return err[0]


def test_out_at_a_study_folder_a_user_folder_a_file_or_inside_a_study_is_refused_untouched(studies, tmp_path, capsys):
    a, b = studies
    victim = make_study.write_study_dir(tmp_path / "victim", make_study.make_trials(seeds=2), with_gans=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own notes")
    (mine / "sub").mkdir()
    (mine / "sub" / "data.bin").write_bytes(bytes(range(256)))
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    cases = [(victim, "is a study folder"), (a, "is a study folder"), (mine, "already holds files that no report wrote"),
             (a_file, "is a file"), (victim / "report", "is inside the study folder")]
    for target, why in cases:
        watched = victim if target.parent == victim else target
        before = _digest(watched)
        line = _refused(capsys, ["report", str(a), str(b), "--out", str(target)], watched, before)
        assert why in line
    # One folder with --out follows the same rule.
    _refused(capsys, ["report", str(a), "--out", str(mine)], mine, _digest(mine))


def test_a_new_folder_then_the_same_folder_again_is_written_and_replaced(studies, tmp_path, capsys):
    a, b = studies
    out = tmp_path / "merged"
    assert main(["report", str(a), str(b), "--out", str(out)]) == 0
    assert (out / "report.md").is_file() and (out / ".study-report").is_file()
    (out / "stale.txt").write_text("from an older rebuild")
    assert main(["report", str(a), str(b), "--out", str(out)]) == 0     # a report's own folder: replaced
    assert not (out / "stale.txt").exists() and (out / "report.md").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(a), "--out", str(empty)]) == 0 and (empty / "report.md").is_file()
