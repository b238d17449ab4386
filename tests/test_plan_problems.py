"""`study plan` lists every problem at once and writes nothing: five problems of a
study file and its overrides are five lines, endpoint problems included; no storage folder, GAN cache or
MLflow/Optuna database appears."""

from __future__ import annotations

import pytest

from study import cli
from study.plan_checks import spec_problems
from tests.test_data import make_folder

BAD = """\
name = "bad"
dataset = "mnist-5k"
sizes = [0, 200]
seeds = -1
[gan]
epochs = "many"
[classifier]
name = ["mlpx"]
"""


def test_every_problem_of_a_study_file_and_its_overrides_is_listed(tmp_path):
    (tmp_path / "bad.toml").write_text(BAD)
    spec, problems = spec_problems(str(tmp_path / "bad.toml"), ["gan.lr=-1", "nope=1"])
    assert [p.split(":")[0] for p in problems] == ["nope", "sizes", "seeds", "gan.epochs", "gan.lr", "classifier.name"]
    assert all("; allowed: " in p for p in problems)
    assert spec is not None and spec.gan.epochs > 0                    # the faulty keys at their defaults


def test_a_dataset_problem_ends_the_spec_checks_without_a_substitute_spec(tmp_path):
    (tmp_path / "bad.toml").write_text('name = "x"\ndataset = "mnistt"\nseeds = 0\n')
    spec, problems = spec_problems(str(tmp_path / "bad.toml"))
    assert spec is None and problems[0].startswith("seeds: ") and problems[-1].startswith("dataset: ")


def test_a_missing_study_file_is_one_problem(tmp_path):
    spec, problems = spec_problems(str(tmp_path / "none.toml"))
    assert spec is None and len(problems) == 1


def test_plan_prints_every_problem_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text(BAD + f'[search]\nmode = "optuna"\nstorage = "sqlite:///{tmp_path}/o.db"\n'
                                       f'[tracking]\nmlflow = "sqlite:///{tmp_path}/mlflow.db"\n')
    before = sorted(p.name for p in tmp_path.iterdir())
    assert cli.main(["plan", str(tmp_path / "bad.toml"), "--storage", str(tmp_path / "s"),
                     "--set", "gan.lr=-1", "--set", "nope=1"]) == 2
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 6 and all(line.startswith("error: ") for line in errors)
    assert captured.out.startswith("[plan] the keys named below read as their defaults here")
    assert sorted(p.name for p in tmp_path.iterdir()) == before      # no storage, cache or database


@pytest.mark.parametrize("extra, key", [(["--set", "search.mode='optuna'", "--set", "search.storage='sqlite:////no/such/o.db'"],
                                         "search.storage"),
                                        (["--set", "tracking.mlflow='http://127.0.0.1:1'"], "tracking.mlflow")])
def test_plan_lists_endpoint_problems_beside_the_others(tmp_path, capsys, extra, key):
    assert cli.main(["plan", "quick", "--storage", str(tmp_path / "s"), "--set", "seeds=0", *extra]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert [e.split(":")[1].strip() for e in errors] == ["seeds", key]
    assert not (tmp_path / "s").exists()
def test_plan_decodes_without_writing_a_dataset_cache(tmp_path, capsys):
    make_folder(tmp_path / "imgs", classes=("a", "b"), per_class=20, size=(28, 28), rgb=False)
    assert cli.main(["plan", "quick", "--storage", str(tmp_path / "s"), "--set", f"dataset='folder:{tmp_path / 'imgs'}'",
                     "--set", f"data_root='{tmp_path / 'root'}'", "--set", "sizes=[10]", "--set", "eval.validation=4"]) in (0, 2)
    assert "[plan] quick: dataset folder:" in capsys.readouterr().out
    assert not (tmp_path / "root").exists() and not (tmp_path / "s").exists()
