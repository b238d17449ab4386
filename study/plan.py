"""The plan of a study: its trials (grid points, or Optuna's search space), their names, and the
GAN each trial reads. One home for "which trials", "which GAN" and "what is it called".

A *point* is one classifier trial's settings as a flat dict, in results.csv's column names:
`size`, `seed` (one of `seeds(spec)`), and one column per setting of [gan], [classifier] and [mix] (`settings`). A point that
uses no synthetic images (R = 0 with the real images) has every GAN column set to None: one such
trial is the baseline of every GAN arm, so it runs once, not once per alpha or GAN recipe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from typing import Any

from study.schema import AXIS_SECTIONS, Spec, as_values
from trainables.files.results_columns import column_name
from trainables.terms.choices import GAN_OPTION_NAMES

# Section keys that are not trial settings: how a study runs, or tables of other keys.
NOT_SETTINGS = {("gan", "repeats"), ("gan", "workers"), ("gan", "checkpoint_every"), ("classifier", "compile"),
                ("classifier", "by_name")}

def settings(spec: Spec) -> list[tuple[str, str, str]]:
    """(section, key, column) of every trial setting, in grid order (GAN, mix, classifier)."""
    out = []
    for section in AXIS_SECTIONS:
        for f in dataclasses.fields(getattr(spec, section)):
            if (section, f.name) not in NOT_SETTINGS:
                out.append((section, f.name, column_name(section, f.name)))
    return out


# [mix] keys about the synthetic images only: meaningless, like the GAN's, for a trial without them.
SYNTHETIC_ONLY = (("mix", "filter"), ("mix", "filter_threshold"))


def gan_columns(spec: Spec) -> list[str]:
    """The columns that describe the GAN a trial reads: meaningless for a trial that reads none."""
    return [column for section, key, column in settings(spec) if section == "gan" or (section, key) in SYNTHETIC_ONLY]


def varying_columns(spec: Spec) -> list[str]:
    """Columns of the settings that take more than one value in this study."""
    return [column for section, key, column in settings(spec)
            if len(as_values(getattr(getattr(spec, section), key))) > 1
            or (section == "classifier" and any(key in t for t in spec.classifier.by_name.values()))]


def uses_gan(point: dict) -> bool:
    """Whether the trial adds synthetic images (R > 0) or trains on them alone."""
    return float(point["ratio"]) > 0 or not bool(point["real"])


def trains_on_nothing(point: dict) -> bool:
    return float(point["ratio"]) == 0 and not bool(point["real"])


def resolve_point(spec: Spec, point: dict) -> dict:
    """A point with its classifier's [classifier.NAME] overrides applied and, when it reads no GAN,
    its GAN columns blanked. The one place a trial's settings are decided (grid and Optuna alike)."""
    point = dict(point)
    for key, value in spec.classifier.by_name.get(point["classifier"], {}).items():
        point[column_name("classifier", key)] = value
    point["ratio"] = float(point["ratio"])
    if point.get("mix_filter") == "none":
        point["mix_filter_threshold"] = None     # no filter: its threshold means nothing
    if not uses_gan(point):
        point.update({column: None for column in gan_columns(spec)})
    return point


def seeds(spec: Spec) -> range:
    """The study's seeds: first_seed .. first_seed + seeds - 1 (`study confirm` starts past the seeds
    of the study it confirms, so its real subsets and GANs are fresh)."""
    return range(spec.first_seed, spec.first_seed + spec.seeds)


def _setting_values(spec: Spec) -> list[tuple[str, list]]:
    return [(column, as_values(getattr(getattr(spec, section), key))) for section, key, column in settings(spec)]


def grid_points(spec: Spec) -> list[dict[str, Any]]:
    """Every combination of size x settings x seed once, in a fixed order (sizes outermost, seeds
    innermost), without the combinations that train on nothing and without repeats (R = 0 points
    do not repeat per GAN setting; per-classifier overrides can merge points)."""
    columns = [("size", list(spec.sizes)), *_setting_values(spec), ("seed", list(seeds(spec)))]
    names = [name for name, _ in columns]
    points, seen = [], set()
    for values in itertools.product(*(values for _, values in columns)):
        point = dict(zip(names, values, strict=True))
        if trains_on_nothing(point):
            continue
        point = resolve_point(spec, point)
        identity = point_identity(point)
        if identity not in seen:
            seen.add(identity)
            points.append(point)
    return points


def skipped_combinations(spec: Spec) -> int:
    """How many grid combinations train on nothing (synthetic only at R = 0) and are left out."""
    reals = [real for real in as_values(spec.mix.real) if not real]
    zeros = [r for r in spec.mix.ratios if r == 0]
    others = math.prod(len(as_values(getattr(getattr(spec, section), key))) for section, key, _ in settings(spec)
                       if (section, key) not in (("mix", "real"), ("mix", "ratios")))
    return len(reals) * len(zeros) * others * len(spec.sizes) * spec.seeds


def point_identity(point: dict) -> str:
    """Canonical JSON of a point: 1 and 1.0 are the same setting."""
    return json.dumps({k: (float(v) if isinstance(v, int | float) and not isinstance(v, bool) and k not in
                           ("size", "seed") else v) for k, v in point.items()}, sort_keys=True)


def trial_name(point: dict) -> str:
    """Deterministic, readable, unique: the main settings in words, then 6 hex digits of the whole
    point, so a study extended with new values keeps the names (and records) of its old trials."""
    parts = [str(point["classifier"]), f"n{point['size']}", f"r{float(point['ratio']):g}"]
    if uses_gan(point) and point.get("alpha") is not None:
        parts.append(f"a{point['alpha']:g}")
    if not point["real"]:
        parts.append("synthetic")
    if point.get("augment", "none") != "none":
        parts.append(str(point["augment"]))
    parts.append(f"s{point['seed']}")
    digest = hashlib.sha256(point_identity(point).encode()).hexdigest()[:6]
    return "_".join(parts + [digest])


# --------------------------------------------------------------------------------------------------
# Optuna
# --------------------------------------------------------------------------------------------------

def samples_ratio_range(spec: Spec) -> bool:
    return spec.search.mode == "optuna" and spec.search.ratio_range is not None


def candidate_ratios(spec: Spec) -> tuple[float, ...]:
    """The ratios trials may use: mix.ratios, or the bounds (lo, hi) of search.ratio_range when
    Optuna samples R continuously from it (search.ratio_range is ignored in grid mode)."""
    return spec.search.ratio_range if samples_ratio_range(spec) else spec.mix.ratios


def max_ratio(spec: Spec) -> float:
    return max(candidate_ratios(spec))


def optuna_space(spec: Spec) -> dict:
    """Tune's search space for OptunaSearch: a categorical per axis, constants for the rest. Every
    Optuna trial uses the first seed: a repeat is not a hyperparameter to tune (`study confirm`
    reruns the best configuration against R = 0 over fresh seeds)."""
    import ray.tune as tune

    space: dict[str, Any] = {"size": tune.choice(list(spec.sizes)), "seed": spec.first_seed}
    for section, key, column in settings(spec):
        values = as_values(getattr(getattr(spec, section), key))
        space[column] = tune.choice(values) if len(values) > 1 else values[0]
    if spec.search.ratio_range:
        space["ratio"] = tune.uniform(*spec.search.ratio_range)
    return space


def optuna_points(spec: Spec) -> list[dict]:
    """Every GAN-using point Optuna can draw (the first seed), at the largest R it can draw: what the GAN
    stage must train beforehand, with pools big enough for any draw."""
    widest = dataclasses.replace(spec, seeds=1, mix=dataclasses.replace(spec.mix, ratios=(max_ratio(spec),)),
                                 search=dataclasses.replace(spec.search, mode="grid"))
    return grid_points(widest)


def trial_points(spec: Spec) -> list[dict]:
    """The points the study trains: the grid, or the points Optuna may draw."""
    return grid_points(spec) if spec.search.mode == "grid" else optuna_points(spec)


def planned_trials(spec: Spec) -> list[dict]:
    """One point per classifier trial the study runs: the grid's; Optuna's search.trials draws, taken in
    turn from the points it may draw, each at the widest R (what a draw may cost at most)."""
    points = trial_points(spec)
    if spec.search.mode == "grid" or not points:
        return points
    return [points[i % len(points)] for i in range(int(spec.search.trials))]


# --------------------------------------------------------------------------------------------------
# GANs: which one a trial reads
# --------------------------------------------------------------------------------------------------

def gans_per_size(spec: Spec) -> int | None:
    """How many real subsets (each with its GAN) a size gets: gan.repeats as a count; None for
    "per-seed" (one per seed, however many seeds an extension adds)."""
    repeats = spec.gan.repeats
    return {"per-seed": None, "once": 1}[repeats] if isinstance(repeats, str) else int(repeats)


def subset_seed(spec: Spec, seed: int) -> int:
    """The seed of a trial's real subset and of the GAN trained on it: the independent unit of the
    study (classifier repeats inside a unit share it). per-seed: the trial's seed; once: first_seed;
    a count k: first_seed + (seed - first_seed) % k. Modulo, not blocks, so `study resume --set
    seeds=...` (a multiple of k) keeps every earlier trial's subset and GAN."""
    count = gans_per_size(spec)
    return int(seed) if count is None else spec.first_seed + (int(seed) - spec.first_seed) % count


def gan_job(spec: Spec, point: dict, validation: int, pool_per_class: int = 1):
    """The GanJob a point reads (its key ignores the pool size: a pool grows on demand)."""
    from trainables.gan.job import GanJob

    return GanJob(
        dataset=spec.dataset, data_root=spec.data_root, validation=int(validation), size=point["size"],
        validation_from=spec.eval.validation_from,
        validation_fraction=spec.eval.validation_fraction if spec.eval.validation_from == "subset" else None,
        sampling=spec.sampling,
        seed=subset_seed(spec, point["seed"]), arch=point["gan_arch"], conditioning=point["conditioning"],
        alpha=point["alpha"], epochs=point["gan_epochs"], batch_size=point["gan_batch_size"],
        lr=point["gan_lr"], beta1=point["gan_beta1"], pool_per_class=pool_per_class,
        recipe=point["gan_recipe"], **{name: point[f"gan_{name}"] for name in GAN_OPTION_NAMES},
        workers=spec.gan.workers, checkpoint_every=spec.gan.checkpoint_every, max_failures=spec.faults.max_failures)


def resolved_size(size, train_size: int) -> int:
    return train_size if size == "full" else int(size)


def pool_per_class_needed(ratio: float, n: int, num_classes: int) -> int:
    """Synthetic images per class a pool needs for R x n class-balanced images, and never fewer than
    n / K: the quality scores are computed on the first n images of every pool (R = 1), so that they
    do not depend on how far a pool has grown."""
    from trainables.runners.classifier_trial import synthetic_count  # the paper's definition of R, one home

    synthetic = synthetic_count(max(ratio, 1.0), n)
    return math.ceil(synthetic / num_classes) + 1   # + 1: a remainder goes one each to the first classes


def gan_jobs(spec: Spec, train_size: int, num_classes: int, validation: int, largest_share: float | None = None) -> dict:
    """GAN key -> GanJob for every GAN some trial reads, each with the pool its largest R needs.
    `largest_share`: the largest class's share of the training split, under sampling = "stratified"
    (its synthetic images follow the real class mix, so that class needs the most of them)."""
    jobs: dict = {}
    for point in trial_points(spec):
        if not uses_gan(point):
            continue
        n = resolved_size(point["size"], train_size)
        per_class = pool_per_class_needed(float(point["ratio"]), n, num_classes)
        if largest_share is not None:   # D'Hondt gives the largest class at most share x count + K - 1
            synthetic = pool_per_class_needed(float(point["ratio"]), n, 1) - 1
            per_class = max(per_class, math.ceil(synthetic * largest_share) + num_classes)
        job = gan_job(spec, point, validation, per_class)
        key = job.key()
        filters = () if point.get("mix_filter") != "confident" else (float(point["mix_filter_threshold"]),)
        if key in jobs:
            known = jobs[key]
            job = dataclasses.replace(known, pool_per_class=max(known.pool_per_class, per_class),
                                      filters=tuple(sorted(set(known.filters) | set(filters))))
        else:
            job = dataclasses.replace(job, filters=filters)
        jobs[key] = job
    return dict(sorted(jobs.items()))
