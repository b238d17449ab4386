"""The minor refusals (argparse's one-line errors: tests/test_cli_boundary.py): a name too long for a folder is blamed on the name, not on --storage; duplicate sizes once "full"
resolves are refused; a running study is refused before Ray starts (symlink loops: tests/test_data.py)."""

from __future__ import annotations

import pytest

from study import cli
from study import spec as S
from study.checks import SpecError
from study.folder import StudyFolder
from study.preflight import check_loaded_data


def test_a_name_too_long_for_a_folder_is_blamed_on_the_name(tmp_path, capsys):
    assert cli.main(["run", "quick", "--name", "a" * 300, "--storage", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: name: aaaa") and "is 300 bytes" in err
    assert "allowed: at most 255 bytes" in err and "--storage" not in err
    assert not (tmp_path / "s").exists()


def test_full_and_its_own_count_are_one_size_twice():
    spec = S.load_spec("quick", ['sizes=["full", 3600]'])
    with pytest.raises(SpecError, match=r'sizes: "full" is 3600 images of mnist-5k here, the same as the size 3600: '
                                        r'the two would train identical GANs and trials; allowed: each size once'):
        check_loaded_data(spec, [360] * 10, 1000)
    check_loaded_data(S.load_spec("quick", ['sizes=["full", 3000]']), [360] * 10, 1000)


def test_a_running_study_is_refused_before_ray_starts(tmp_path, capsys):
    folder = StudyFolder.for_spec(str(tmp_path), "quick")
    folder.prepare(S.load_spec("quick"), resume=False, gan_cache=str(tmp_path / "gan-cache"))
    with folder.running():   # another driver of this study, alive (the conftest fails any ray.init here)
        assert cli.main(["resume", str(tmp_path / "quick")]) == 2
        assert cli.main(["run", "quick", "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(": this study is running (" in line and "allowed: wait" in line for line in err)
