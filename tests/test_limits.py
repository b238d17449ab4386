"""A plan over the size limits is refused unless the study file raises them: the
trial count and the GAN key count, each naming its key and the value that would allow the plan;
nothing is written; every bundled preset is well inside both."""

from __future__ import annotations

import pytest

from study import cli, plan
from study import spec as S
from study.checks import SpecError
from study.limits import check_limits, trial_count
from study.presets import list_presets


def test_a_plan_over_the_trial_limit_is_refused_naming_the_key_and_the_way_to_allow_it(tmp_path, capsys):
    assert cli.main(["run", "quick", "--storage", str(tmp_path / "s"), "--set", "resources.max_trials=10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: resources.max_trials: the plan has 24 classifier trials, more than the limit of 10 "
                          "(Tune alone would take many minutes to set them up); allowed: fewer axis values")
    assert "resources.max_trials = 24 to run it as planned" in err
    assert not (tmp_path / "s").exists()


def test_a_plan_over_the_gan_key_limit_is_refused(tmp_path, capsys):
    assert cli.main(["plan", "quick", "--storage", str(tmp_path / "s"), "--set", "resources.max_gan_keys=5"]) == 2
    err = capsys.readouterr().err
    assert "error: resources.max_gan_keys: the plan trains 6 GANs, more than the limit of 5" in err
    assert not (tmp_path / "s").exists()


def test_a_ten_thousand_value_axis_meets_the_default_limit():
    spec = S.load_spec("quick", [f"mix.ratios=[{', '.join(str(i / 100) for i in range(10_000))}]"])
    with pytest.raises(SpecError, match=r"resources.max_trials: the plan has [\d,]+ classifier trials, more than the "
                                        r"limit of 5,000"):
        check_limits(spec, 6)


def test_raising_the_limit_is_the_explicit_yes():
    spec = S.load_spec("quick", ["resources.max_trials=24", "resources.max_gan_keys=6"])
    check_limits(spec, 6)
    assert trial_count(S.load_spec("optuna-mnist")) == S.load_spec("optuna-mnist").search.trials


@pytest.mark.parametrize("preset", [name for name, _ in list_presets()])
def test_every_preset_is_well_inside_the_defaults(preset):
    spec = S.load_spec(preset)
    assert trial_count(spec) * 5 <= spec.resources.max_trials
    assert len(plan.gan_jobs(spec, 50_000, 10, 5_000)) * 5 <= spec.resources.max_gan_keys
