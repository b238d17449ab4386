"""A finished study folder -> tidy DataFrames (one row per trial; one row per trial-epoch).

Reads the `results.csv` and `curves.csv` the driver wrote from the trial records (study.results), through
the file layer's one reader (trainables.files.results_files). A folder whose run stopped before writing
them gets them from `study report`, which writes them from the trial records first. Non-ok trials are
kept with their status: rankings exclude them, the report lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.inputs import (
    GanRecord,
    StudyDirError,
    check_is_study,
    load_gans,
    read_env,
    read_runs,
    read_spec,
)
from trainables.files.results_columns import (
    ACCURACY_METRICS,
    COST_METRICS,
    METRICS,
    OUTCOME_COLUMNS,
    PER_CLASS,
    SETTING_COLUMNS,
    VALIDATION_COUNT,
)
from trainables.files.results_files import RESULTS_FILE, RESULTS_REQUIRED, csv_problem, read_curves
from trainables.files.storage import Store
from trainables.files.trial_records import CURVE_COLUMNS as RECORD_CURVE_COLUMNS
from trainables.terms.dataset_sizes import train_images
from trainables.terms.validation import ValidationRule

# The columns every tidy table has (missing ones added empty), in this order.
RESULTS_COLUMNS = ("trial", "dataset", *SETTING_COLUMNS, *OUTCOME_COLUMNS,
                   *ACCURACY_METRICS, PER_CLASS, *COST_METRICS)
CURVE_COLUMNS = ("trial", *RECORD_CURVE_COLUMNS)
CURVE_AXES = ("dataset", "size", "alpha", "ratio", "classifier", "seed", "real", "augment")


@dataclass(frozen=True)
class Study:
    root: Path
    trials: pd.DataFrame            # one row per classifier trial, RESULTS_COLUMNS first
    curves: pd.DataFrame            # one row per (trial, epoch)
    spec: dict = field(default_factory=dict)
    spec_text: str = ""
    env: dict = field(default_factory=dict)
    runs: tuple[dict, ...] = ()     # run.json's runs: when each `study run` / `resume` started, its wall time
    gans: tuple[GanRecord, ...] = ()
    source: str = RESULTS_FILE      # "merged" for several folders read as one
    parts: tuple[Study, ...] = ()   # the folders a merged study was read from (analysis/merge.py)
    full_sizes: dict = field(default_factory=dict)   # dataset -> true count of `size = "full"` here

    @property
    def members(self) -> tuple[Study, ...]:
        """The single folders behind this study: itself, or the parts of a merge."""
        return self.parts or (self,)

    @property
    def full_counts(self) -> dict:
        """dataset -> the true count of a "full" subset, over the folders behind this study."""
        return {k: v for part in self.members for k, v in part.full_sizes.items()}

    @property
    def specs(self) -> tuple[dict, ...]:
        return tuple(part.spec for part in self.members if part.spec)

    @property
    def name(self) -> str:
        return " + ".join(str(part.spec.get("name", part.root.name)) for part in self.members)


# ---------------------------------------------------------------- normalisation
def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return True     # the spec default: real + synthetic (also when no trial recorded the key)
    return bool(value)


def _is_full(size) -> bool:
    return isinstance(size, str) and size.strip().lower() == "full"


def _real_count(train_images, ratio) -> int | None:
    """n from a real + synthetic trial's image count: train_images = n + round(R x n) (the trial's own
    rule, trainables.runners.classifier_trial.synthetic_count), which grows by at least one per n: one n fits."""
    try:
        total, ratio = int(train_images), float(ratio)
    except (TypeError, ValueError):
        return None
    if total <= 0 or not ratio >= 0:
        return None
    guess = int(total / (1 + ratio))
    return next((n for n in range(max(guess - 2, 1), guess + 3) if n + int(round(ratio * n)) == total), None)


def _full_by_rule(dataset, spec: dict) -> int | None:
    """The training split less the validation hold-out, by the study's own rule (trainables.terms.validation), for a
    folder whose trials recorded no image count."""
    total = train_images(dataset)
    if total is None or not spec:
        return None
    return total - ValidationRule.of(spec.get("eval") or {}).held_out(total)


def full_sizes(df: pd.DataFrame, spec: dict | None = None) -> dict[str, int]:
    """dataset -> how many real images a `size = "full"` trial of this folder trained on: the training
    split after the validation hold-out, not the dataset's published training-set size. Read from what
    the trials wrote (train_images of real + synthetic trials), else computed by the study's rule from
    spec.toml; a dataset with neither is left out (its rows keep the label "full"). Under
    eval.validation_from = "subset" the size is the labelled budget: the training part plus the
    validation part carved out of it (validation_images)."""
    if df.empty or "size" not in df or "dataset" not in df:
        return {}
    carved = (ValidationRule.of((spec or {}).get("eval") or {}).per_subset and VALIDATION_COUNT in df)
    full = df[df["size"].map(_is_full)]
    found: dict[str, int] = {}
    for dataset, rows in full.groupby(full["dataset"].astype(str)):
        counts = []
        if {"train_images", "ratio"} <= set(rows.columns):
            real = rows["real"].map(_as_bool) if "real" in rows else pd.Series(True, index=rows.index)
            held = (pd.to_numeric(rows.loc[real, VALIDATION_COUNT], errors="coerce").fillna(0) if carved
                    else [0] * int(real.sum()))
            counts = [c + int(v) for t, r, v in zip(rows.loc[real, "train_images"], rows.loc[real, "ratio"], held,
                                                    strict=True)
                      if (c := _real_count(t, r)) is not None]
        count = pd.Series(counts).mode().iloc[0] if counts else _full_by_rule(dataset, spec or {})
        if count is not None:
            found[dataset] = int(count)
    return found


def _resolve_size(size, dataset, full: dict | None = None):
    """Sizes are ints; "full" becomes the true count of this folder's full subset when known."""
    if isinstance(size, str):
        if _is_full(size):
            return (full or {}).get(str(dataset), "full")
        try:
            return int(float(size))
        except ValueError:
            return size
    if isinstance(size, float) and not math.isnan(size):
        return int(size)
    return size


def tidy_trials(df: pd.DataFrame, full: dict | None = None) -> pd.DataFrame:
    """Typed, defaulted copy of a results table: real is bool, ratio/alpha float, status lower-case, and
    every size a count of real images (`full`: dataset -> true count of "full"; default: `full_sizes`)."""
    full = full_sizes(df) if full is None else full
    df = df.copy()
    for column in RESULTS_COLUMNS:
        if column not in df.columns:
            df[column] = pd.NA
    if "trial" in df and df["trial"].isna().all():
        df["trial"] = [f"trial_{i:05d}" for i in range(len(df))]
    df["real"] = df["real"].map(_as_bool).astype(bool)
    df["augment"] = df["augment"].fillna("none").astype(str)
    df["size"] = [_resolve_size(s, d, full) for s, d in zip(df["size"], df["dataset"], strict=True)]
    if all(isinstance(s, int) for s in df["size"]):
        df["size"] = df["size"].astype("int64")
    for column in ("ratio", "alpha", *METRICS):
        df[column] = pd.to_numeric(df[column], errors="coerce")
    df["seed"] = pd.to_numeric(df["seed"], errors="coerce").fillna(0).astype("int64")
    has_metric = df[[m for m in ("test_acc", "test_acc_max") if m in df]].notna().any(axis=1)
    status = df["status"].astype("string").str.strip().str.lower()
    df["status"] = status.fillna(has_metric.map({True: "ok", False: "error"})).astype(str)
    df["reason"] = df["reason"].astype("string").fillna("").astype(str)
    ordered = [c for c in RESULTS_COLUMNS if c in df] + [c for c in df if c not in RESULTS_COLUMNS]
    return df[ordered].reset_index(drop=True)


def tidy_curves(curves: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """Curves with the trial's axes attached (from the trials table when curves.csv lacks them)."""
    if curves.empty:
        return pd.DataFrame(columns=[*CURVE_COLUMNS, *CURVE_AXES, "status"])
    curves = curves.copy()
    keep = ["trial", *[a for a in CURVE_AXES if a in trials], "status"]
    curves = curves.drop(columns=[a for a in keep[1:] if a in curves], errors="ignore")
    curves["trial"] = curves["trial"].astype(str)
    axes = trials[keep].assign(trial=trials["trial"].astype(str))
    curves = curves.merge(axes, on="trial", how="left")
    for column in CURVE_COLUMNS[1:]:
        if column in curves:
            curves[column] = pd.to_numeric(curves[column], errors="coerce")
    return curves


# ---------------------------------------------------------------- GAN keys, spec, env
def write_bytes_atomic(data: bytes, path: Path) -> None:
    """Through the study's one writer (Store.write_bytes: next to the target, fsynced, renamed), so a
    reader never sees half a file and a full disk is named."""
    Store(path.parent).write_bytes(data, path.name)


def write_text_atomic(text: str, path: Path) -> None:
    write_bytes_atomic(text.encode("utf-8"), path)


def write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    write_text_atomic(df.to_csv(index=False), path)


def load_study(study_dir: str | Path) -> Study:
    """Read a study folder: its results.csv and curves.csv (a damaged curves.csv is set aside and read as
    none), spec, environment, runs and GANs. A results.csv that cannot be read is refused and kept:
    `study report` writes it again from the trial records before it calls this."""
    root = Path(study_dir).expanduser()
    check_is_study(root)
    store = Store(root)
    if not store.exists(RESULTS_FILE):
        raise StudyDirError(f"{root}: has no results.csv yet; allowed: a study that has run (`study report {root}` "
                            "writes results.csv from its trial records, `study resume` finishes the study)")
    raw, problem = csv_problem(store, RESULTS_FILE, RESULTS_REQUIRED)
    if problem is not None:
        raise StudyDirError(f"{root / RESULTS_FILE}: cannot be read as the study's results ({problem}) and the "
                            "study holds no trial records to write it again from; allowed: restore results.csv "
                            "from a copy")
    raw_curves = read_curves(store)
    spec_text, spec = read_spec(root / "spec.toml")
    full = full_sizes(raw, spec)
    trials = tidy_trials(raw, full)
    return Study(
        root=root, trials=trials, curves=tidy_curves(pd.DataFrame() if raw_curves is None else raw_curves, trials),
        spec=spec, spec_text=spec_text,
        env=read_env(root / "env.json"), runs=read_runs(root / "run.json"),
        gans=load_gans(root), source=RESULTS_FILE, full_sizes=full)
