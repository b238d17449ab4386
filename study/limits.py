"""The plan's size limits: a study larger than them is refused unless the study file raises them.

A 10,000-value axis (a range pasted as a list, a typo'd step) was accepted without a word; Tune then
spent minutes creating trials before starting one. The limits are set well above every bundled study
so that only a plan nobody meant to run meets them, and raising one is the explicit "yes, run it":

- resources.max_trials = 5000: the largest preset (abadi-mnist) has 585 classifier trials. Tune's
  driver creates, schedules and snapshots every trial (its experiment state is rewritten as trials
  change, growing with their count); at thousands of trials that bookkeeping alone takes many minutes
  before and between trials, and each trial is seconds to minutes of compute on top.
- resources.max_gan_keys = 500: the largest preset trains 45 GANs; each is minutes (mnist-5k) to
  hours (CIFAR-10, 2,000 epochs) of training and a pool on disk.
- Pool memory has its own limit, the machine's free memory (study.preflight.check_pool_memory): the
  largest pool is drawn in one process and read whole by every trial that mixes it in.
"""

from __future__ import annotations

from study import plan
from study.checks import SpecError
from study.schema import Spec


def trial_count(spec: Spec) -> int:
    """How many classifier trials the plan runs (Optuna: search.trials)."""
    return len(plan.planned_trials(spec))


def check_limits(spec: Spec, gan_keys: int) -> None:
    """SpecError naming the limit's key when the plan exceeds it."""
    trials = trial_count(spec)
    if trials > spec.resources.max_trials:
        raise SpecError("resources.max_trials", f"the plan has {trials:,} classifier trials, more than the limit of "
                        f"{spec.resources.max_trials:,} (Tune alone would take many minutes to set them up)",
                        f"fewer axis values (sizes, seeds, mix.ratios, ...), or resources.max_trials = {trials} to run "
                        "it as planned")
    if gan_keys > spec.resources.max_gan_keys:
        raise SpecError("resources.max_gan_keys", f"the plan trains {gan_keys:,} GANs, more than the limit of "
                        f"{spec.resources.max_gan_keys:,} (each is minutes to hours of training)",
                        f"fewer sizes, seeds or GAN axes, or resources.max_gan_keys = {gan_keys} to run it as planned")
