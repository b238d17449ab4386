"""The CLI boundary: a bug in the tool is one line naming it, with the traceback in a log
file (or on screen with -v); user errors stay exit 2."""

from __future__ import annotations

import re

import pytest

from study import cli


def _broken(args):
    raise KeyError("a bug somewhere deep")


def test_an_unexpected_error_is_one_line_with_a_log_file_and_exit_1(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "presets", _broken)
    assert cli.main(["presets"]) == cli.EXIT_BUG
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: unexpected KeyError: 'a bug somewhere deep' (a bug in study; the traceback is in ")
    log = re.search(r"the traceback is in (\S+),", err).group(1)
    assert "KeyError" in open(log).read() and "_broken" in open(log).read()


def test_with_v_the_traceback_is_shown(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "presets", _broken)
    with pytest.raises(KeyError, match="a bug somewhere deep"):
        cli.main(["-v", "presets"])


def test_a_user_error_stays_exit_2_one_line(capsys):
    assert cli.main(["show", "no-such-preset"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_bare_study_prints_help_and_starts_nothing(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "run", _broken)   # a study started by accident would fail here
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: study") and "study run " in out


def test_version_names_the_installed_package(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"study {version('gan-augment-study')}"


@pytest.mark.parametrize("args, start", [
    (["run", "quick", "--bogus"], "error: study: unrecognized arguments: --bogus; allowed: "),
    (["frob"], "error: study: argument COMMAND: invalid choice: 'frob'"),
    (["confirm", "x", "--seeds", "many"], "error: study confirm: argument --seeds: invalid int value: 'many'; allowed: "
                                          "the arguments `study confirm --help` lists"),
    (["report"], "error: study report: the following arguments are required: DIR; allowed: "),
])
def test_argument_errors_are_one_line_with_allowed(capsys, args, start):
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(start) and "; allowed: " in err and "usage:" not in err


def test_a_data_error_names_the_dataset_key_and_what_is_allowed(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    assert cli.main(["run", "quick", "--storage", str(tmp_path / "s"), "--set", f"dataset='folder:{tmp_path}/imgs'"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: dataset") and "; allowed: " in err
