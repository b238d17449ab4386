"""How much the papers' protocol overstates accuracy: test_acc_max - test_acc_at_best_val.

The papers report the best test accuracy over the epochs, i.e. they choose the epoch on the test set.
Choosing it on validation and reading the test accuracy there is what a deployed model would score.
Both come from the same trial, so the gap is a paired difference within each trial; it is >= 0 by
construction (a maximum over epochs is at least any one epoch). It measures the papers' protocol only
for a study that trained the classifier the papers' way (`classifier.schedule = "epochs"`): under early
stopping or matched steps the best test epoch is still optimistic, but not what the papers reported,
and the table says so (`is_papers_protocol`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.cells import per_seed, sort_key, varying_axes
from analysis.metrics import PAPERS_PROTOCOL, PAPERS_SCHEDULE, REPORTED_DEFAULT, has_data, schedules
from analysis.render import Table, fmt_axis
from analysis.stats import mean_ci

GAP_METHOD = ("mean over ok trials of test_acc_max - test_acc_at_best_val; 95% CI: t interval over "
              "trials (each trial's gap is paired within that trial: one run, two epoch choices)")


@dataclass(frozen=True)
class ProtocolGap:
    mean: float
    lo: float
    hi: float
    n: int                 # trials
    method: str = GAP_METHOD


def is_papers_protocol(trials: pd.DataFrame, specs: tuple[dict, ...] = ()) -> bool:
    """Every trial trained under the papers' schedule, so test_acc_max is what the papers measured."""
    return schedules(trials, specs) == [PAPERS_SCHEDULE]


def measurable(trials: pd.DataFrame) -> bool:
    return has_data(trials, PAPERS_PROTOCOL) and has_data(trials, REPORTED_DEFAULT)


def protocol_gap(trials: pd.DataFrame) -> ProtocolGap | None:
    """The overall gap, or None when the study has no validation split (nothing to compare)."""
    if not measurable(trials):
        return None
    ok = trials[trials["status"] == "ok"]
    gap = (pd.to_numeric(ok[PAPERS_PROTOCOL], errors="coerce")
           - pd.to_numeric(ok[REPORTED_DEFAULT], errors="coerce")).dropna()
    ci = mean_ci(gap)
    return ProtocolGap(ci.mean, ci.lo, ci.hi, ci.n)


def protocol_gap_frame(trials: pd.DataFrame) -> pd.DataFrame:
    """Per cell (size, ratio and the other varying axes): both metrics side by side and their gap, paired
    by seed, with a t CI over seeds."""
    if not measurable(trials):
        return pd.DataFrame()
    best_val, best_test = per_seed(trials, REPORTED_DEFAULT), per_seed(trials, PAPERS_PROTOCOL)
    axes = [c for c in best_val.columns if c not in ("seed", "subset_seed", "value")]
    trial = [c for c in ("subset_seed", "seed") if c in best_val]     # the same trial, both metrics
    for frame in (best_val, best_test):
        frame[axes] = frame[axes].astype(object)
    pairs = best_val.merge(best_test, on=[*axes, *trial], suffixes=("_val", "_test"))
    shown = ["size", *[a for a in varying_axes(trials) if a != "size"]]
    rows = []
    for key, group in pairs.groupby(axes, dropna=False, sort=True):
        cell = dict(zip(axes, key, strict=True))
        gap = mean_ci(group["value_test"] - group["value_val"])
        rows.append({**{a: cell[a] for a in shown}, REPORTED_DEFAULT: group["value_val"].mean(),
                     PAPERS_PROTOCOL: group["value_test"].mean(), "gap": gap.mean, "gap_lo": gap.lo,
                     "gap_hi": gap.hi, "n": gap.n})
    out = pd.DataFrame(rows)
    return out.sort_values(shown, key=sort_key, na_position="first").reset_index(drop=True)


def protocol_gap_table(trials: pd.DataFrame, specs: tuple[dict, ...] = ()) -> Table:
    """The per-cell gap; `specs` (the folders' spec.toml) say the schedule when no column does."""
    papers = is_papers_protocol(trials, specs)
    data = protocol_gap_frame(trials)
    display = data.copy()
    if len(display):
        for column in (REPORTED_DEFAULT, PAPERS_PROTOCOL):
            display[column] = display[column].map(lambda v: f"{v:.4f}")
        display["gap (95% CI)"] = [f"{g:+.4f}" + ("" if n < 2 else f" ({lo:+.4f} to {hi:+.4f})")
                                   for g, lo, hi, n in zip(data["gap"], data["gap_lo"], data["gap_hi"],
                                                           data["n"], strict=True)]
        display = display.drop(columns=["gap", "gap_lo", "gap_hi"])
        for column in [c for c in data.columns if c in display and c not in (REPORTED_DEFAULT, PAPERS_PROTOCOL, "n")]:
            display[column] = display[column].map(fmt_axis)
        display = display.rename(columns={
            "size": "size (real images)",
            REPORTED_DEFAULT: "test acc at best val epoch",
            PAPERS_PROTOCOL: "test acc at best test epoch" + (" (papers)" if papers else "")})
    notes = ["Per cell, mean over seeds; gap paired by seed (both numbers come from the same trial), 95% CI: "
             "t interval over seeds."]
    if not papers:
        used = ", ".join(f"`{s}`" for s in schedules(trials, specs))
        notes.append(f"Not the papers' protocol: this study's classifiers trained under {used}, the papers for a "
                     "fixed number of epochs; the best epoch on test is optimistic all the same.")
    title = ("How much the papers' protocol overstates accuracy, per cell" if papers else
             "How much choosing the epoch on test overstates accuracy, per cell (not the papers' protocol)")
    return Table("protocol_gap", title, display, data, tuple(notes))
