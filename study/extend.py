"""`study resume DIR --set k=v`: extend a study without touching what it already finished.

An extension is allowed when every trial of the old plan is still in the new one with the same
settings (more seeds, sizes, ratios, classifiers, or a list key that gains values), and nothing that
changes what a finished trial means is touched (the dataset, the validation split, how seeds pick
subsets and GANs, the search mode). Then only the new trials and GANs run.
"""

from __future__ import annotations

from study import plan
from study.checks import SpecError, show
from study.schema import Spec
from study.spec_text import spec_to_dict
from trainables.terms.spec_keys import flat_keys

# Keys outside the trial settings whose change would change the finished trials' numbers.
FROZEN_KEYS = ("dataset", "eval.validation", "eval.validation_from", "eval.validation_fraction", "search.mode",
               "image_size", "image_resize", "image_channels", "sampling")   # what the images and subsets are
# Keys that decide which real subset and GAN each seed gets (study.plan.subset_seed): frozen unless
# every seed of the old study keeps its subset, e.g. per-seed with 3 seeds -> repeats = 3 with 6 seeds.
UNIT_KEYS = ("first_seed", "gan.repeats")
ALLOWED = ("more seeds, sizes, mix.ratios, classifier.name, gan.alpha, or more values of any list key "
           "of [gan], [classifier] and [mix]")


def changed_keys(old: Spec, new: Spec) -> list[str]:
    before, after = flat_keys(spec_to_dict(old)), flat_keys(spec_to_dict(new))
    return [key for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key)]


def check_extension(old: Spec, new: Spec) -> None:
    """SpecError naming the key when `new` would change or drop a trial of `old`."""
    changed = changed_keys(old, new)
    for key in FROZEN_KEYS:
        if key in changed:
            before, after = flat_keys(spec_to_dict(old)).get(key), flat_keys(spec_to_dict(new)).get(key)
            raise SpecError(key, f"changing it from {show(before)} to {show(after)} would change the finished "
                                 "trials; start a new study with `study run --name NEW` instead", ALLOWED)
    for key in UNIT_KEYS:
        if key in changed:
            _check_same_units(old, new, key)
    if old.search.mode != "grid" and changed:
        raise SpecError(changed[0], "an Optuna study cannot be extended with --set", "resume without --set")
    new_points = {plan.point_identity(p) for p in plan.grid_points(new)}
    dropped = [p for p in plan.grid_points(old) if plan.point_identity(p) not in new_points]
    if dropped:
        key = next((k for k in changed if k != "seeds"), changed[0] if changed else "--set")
        raise SpecError(key, f"the new value leaves out or changes {len(dropped)} finished or planned trial(s), "
                             f"e.g. {plan.trial_name(dropped[0])}", ALLOWED)


def _check_same_units(old: Spec, new: Spec, key: str) -> None:
    """SpecError when a seed of `old` would read another real subset and GAN under `new`."""
    moved = [seed for seed in plan.seeds(old) if plan.subset_seed(old, seed) != plan.subset_seed(new, seed)]
    if moved:
        before, after = flat_keys(spec_to_dict(old)).get(key), flat_keys(spec_to_dict(new)).get(key)
        seed = moved[0]
        raise SpecError(key, f"changing it from {show(before)} to {show(after)} would give finished trials other "
                             f"real subsets and GANs (seed {seed}: subset {plan.subset_seed(old, seed)} -> "
                             f"{plan.subset_seed(new, seed)}); start a new study with `study run --name NEW` "
                             "instead", f"{ALLOWED}; a change of {key} that keeps every seed's subset")
