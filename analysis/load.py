"""A finished or partial study folder -> tidy DataFrames (one row per trial; one row per trial-epoch).

Reads `results.csv` / `curves.csv` when the driver wrote them; otherwise rebuilds both from Ray Tune's
experiment folder: `tune/<experiment>/<trial dir>/` holds `params.json` (the trial's config) and
`result.json` (one JSON object per `tune.report` call), plus `error.txt` when the trial raised.
Non-ok trials are kept with their status: rankings exclude them, the report lists them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.columns import (
    ACCURACY_METRICS,
    CORE_AXES,
    COST_METRICS,
    FULL_TRAIN_SIZES,
    METRICS,
    VALIDATION_COUNT,
)
from analysis.inputs import (  # noqa: F401  (GanRecord, load_gans, StudyDirError: re-exported)
    GanRecord,
    StudyDirError,
    check_is_study,
    load_gans,
    read_curves,
    read_env,
    read_results,
    read_runs,
    read_spec,
)
from trainables.files.storage import Store
from trainables.files.trial_records import CURVE_COLUMNS as RECORD_CURVE_COLUMNS
from trainables.terms.validation import ValidationRule

RESULTS_COLUMNS = (
    "trial", "dataset", "size", "alpha", "ratio", "classifier", "seed", "real", "augment", "gan_arch",
    "conditioning", "gan_key", "status", "reason", *ACCURACY_METRICS, "per_class_acc", *COST_METRICS,
)
CURVE_COLUMNS = ("trial", *RECORD_CURVE_COLUMNS)
CURVE_AXES = ("dataset", "size", "alpha", "ratio", "classifier", "seed", "real", "augment")

# Names a Tune config may use for our columns (the driver's config keys are flattened to their leaf).
CONFIG_ALIASES = {"n": "size", "sample_size": "size", "r": "ratio", "R": "ratio", "mix_ratio": "ratio",
                  "arch": "gan_arch", "name": "classifier", "classifier_name": "classifier"}


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
    source: str = "results.csv"     # or "tune/" when rebuilt from Tune's folder
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
    folder whose trials recorded no image count. A spec without [eval] predates the hold-out."""
    total = FULL_TRAIN_SIZES.get(str(dataset))
    if total is None or not spec:
        return None
    if "eval" not in spec:
        return total
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


# ---------------------------------------------------------------- Tune's experiment folder
def _flatten(config: dict) -> dict:
    """Nested config -> leaf names (`{"gan": {"alpha": 2}}` -> `{"alpha": 2}`), aliases applied."""
    flat: dict = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value))
        else:
            flat[CONFIG_ALIASES.get(key, key)] = value
    return flat


def _read_json_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue    # a line cut short by a killed driver
    return rows


def _trial_record(records_dir: Path, trial: str) -> dict | None:
    """The trial's record (trials/<trial>.json: its final metrics, per-class accuracies and whole
    curve, which Tune's reports leave out), or None when it has none or it cannot be read."""
    path = records_dir / f"{trial}.json"
    try:
        record = json.loads(path.read_text()) if path.is_file() else None
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _trial_from_dir(trial_dir: Path, records_dir: Path) -> tuple[dict, list[dict]] | None:
    config = _flatten(json.loads((trial_dir / "params.json").read_text()))
    if "ratio" not in config:
        return None     # not a classifier trial (e.g. a Ray Train run stored under tune/)
    reports = _read_json_lines(trial_dir / "result.json")
    record = _trial_record(records_dir, trial_dir.name)
    if record is not None:
        reports.append(record)      # the final outcome, with the curve
    row = {k: v for k, v in config.items() if k in CORE_AXES or k == "seed" or not isinstance(v, list | dict)}
    row["trial"] = str(reports[-1].get("trial_id", trial_dir.name)) if reports else trial_dir.name
    for report in reports:      # last reported value of each metric wins
        for key in (*METRICS, "per_class_acc", "status", "reason", "gan_key"):
            if report.get(key) is not None:
                row[key] = report[key]
    _fill_epoch_choices(row, reports)
    if isinstance(row.get("per_class_acc"), list):
        row["per_class_acc"] = json.dumps(row["per_class_acc"])
    error_file = trial_dir / "error.txt"
    if error_file.exists() and row.get("status", "ok") == "ok":
        lines = [ln for ln in error_file.read_text().splitlines() if ln.strip()]
        row["status"], row["reason"] = "error", (lines[-1].strip() if lines else "error.txt")
    elif not reports and "status" not in row:
        row["status"], row["reason"] = "error", "no result reported (trial never started or was killed)"
    # A finished trial's record (or, from older runners, its final report) carries its whole curve;
    # epochs reported along the way (at most one a second) are all an unfinished one has.
    final_curve = reports[-1].get("curve") if reports else None
    points = final_curve if isinstance(final_curve, list) else [r for r in reports if r.get("test_acc") is not None]
    curves = [{"trial": row["trial"], "epoch": r.get("epoch", r.get("training_iteration")),
               **{k: r.get(k) for k in CURVE_COLUMNS[2:]}}
              for r in points]
    return row, curves


def _fill_epoch_choices(row: dict, reports: list[dict]) -> None:
    """Metrics a trial's final report may lack (killed trials, older runners), from its epoch reports:
    the best test epoch (the papers' protocol) and, when validation was reported, the best validation
    epoch with the test accuracy there (the earliest epoch wins a tie, as the trial itself does)."""
    final_curve = reports[-1].get("curve") if reports else None
    points = final_curve if isinstance(final_curve, list) else reports
    tests = [r for r in points if isinstance(r.get("test_acc"), int | float)]
    if tests and "test_acc_max" not in row:
        row["test_acc_max"] = max(r["test_acc"] for r in tests)
    vals = [r for r in tests if isinstance(r.get("val_acc"), int | float)]
    if vals and "test_acc_at_best_val" not in row:
        best = max(vals, key=lambda r: r["val_acc"])      # max() keeps the first of equal values
        row.setdefault("val_acc_max", best["val_acc"])
        row.setdefault("best_val_epoch", best.get("epoch"))
        row["test_acc_at_best_val"] = best["test_acc"]


def load_tune_folder(tune_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every Tune trial folder below `tune_dir` (any experiment) -> (results, curves) DataFrames."""
    rows, curve_rows = [], []
    for params in sorted(tune_dir.rglob("params.json")):
        parsed = _trial_from_dir(params.parent, tune_dir.parent / "trials")
        if parsed is not None:
            rows.append(parsed[0])
            curve_rows.extend(parsed[1])
    if not rows:
        raise StudyDirError(f"{tune_dir}: no Tune trials (expected <experiment>/<trial>/params.json); allowed: a "
                            "study folder whose tune/ holds classifier trials, or one with results.csv")
    return pd.DataFrame(rows), pd.DataFrame(curve_rows, columns=list(CURVE_COLUMNS))


# ---------------------------------------------------------------- GAN keys, spec, env
def write_bytes_atomic(data: bytes, path: Path) -> None:
    """Through the study's one writer (Store.write_bytes: next to the target, fsynced, renamed), so a
    reader never sees half a file and a full disk is named (DESIGN.md, Faults)."""
    Store(path.parent).write_bytes(data, path.name)


def write_text_atomic(text: str, path: Path) -> None:
    write_bytes_atomic(text.encode("utf-8"), path)


def write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    write_text_atomic(df.to_csv(index=False), path)


def load_study(study_dir: str | Path) -> Study:
    """Read a study folder. When results.csv is missing it is rebuilt from tune/ and written (once)."""
    root = Path(study_dir).expanduser()
    check_is_study(root)
    results_path, curves_path = root / "results.csv", root / "curves.csv"
    source = "results.csv"
    raw = read_results(results_path, set_aside=(root / "tune").is_dir()) if results_path.exists() else None
    if raw is None and results_path.exists():
        raise StudyDirError(f"{results_path}: cannot be read as the study's results and there is no tune/ to "
                            "rebuild it from; allowed: restore results.csv from a copy")
    if raw is not None:
        raw_curves = (read_curves(curves_path) if curves_path.exists() else None)
        if raw_curves is None:
            raw_curves = load_tune_folder(root / "tune")[1] if (root / "tune").is_dir() else pd.DataFrame()
    elif (root / "tune").is_dir():
        raw, raw_curves = load_tune_folder(root / "tune")
        source = "tune/"
        if curves_path.exists() and read_curves(curves_path) is not None:
            curves_path = None   # a readable curves.csv is kept
    else:
        raise StudyDirError(f"{root}: has neither results.csv nor tune/ (it has not run yet); allowed: a folder "
                            "written by `study run` that has run")
    spec_path, env_path = root / "spec.toml", root / "env.json"
    spec_text, spec = read_spec(spec_path)
    full = full_sizes(raw, spec)
    trials = tidy_trials(raw, full)
    if source == "tune/":
        # Persist what we rebuilt so the next `study report` reads the same rows (idempotent reports);
        # "full" stays "full" there, as the driver writes it.
        write_csv_atomic(tidy_trials(raw, {}), results_path)
        trials = tidy_trials(pd.read_csv(results_path), full)
        if curves_path is not None:
            write_csv_atomic(tidy_curves(raw_curves, trials), curves_path)
            raw_curves = pd.read_csv(curves_path)
        else:
            raw_curves = pd.read_csv(root / "curves.csv")
    return Study(
        root=root, trials=with_units(trials, spec), curves=tidy_curves(raw_curves, trials),
        spec=spec, spec_text=spec_text,
        env=read_env(env_path), runs=read_runs(root / "run.json"),
        gans=load_gans(root), source=source, full_sizes=full)


def with_units(trials: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Trials with their independent unit: results.csv's `subset_seed`, written since nested GAN repeats
    exist. A results.csv from before then under `gan.repeats = "once"` drew every seed's subset and GAN
    with seed 0, so all its seeds are one unit; any other older study drew one per seed."""
    if "subset_seed" in trials or trials.empty or "seed" not in trials:
        return trials
    once = (spec.get("gan") or {}).get("repeats") == "once"
    return trials.assign(subset_seed=0 if once else trials["seed"])
