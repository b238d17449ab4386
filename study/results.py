"""results.csv and curves.csv: the one place they are built, from the trial records and this run's Tune results.

A trial's record (`trials/<name>.json`, written by the trial when it ends) is the source of truth:
it survives driver restarts and later Tune experiments. A trial without a record is an error (with
Tune's reason when this run tried it) or "not run" (an interrupted study: `study resume` runs it).
"""

from __future__ import annotations

import json
import os

from study import plan
from study.checks import SpecError
from study.folder import SPEC_FILE, StudyFolder
from study.spec import loads_spec
from study.stage_classifiers import StageOutcome
from trainables.files.results_columns import METRIC_COLUMNS, PER_CLASS, SETTING_COLUMNS, results_columns
from trainables.files.results_files import CURVES_FILE, RESULTS_FILE, read_curves, read_results
from trainables.files.trial_records import CURVE_COLUMNS, read_trial_record

NOT_RUN = "not run (the study was interrupted; `study resume` runs it)"


def setting_columns(spec) -> list[str]:
    """Every study's settings, then a column per other setting that varies in this one."""
    return [*SETTING_COLUMNS, *[c for c in plan.varying_columns(spec) if c not in SETTING_COLUMNS]]


def _read_record(folder: StudyFolder, name: str) -> dict | None:
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
    return [{c: row.get(c) for c in CURVE_COLUMNS} for _, row in frame[frame["status"] == "running"].iterrows()]


def _entries(spec, outcome: StageOutcome, tune_results: dict) -> list[tuple[str, dict]]:
    if spec.search.mode == "grid":
        return [(plan.trial_name(point), point) for point in outcome.points]
    return [(name, plan.resolve_point(spec, result.config)) for name, result in sorted(tune_results.items())]


def results_frames(spec, folder: StudyFolder, outcome: StageOutcome):
    """(results, curves) DataFrames in the columns of trainables.files.results_columns, one results row per
    trial."""
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
            metrics, status, reason = {}, "error", NOT_RUN
        settings = {"dataset": spec.dataset, **{c: point.get(c) for c in columns}}
        row = {"trial": name, **settings, "gan_key": metrics.get("gan_key") or "", "status": status,
               "reason": reason}
        row.update({metric: metrics.get(metric) for metric in METRIC_COLUMNS})
        per_class = metrics.get(PER_CLASS)
        row[PER_CLASS] = json.dumps(per_class) if per_class is not None else ""
        rows.append(row)
        curves.extend({"trial": name, **settings, **step} for step in _curve(record, result))
    results = pd.DataFrame(rows, columns=results_columns(columns))
    if len(results):
        results = results.sort_values(["size", "ratio", "classifier", "seed", "trial"],
                                      key=lambda s: s.astype(str) if s.name == "size" else s)
    # Columns named even when no trial has a curve, so the file reads back (an empty one does not).
    return results.reset_index(drop=True), pd.DataFrame(curves, columns=["trial", "dataset", *columns, *CURVE_COLUMNS])


def write_results(folder: StudyFolder, results, curves) -> None:
    folder.store.write_text(results.to_csv(index=False), RESULTS_FILE)
    folder.store.write_text(curves.to_csv(index=False), CURVES_FILE)


def restore_results(folder: StudyFolder) -> None:
    """results.csv and curves.csv written again from the plan and the trial records where either is
    missing or damaged (then set aside first): a run stopped before its end writes neither (a half-run
    study's results would look final), and the report and `study confirm` read them. A trial without a
    record reads "not run". Nothing is written for a folder without records or a readable spec.toml, nor
    for an Optuna study (the settings of its trials are in Tune's experiment: `study resume` writes them)."""
    store = folder.store
    if not (store.exists("trials") and store.listdir("trials")) or not store.exists(SPEC_FILE):
        return
    try:
        spec = loads_spec(store.read_text(SPEC_FILE), check_registries=False)
    except (SpecError, ValueError, UnicodeDecodeError):
        return   # the report says so and goes on without the spec; `study resume` restores it from run.json
    if spec.search.mode != "grid":
        return
    missing = [name for name, read in ((RESULTS_FILE, read_results), (CURVES_FILE, read_curves))
               if read(store) is None]
    if not missing:
        return
    results, curves = results_frames(spec, folder, StageOutcome(points=plan.grid_points(spec), grids=[]))
    for name, frame in ((RESULTS_FILE, results), (CURVES_FILE, curves)):
        if name in missing:
            store.write_text(frame.to_csv(index=False), name)
    finished = int((results["reason"] != NOT_RUN).sum())
    print(f"[study] {' and '.join(missing)} written from the trial records: {finished} of {len(results)} trial(s) "
          "finished", flush=True)
