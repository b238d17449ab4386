"""`study confirm DIR`: rerun an explored study's chosen arm and R against R = 0 with fresh seeds.

An exploring study ranks many candidates per size (every GAN arm x ratio) on validation; the best of
many noisy cells overstates its gain even after a multiplicity correction. A confirmation tests one
hypothesis per size group: for each row of the explored study's best-ratio table
(analysis.selection.best_ratio_table: chosen on validation) it builds an ordinary grid study with that
size, every axis fixed to the chosen arm, mix.ratios = [0, R], real images included, and seeds the
explored study never used (first_seed past its last seed, gan.repeats = "per-seed": a fresh real
subset and a fresh GAN per seed, every seed an independent unit). It runs with the same driver as
`study run`, and `confirm.json` in its folder says what it confirms (the report reads it).

`confirmations` is the pure part (a best-ratio table + the explored spec -> the confirm specs);
`prepare` adds the checks on the folder, all made before Ray starts; `run` runs them.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from study import plan
from study.checks import FULL, Int, SpecError
from study.folder import LOCK_FILE, SPEC_FILE, StudyError, StudyFolder
from study.schema import Spec, as_values, checked_name
from study.spec import loads_spec, spec_from_dict
from study.spec_text import spec_to_dict
from trainables.files import cache_lock

CONFIRM_FILE = "confirm.json"
MIN_SEEDS = 3     # fewer independent units never support a general "helps" / "hurts"
NAME_SUFFIX = "-confirm"
# best_ratio_table's count of the R > 0 cells its pick ranked in a group, under the names it has had.
CANDIDATE_COLUMNS = ("candidates", "family_size", "family", "ratios_tested")


@dataclass(frozen=True)
class Confirmation:
    """One confirm study: its spec, and what it confirms (written as confirm.json)."""

    spec: Spec
    group: dict          # the size group: size and the non-GAN axes that varied (classifier, augment, ...)
    arm: dict            # the chosen values of the other axes that varied (alpha, gan_arch, ...)
    ratio: float
    explored: dict       # candidates, gain, p_holm (and verdict) of the explored pick

    def record(self, source: str) -> dict:
        return {"confirms": source, "group": self.group, "arm": self.arm, "ratio": self.ratio,
                "explored": self.explored}


# --------------------------------------------------------------------------------------------------
# The pure part: a best-ratio table and the explored spec -> confirm specs
# --------------------------------------------------------------------------------------------------

def _missing(value: Any) -> bool:
    try:
        return value is None or bool(value != value)    # NaN and pandas' NA are not equal to themselves
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """A JSON/TOML value: numpy and pandas scalars become Python ones, NaN becomes None."""
    if _missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _same(option: Any, value: Any) -> bool:
    """Whether a spec value and a results.csv value (read back as numpy, floats for ints) agree."""
    value = _plain(value)
    if isinstance(option, bool) or isinstance(value, bool):
        return str(option).lower() == str(value).lower()
    if isinstance(option, int | float) and isinstance(value, int | float):
        return math.isclose(float(option), float(value), rel_tol=1e-9, abs_tol=1e-12)
    return str(option) == str(value)


def _spec_value(column: str, options: list, value: Any) -> Any:
    """The explored spec's own value that results.csv's `value` stands for (its type: 30, not 30.0)."""
    for option in options:
        if _same(option, value):
            return option
    raise StudyError(f"{column}: the chosen value {_plain(value)!r} is not one the explored spec.toml lists "
                     f"({', '.join(map(str, options))}); allowed: a results.csv written with this spec.toml")


def _size_value(spec: Spec, value: Any) -> int | str:
    """results.csv's size as the spec wrote it: "full" reads back as a number of images."""
    for size in spec.sizes:
        if size != FULL and _same(size, value):
            return size
    if FULL in spec.sizes:
        return FULL
    return _spec_value("size", list(spec.sizes), value)


def _by_name_keys(spec: Spec, classifier: Any) -> set[str]:
    return set(spec.classifier.by_name.get(str(classifier), {}))


def _chosen_values(spec: Spec, row: dict) -> tuple[dict, dict, dict]:
    """(group, arm, raw values to set): results.csv column -> the chosen value, split into the size
    group (size and non-GAN axes) and the arm (GAN axes); `raw` maps (section, key) -> spec value for
    every axis that took more than one value in the explored spec."""
    gan_columns = set(plan.gan_columns(spec))
    group: dict = {"size": _plain(row["size"])}
    arm: dict = {}
    raw: dict = {}
    classifier = row.get("classifier", spec.classifier.name[0])
    for section, key, column in plan.settings(spec):
        if (section, key) == ("mix", "ratios"):
            continue
        options = as_values(getattr(getattr(spec, section), key))
        value = row.get(column)
        if column in row and not _missing(value):
            (arm if column in gan_columns else group)[column] = _plain(value)
        if len(options) < 2:
            continue    # one value: the confirm spec keeps it as it is
        if section == "classifier" and key in _by_name_keys(spec, classifier):
            continue    # the chosen classifier's [classifier.NAME] table sets it (kept below)
        raw[(section, key)] = options[0] if _missing(value) else _spec_value(column, options, value)
    return group, arm, raw


def _explored_evidence(row: dict) -> dict:
    candidates = next((row[c] for c in CANDIDATE_COLUMNS if c in row and not _missing(row[c])), None)
    return {"candidates": None if candidates is None else int(candidates), "gain": _plain(row.get("gain")),
            "p_holm": _plain(row.get("p_holm")), "verdict": _plain(row.get("verdict"))}


def confirm_spec(spec: Spec, row: dict, *, first_seed: int, seeds: int, name: str) -> Confirmation:
    """The confirm study of one best-ratio row of the explored `spec`: that size, the chosen arm fixed,
    ratios [0, R] with real images, `seeds` fresh seeds from `first_seed`, every seed its own subset and
    GAN, a grid search."""
    group, arm, chosen = _chosen_values(spec, row)
    ratio = float(row["best_ratio"])
    raw = spec_to_dict(spec)
    for (section, key), value in chosen.items():
        raw[section][key] = value
    classifier = raw["classifier"]["name"]
    classifier = classifier[0] if isinstance(classifier, list) and len(classifier) == 1 else classifier
    for other in set(spec.classifier.by_name) - {str(classifier)}:
        raw["classifier"].pop(other)    # [classifier.NAME] tables of classifiers the confirm does not train
    raw.update(name=name, sizes=[_size_value(spec, row["size"])], seeds=seeds, first_seed=first_seed)
    raw["gan"]["repeats"] = "per-seed"
    raw["mix"].update(ratios=[0.0, ratio], real=True)
    raw["search"].update(mode="grid", storage="")
    raw["search"].pop("ratio_range", None)
    return Confirmation(spec=spec_from_dict(raw, check_registries=False), group=group, arm=arm, ratio=ratio,
                        explored=_explored_evidence(row))


def _suffix_part(column: str, value: Any) -> str:
    text = f"n{value}" if column == "size" else str(value) if not isinstance(value, bool) else f"{column}-{value}"
    return re.sub(r"[^A-Za-z0-9._-]", "", text.replace(" ", "-"))


def _names(base: str, groups: list[dict]) -> list[str]:
    """`base` for one group; with several, a suffix from each group axis whose value differs among
    them (`-n500`, `-n500-cnn2`)."""
    if len(groups) == 1:
        return [base]
    differing = [c for c in groups[0] if len({str(g.get(c)) for g in groups}) > 1]
    return [base + "".join(f"-{_suffix_part(c, g[c])}" for c in differing) for g in groups]


def confirmations(spec: Spec, best_rows: list[dict], *, last_seed: int, seeds: int | None = None,
                  name: str | None = None) -> list[Confirmation]:
    """Confirm specs for the rows of a best-ratio table (analysis.selection.best_ratio_table) of the
    explored `spec`, whose largest seed used was `last_seed`."""
    seeds = seeds or max(MIN_SEEDS, spec.seeds)
    base = name or f"{spec.name}{NAME_SUFFIX}"
    drafts = [confirm_spec(spec, row, first_seed=last_seed + 1, seeds=seeds, name=base) for row in best_rows]
    names = _names(base, [d.group for d in drafts])
    out = []
    for draft, full_name in zip(drafts, names, strict=True):
        checked_name(full_name, "--name")
        raw = spec_to_dict(draft.spec) | {"name": full_name}
        out.append(Confirmation(spec=spec_from_dict(raw, check_registries=False), group=draft.group,
                                arm=draft.arm, ratio=draft.ratio, explored=draft.explored))
    return out


def confirmable_rows(best, size: str | None = None) -> list[dict]:
    """The best-ratio rows a confirmation can test: a chosen R > 0 with the real images (a synthetic-only
    arm answers another question), of one size when `size` is given."""
    rows = [dict(row) for _, row in best.iterrows()]
    rows = [r for r in rows if not _missing(r.get("best_ratio")) and float(r["best_ratio"]) > 0
            and str(r.get("real", True)).lower() != "false"]
    if size is not None:
        rows = [r for r in rows if str(_plain(r["size"])) == str(size)]
    return rows


def fill_from_trials(spec: Spec, rows: list[dict], trials) -> list[dict]:
    """Rows with the value of every axis the explored spec varies but the table leaves out (only one of
    its values has finished trials there), taken from the trials the chosen cell holds."""
    import pandas as pd

    frame = trials[trials["status"] == "ok"] if "status" in trials else trials
    out = []
    for row in rows:
        row = dict(row)
        cell = frame[(pd.to_numeric(frame["ratio"], errors="coerce") - float(row["best_ratio"])).abs() < 1e-9]
        cell = cell[cell["size"].astype(str) == str(_plain(row["size"]))]
        for column in plan.varying_columns(spec):
            if column == "ratio" or (column in row and not _missing(row[column])) or column not in cell:
                continue
            values = cell[column].dropna().unique()
            if len(values) == 1:
                row[column] = values[0]
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------------
# The folder: checks before anything runs
# --------------------------------------------------------------------------------------------------

def _trials(folder: StudyFolder):
    """The explored study's trials: analysis.load reads a local folder; a remote one is read through the
    store. A results.csv a stopped run did not write is written from the trial records first."""
    import io

    import pandas as pd

    from study.results import restore_results

    restore_results(folder)
    if folder.store.is_local:
        from analysis.load import load_study

        return load_study(folder.store.local_path()).trials
    return pd.read_csv(io.StringIO(folder.store.read_text("results.csv")))


def _read_explored(folder: StudyFolder, where: str) -> tuple[Spec, Any, Any]:
    """(spec, trials, best-ratio table) of the explored study, read while holding its lock: a running
    study is refused, and none can start while it is read."""
    from analysis.selection import best_ratio_table

    if not folder.store.exists(SPEC_FILE):
        raise StudyError(f"{where}: no {SPEC_FILE} here; allowed: a study folder written by `study run`")
    # A folder without the lock file never had a driver (every run takes it), so nothing is created there.
    lock = (cache_lock.hold_or_refuse(folder.store, LOCK_FILE) if folder.store.exists(LOCK_FILE)
            else contextlib.nullcontext())
    try:
        with lock:
            results = ("results.csv", "trials")   # the trial records write results.csv when it is missing
            if not any(folder.store.exists(name) for name in results):
                raise StudyError(f"{where}: no results yet (no {' and no '.join(results)}); allowed: a study folder "
                                 "that has run (`study run`, or `study resume` to finish it)")
            spec = loads_spec(folder.store.read_text(SPEC_FILE), check_registries=False)
            trials = _trials(folder)
    except cache_lock.LockBusy as busy:   # checked first: a study in its first run has no results yet either
        raise StudyError(f"{where}: this study is running ({busy}); allowed: wait for it to finish (or stop it), "
                         f"then `study confirm {where}`") from None
    return spec, trials, best_ratio_table(trials)


@dataclass(frozen=True)
class Prepared:
    confirmations: list[Confirmation]
    storage: str
    gan_cache: str | None
    source: str          # the explored folder, as confirm.json names it


def prepare(folder: StudyFolder, where: str, storage: str, *, seeds: int | None = None, name: str | None = None,
            size: str | None = None, gan_cache: str | None = None) -> Prepared:
    """Every check `study confirm` makes before Ray starts; StudyError / SpecError (exit 2) on bad input.
    `storage` is where the confirm studies go (the explored study's storage root by default)."""
    if seeds is not None:
        seeds = Int(1)("--seeds", seeds)
    if name is not None:
        checked_name(name, "--name")
    spec, trials, best = _read_explored(folder, where)
    rows = confirmable_rows(best)
    if not rows:
        raise StudyError(f"{where}: no chosen R > 0 to confirm (no finished trial with R > 0 and real images); "
                         "allowed: a study with finished R > 0 trials (finish it with `study resume`)")
    if size is not None:
        sizes = [str(_plain(r["size"])) for r in rows]
        rows = confirmable_rows(best, size)
        if not rows:
            raise SpecError("--size", f"{size} is not a size with a chosen R > 0 in {where}",
                            " | ".join(dict.fromkeys(sizes)))
    seed_column = trials["seed"] if "seed" in trials else []
    planned = [point["seed"] for point in plan.trial_points(spec)]    # Optuna's trials use the first seed only
    last_seed = max([*planned, spec.first_seed, *[int(s) for s in seed_column if not _missing(s)]])
    found = confirmations(spec, fill_from_trials(spec, rows, trials), last_seed=last_seed, seeds=seeds, name=name)
    for confirmation in found:
        spec_from_dict(spec_to_dict(confirmation.spec))     # the registry and dataset checks `study run` makes
        StudyFolder.for_spec(storage, confirmation.spec.name).check(confirmation.spec, resume=False)
    return Prepared(found, storage, gan_cache, folder.root)


def run(prepared: Prepared, address: str | None = None) -> list[StudyFolder]:
    """Run each confirm study as an ordinary study; confirm.json is written with its spec.toml."""
    from study import driver

    folders = []
    for confirmation in prepared.confirmations:
        record = json.dumps(confirmation.record(prepared.source), indent=2) + "\n"
        print(f"[study] confirming {_describe(confirmation)}", flush=True)
        folders.append(driver.run_study(confirmation.spec, storage=prepared.storage, address=address,
                                        gan_cache=prepared.gan_cache, extra_files={CONFIRM_FILE: record}))
    return folders


def _describe(confirmation: Confirmation) -> str:
    spec = confirmation.spec
    settings = ", ".join(f"{k} {v}" for k, v in {**confirmation.group, **confirmation.arm}.items())
    seeds = plan.seeds(spec)
    return (f"{settings}: R = {confirmation.ratio:g} against R = 0 over seeds {seeds.start}-{seeds.stop - 1} "
            f"(fresh subsets and GANs) -> {spec.name}")
