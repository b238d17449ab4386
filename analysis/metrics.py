"""Which metric the report shows, which one chooses, and what to say when a study lacks either.

Every rule about metrics lives here, so the tables, the headline and the plots cannot disagree:

- Reported: the spec's `eval.metric` (default `test_acc_at_best_val`: test accuracy at the epoch of
  best validation accuracy). When that column is empty (a study without a validation split), the
  tables fall back to `test_acc` (the last epoch: at least not chosen on test). The report says so.
- Selection (best epoch, best R, the DAGAN table's GAN columns): the mean over seeds of `val_acc_max`,
  never a test number. Only a study with no validation column at all is ranked on the reported
  metric, and every table built that way is marked "chosen on test: optimistic".
- The papers' protocol, `test_acc_max` (best epoch chosen on test), is named for what it is wherever
  it appears, and tables with published numbers are also built under it, like for like, but only over
  cells that trained under the papers' schedule (`classifier.schedule = "epochs"`): the best test epoch
  of an early-stopped or step-matched run is not what the papers measured (`papers_protocol_trials`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

REPORTED_DEFAULT = "test_acc_at_best_val"
SELECTION_METRIC = "val_acc_max"
PAPERS_PROTOCOL = "test_acc_max"
LAST_EPOCH = "test_acc"

PAPERS_PROTOCOL_LABEL = "test accuracy at the best epoch on test (the papers' protocol; optimistic)"
METRIC_LABELS = {
    "test_acc_at_best_val": "test accuracy at the epoch of best validation accuracy",
    "test_acc_max": PAPERS_PROTOCOL_LABEL,
    "test_acc": "test accuracy at the last epoch",
    "val_acc_max": "best validation accuracy over epochs",
    "f1": "macro F1",
    "precision": "macro precision",
    "recall": "macro recall",
}

# Schedules (spec `classifier.schedule`) and what each means for a comparison across R.
SCHEDULE_DEFAULT = "epochs"
PAPERS_SCHEDULE = "epochs"      # every paper trained its classifier a fixed number of epochs
SCHEDULE_NOTES = {
    "epochs": "a fixed number of epochs over the mixed set (the papers' protocol)",
    "steps": "the same number of optimizer updates for every R of a cell",
    "early-stop": "early stopping on validation accuracy (with patience and an epoch cap)",
}
EXTRA_UPDATES_WARNING = (
    "Under the `epochs` schedule an epoch over real + R x n synthetic images makes (1 + R) times the "
    "optimizer updates of R = 0, so part of any gain may be extra updates rather than better data; "
    "`classifier.schedule = \"steps\"` or `\"early-stop\"` separates the two.")


# Axis labels: short enough for a plot's y axis; the figure title carries the full label.
METRIC_SHORT = {"test_acc_at_best_val": "test acc. (best-val epoch)", "test_acc_max": "test acc. (best test epoch)",
                "test_acc": "test acc. (last epoch)", "val_acc_max": "best val. accuracy"}


NOT_PAPERS_PROTOCOL_LABEL = ("test accuracy at the best epoch on test (optimistic; not the papers' protocol: "
                             "the classifier did not train for fixed epochs)")


def metric_label(metric: str, papers_schedule: bool = True) -> str:
    """A metric in words; `papers_schedule` False: the study did not train the papers' way, so test_acc_max
    is not called the papers' protocol."""
    if metric == PAPERS_PROTOCOL and not papers_schedule:
        return NOT_PAPERS_PROTOCOL_LABEL
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def metric_short(metric: str) -> str:
    return METRIC_SHORT.get(metric, metric_label(metric))


def has_data(trials: pd.DataFrame, column: str) -> bool:
    """The column exists and some ok trial has a value in it."""
    if column not in trials:
        return False
    ok = trials[trials["status"] == "ok"] if "status" in trials else trials
    return bool(pd.to_numeric(ok[column], errors="coerce").notna().any())


@dataclass(frozen=True)
class MetricChoice:
    reported: str                 # what every table, gain and plot shows
    selection: str                # what chooses the best R (val_acc_max unless there is none)
    requested: str                # what the spec asked to report
    notes: tuple[str, ...] = ()   # fallbacks taken, in words for the report

    @property
    def selection_on_test(self) -> bool:
        return self.selection != SELECTION_METRIC

    @property
    def selection_label(self) -> str:
        if self.selection_on_test:
            return f"mean `{self.selection}` over seeds (chosen on test: optimistic)"
        return f"mean `{self.selection}` over seeds (best validation accuracy over epochs; never the test set)"

    @property
    def papers_protocol_too(self) -> bool:
        """Build tables with published numbers a second time under the papers' protocol."""
        return self.reported != PAPERS_PROTOCOL


def requested_metric(specs: tuple[dict, ...]) -> str:
    asked = {(spec.get("eval") or {}).get("metric") for spec in specs} - {None}
    return asked.pop() if len(asked) == 1 else REPORTED_DEFAULT


def choose_metrics(trials: pd.DataFrame, specs: tuple[dict, ...] | dict = ()) -> MetricChoice:
    """The reported and the selection metric of a study (or of several merged folders)."""
    specs = (specs,) if isinstance(specs, dict) else tuple(specs)
    requested = requested_metric(specs)
    notes = []
    if len({(s.get("eval") or {}).get("metric") for s in specs if (s.get("eval") or {}).get("metric")}) > 1:
        notes.append(f"The merged folders ask for different `eval.metric`s; tables report `{requested}`.")
    reported = requested
    if not has_data(trials, requested):
        order = (LAST_EPOCH, PAPERS_PROTOCOL)
        reported = next((m for m in order if has_data(trials, m)), order[0])
        notes.append(f"`{requested}` is empty (this study has no validation split); the tables report "
                     f"`{reported}` instead: {metric_label(reported)}.")
    selection = SELECTION_METRIC if has_data(trials, SELECTION_METRIC) else reported
    if selection != SELECTION_METRIC:
        notes.append(f"No `{SELECTION_METRIC}` column: the best R is chosen on `{selection}`, i.e. on the "
                     "test set, which flatters the winner (chosen on test: optimistic).")
    return MetricChoice(reported, selection, requested, tuple(notes))


def schedules(trials: pd.DataFrame, specs: tuple[dict, ...]) -> list[str]:
    """The classifier schedules a study used: the varying column, else the spec key, else `epochs`."""
    if "classifier_schedule" in trials and trials["classifier_schedule"].notna().any():
        return sorted(trials["classifier_schedule"].dropna().astype(str).unique())
    found: set[str] = set()
    for spec in specs:
        value = (spec.get("classifier") or {}).get("schedule", SCHEDULE_DEFAULT)
        found.update(map(str, value) if isinstance(value, list) else [str(value)])
    return sorted(found) or [SCHEDULE_DEFAULT]


def papers_protocol_trials(trials: pd.DataFrame, specs: tuple[dict, ...] = ()) -> pd.DataFrame | None:
    """The trials whose best epoch on test is the papers' protocol: those trained under the papers'
    schedule (fixed epochs). None when there are none (early stopping or matched steps throughout)."""
    used = schedules(trials, specs)
    if PAPERS_SCHEDULE not in used:
        return None
    if len(used) == 1:
        return trials
    if "classifier_schedule" not in trials:
        return None     # merged folders of different schedules: which trial ran which is not recorded
    return trials[trials["classifier_schedule"].astype(str) == PAPERS_SCHEDULE]
