"""results.csv and curves.csv from the finished trials' records and this run's Tune results.

A trial's record (`trials/<name>.json`, written by the trial when it ends) is the source of truth:
it survives driver restarts and later Tune experiments. A trial without a record is an error (with
Tune's reason when this run tried it) or "not run" (an interrupted study: `study resume` runs it).
"""

from __future__ import annotations

import json
import os

from study import plan
from study.folder import StudyFolder
from study.stage_classifiers import StageOutcome

# Every study's columns (DESIGN.md, "What a run writes"); other settings get a column when they vary.
# subset_seed (study.plan.subset_seed) names the trial's independent unit, its real subset and GAN;
# `seed` is the classifier repeat (they are equal under gan.repeats = "per-seed"). Every row has it,
# R = 0 too: the analysis pairs a GAN arm with the baseline of the same subset. validation_images: how many
# images the trial validated on (the split's hold-out, or the part carved out of its own subset).
CORE_COLUMNS = ("size", "alpha", "ratio", "classifier", "seed", "subset_seed", "real", "augment", "gan_arch",
                "conditioning")
METRIC_COLUMNS = ("val_acc_max", "best_val_epoch", "test_acc_at_best_val", "test_acc", "test_acc_max",
                  "test_loss", "train_loss", "precision", "recall", "f1", "train_seconds", "images_per_second",
                  "train_images", "train_steps", "epochs_trained", "validation_images", "balanced_acc",
                  "test_imbalance")


def setting_columns(spec) -> list[str]:
    return [*CORE_COLUMNS, *[c for c in plan.varying_columns(spec) if c not in CORE_COLUMNS]]


def _read_record(folder: StudyFolder, name: str) -> dict | None:
    from trainables.files.trial_records import read_trial_record

    return read_trial_record(folder.store, name)   # a damaged one is set aside: resume reruns it


def _tune_results(outcome: StageOutcome) -> dict:
    """trial name -> the newest Tune Result of that name in this run."""
    found = {}
    for grid in outcome.grids:
        for result in grid:
            found[os.path.basename(str(result.path).rstrip("/"))] = result
    return found


def _from_tune(result) -> tuple[dict, str, str]:
    """(metrics, status, reason) of a trial without a record."""
    metrics = dict(result.metrics or {})
    if result.error is not None:
        return metrics, "error", str(result.error).strip().splitlines()[-1][:300]
    status = metrics.get("status", "error")
    # "running": the last report of a trial an ASHA scheduler stopped early: a finished result.
    return metrics, "ok" if status == "running" else status, metrics.get("reason", "")


def _curve(record: dict | None, result) -> list[dict]:
    if record is not None:
        return record.get("curve", [])
    if result is None:
        return []
    # No record: a trial an ASHA scheduler stopped early; its curve is in its per-epoch reports.
    frame = result.metrics_dataframe
    if frame is None or "status" not in frame:
        return []
    from trainables.files.trial_records import CURVE_COLUMNS

    return [{c: row.get(c) for c in CURVE_COLUMNS} for _, row in frame[frame["status"] == "running"].iterrows()]


def _entries(spec, outcome: StageOutcome, tune_results: dict) -> list[tuple[str, dict]]:
    if spec.search.mode == "grid":
        return [(plan.trial_name(point), point) for point in outcome.points]
    return [(name, plan.resolve_point(spec, result.config)) for name, result in sorted(tune_results.items())]


def results_frames(spec, folder: StudyFolder, outcome: StageOutcome):
    """(results, curves) DataFrames in the columns DESIGN.md promises, one results row per trial."""
    import pandas as pd

    columns = setting_columns(spec)
    tune_results = _tune_results(outcome)
    rows, curves = [], []
    for name, point in _entries(spec, outcome, tune_results):
        point = {**point, "subset_seed": plan.subset_seed(spec, point.get("seed", spec.first_seed))}
        record, result = _read_record(folder, name), tune_results.get(name)
        if record is not None:
            metrics, status, reason = record, record.get("status", "error"), record.get("reason", "")
        elif result is not None:
            metrics, status, reason = _from_tune(result)
        else:
            metrics, status, reason = {}, "error", "not run (the study was interrupted; `study resume` runs it)"
        settings = {"dataset": spec.dataset, **{c: point.get(c) for c in columns}}
        row = {"trial": name, **settings, "gan_key": metrics.get("gan_key") or "", "status": status,
               "reason": reason}
        row.update({metric: metrics.get(metric) for metric in METRIC_COLUMNS})
        per_class = metrics.get("per_class_acc")
        row["per_class_acc"] = json.dumps(per_class) if per_class is not None else ""
        rows.append(row)
        curves.extend({"trial": name, **settings, **step} for step in _curve(record, result))
    results = pd.DataFrame(rows)
    if len(results):
        results = results.sort_values(["size", "ratio", "classifier", "seed", "trial"],
                                      key=lambda s: s.astype(str) if s.name == "size" else s)
    return results.reset_index(drop=True), pd.DataFrame(curves)


def write_results(folder: StudyFolder, results, curves) -> None:
    folder.store.write_text(results.to_csv(index=False), "results.csv")
    folder.store.write_text(curves.to_csv(index=False), "curves.csv")
