"""Endpoints checked before anything is written: `search.storage`, the MLflow
tracking URI and `--address` each get one probe with a short timeout and a one-line refusal naming the
key; no probe creates a database; a study stopped before its folder exists says there is nothing to
resume."""

from __future__ import annotations

import socket
import time

import pytest

from study import cli
from study import spec as S
from study.checks import SpecError
from study.reach import check_address, check_search_storage, check_tracking_uri


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (a listen backlog nobody serves)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def _refused(capsys, args: list[str]) -> str:
    started = time.monotonic()
    assert cli.main(args) == 2
    assert time.monotonic() - started < 20, "a refusal that takes this long is a hang"
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


# ---------------------------------------------------------------- refusals, through the CLI, nothing written
def test_an_sqlite_search_storage_in_a_missing_folder_is_refused_before_the_study_folder(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/missing/optuna.db"
    err = _refused(capsys, ["run", "quick", "--storage", str(tmp_path / "s"), "--set", "search.mode='optuna'",
                            "--set", f"search.storage='{url}'"])
    assert err.startswith(f"error: search.storage: {url} cannot be used: its folder {tmp_path}/missing does not "
                          "exist; allowed: sqlite:///path/to/optuna.db in an existing writable folder")
    assert not (tmp_path / "s").exists() and not (tmp_path / "missing").exists()


def test_an_address_where_nothing_listens_is_refused_in_seconds(tmp_path, capsys, closed_port):
    err = _refused(capsys, ["run", "quick", "--storage", str(tmp_path / "s"), "--address", f"127.0.0.1:{closed_port}"])
    assert err.startswith(f"error: --address: 127.0.0.1:{closed_port}: nothing answers at 127.0.0.1:{closed_port} "
                          "(Connection refused); allowed: the address of a running Ray cluster's head")
    assert not (tmp_path / "s").exists()


def test_an_unreachable_mlflow_server_is_refused_in_seconds(tmp_path, capsys, closed_port):
    uri = f"http://127.0.0.1:{closed_port}"
    err = _refused(capsys, ["run", "quick", "--storage", str(tmp_path / "s"), "--set", f"tracking.mlflow='{uri}'"])
    assert err.startswith(f"error: tracking.mlflow: {uri} cannot be used (no answer (Connection refused)); allowed: ")
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------- the probes themselves
def test_a_silent_mlflow_server_is_refused_after_the_timeout(silent_port):
    started = time.monotonic()
    with pytest.raises(SpecError, match=r"tracking.mlflow: http://127.0.0.1:\d+ cannot be used \(no answer within "
                                        r"0.5 s\)"):
        check_tracking_uri(f"http://127.0.0.1:{silent_port}", timeout=0.5)
    assert time.monotonic() - started < 5


def test_sqlite_uris_are_checked_without_creating_the_database(tmp_path):
    check_search_storage(f"sqlite:///{tmp_path}/optuna.db")
    assert check_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db") is True
    assert not list(tmp_path.iterdir())                       # nothing created by a check
    (tmp_path / "notes.db").write_text("not a database")
    with pytest.raises(SpecError, match=r"search.storage: .+ cannot be used: .+notes.db is not an sqlite database"):
        check_search_storage(f"sqlite:///{tmp_path}/notes.db")
    (tmp_path / "folder.db").mkdir()
    with pytest.raises(SpecError, match="is a folder, not a database file"):
        check_tracking_uri(f"sqlite:///{tmp_path}/folder.db")


def test_a_database_server_that_does_not_answer_is_refused(closed_port):
    with pytest.raises(SpecError, match=rf"search.storage: postgresql://u@127.0.0.1:{closed_port}/db cannot be used: "
                                        r"nothing answers at .+ \(Connection refused\); allowed: "):
        check_search_storage(f"postgresql://u@127.0.0.1:{closed_port}/db")


@pytest.mark.parametrize("address, problem", [("nonsense", "is not host:port"),
                                              ("ray://127.0.0.1:notaport", "is not host:port")])
def test_a_malformed_address_is_refused(address, problem):
    with pytest.raises(SpecError, match=f"--address: .*{problem}; allowed: "):
        check_address(address)


def test_an_address_that_answers_passes(silent_port):
    check_address(f"127.0.0.1:{silent_port}")
    check_address(f"ray://127.0.0.1:{silent_port}")


def test_a_study_stopped_before_its_folder_exists_says_nothing_was_written(tmp_path, capsys, monkeypatch):
    from study import driver

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(driver, "run_study", stopped)
    assert cli.main(["run", "quick", "--storage", str(tmp_path / "s")]) == 130
    err = capsys.readouterr().err
    assert "continue with `the same command (nothing was written yet)`" in err and "study resume" not in err


def test_plan_spec_still_parses_the_search_storage_key():
    spec = S.load_spec("quick", ["search.mode='optuna'", "search.storage='sqlite:///x.db'"], check_registries=False)
    assert spec.search.storage == "sqlite:///x.db"
