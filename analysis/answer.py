"""The report's words about the result: the headline answer and how its numbers were chosen.

The headline ranks nothing on test: the best R per size is the one analysis/selection.py chose on
validation, its verdict uses the Holm-adjusted p-value, and the section after it says which metric
the tables report, how R was chosen, which training schedule was used (and what the papers'
`epochs` schedule confounds) and how much the papers' protocol overstates accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.columns import is_gan_axis
from analysis.load import Study
from analysis.metrics import (
    EXTRA_UPDATES_WARNING,
    PAPERS_PROTOCOL,
    REPORTED_DEFAULT,
    SCHEDULE_NOTES,
    MetricChoice,
    metric_label,
    schedules,
)
from analysis.protocol_gap import GAP_METHOD, protocol_gap, protocol_gap_table
from analysis.render import Table, to_markdown
from analysis.selection import BEST_COLUMNS
from analysis.stats import ALPHA_LEVEL, VERDICT_HELPS, VERDICT_WEAK

GAP_ROWS_SHOWN = 40     # the per-cell gap table beyond this lives in tables/protocol_gap.csv only


def fmt(x: float, signed: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def fmt_p(p: float, name: str = "p") -> str:
    if p is None or not np.isfinite(p):
        return f"{name} = n/a"
    return f"{name} < 0.0001" if p < 1e-4 else f"{name} = {p:.4f}"


def _group_axes(best: pd.DataFrame) -> list[str]:
    return [c for c in best.columns if c not in BEST_COLUMNS and c != "real" and not is_gan_axis(c)]


def _group_label(row: pd.Series, group_axes: list[str]) -> str:
    extra = [f"{a} {row[a]}" for a in group_axes if a != "size"]
    return f"n = {row['size']} real images" + (f" ({', '.join(extra)})" if extra else "")


def answer_lines(best: pd.DataFrame, metric: str, weak: Mapping[str, str] | None = None) -> list[str]:
    """Plain-words answer: best R per size (chosen on validation), its test gain with CI, raw and Holm
    p, and whether anything helped (judged on the Holm-adjusted p). Cells whose GAN was too weak to
    judge (`weak`: GAN key -> reason) are inconclusive and the answer says so first."""
    real = best[best["real"].astype(bool)] if "real" in best else best
    if best.empty:
        return ["No trial with synthetic images finished, so there is nothing to compare with R = 0 yet."]
    if real.empty:
        return ["This study trained on synthetic images only (no real + synthetic trials); "
                "see Abadi Tables 1-3 below for how close synthetic-only training gets to real data."]
    group_axes = _group_axes(real)
    helped = real[real["verdict"] == VERDICT_HELPS]
    label = metric_label(metric)
    test = f"paired t-test, Holm-adjusted over the ratios of each size, p < {ALPHA_LEVEL}"
    untested = real["verdict"].astype(str).str.startswith("untested")
    inconclusive = real["verdict"] == VERDICT_WEAK
    if inconclusive.all():
        head = (f"**Inconclusive: the GANs were too weak to judge** ({len(weak or {})} GAN key(s)): their samples "
                "teach a classifier less than half of what the real images teach above chance, so whether GAN "
                "images help cannot be told from these GANs. Train them longer or with a better recipe "
                "(`gan.epochs`, `gan.recipe`); the GAN quality table below says which keys and why.")
    elif untested.all():
        head = ("**Not enough repeats to tell yet**: every cell has fewer than 2 paired seeds, so no gain over "
                "R = 0 can be tested; rerun with `--set seeds=3` (or more) for an answer with error bars.")
    elif helped.empty:
        head = (f"**Adding synthetic images did not help at any size**: no ratio R beat R = 0 significantly "
                f"({test}) on {label}.")
    elif len(helped) == len(real):
        head = f"**Adding synthetic images helped at every size tested** ({label}, {test})."
    else:
        where = ", ".join(_group_label(r, group_axes) for _, r in helped.iterrows())
        head = (f"**Adding synthetic images helped only for {where}** ({test}); elsewhere no R beat R = 0 "
                "significantly.")
    lines = [head, ""]
    if inconclusive.any() and not inconclusive.all():
        lines += [f"**{int(inconclusive.sum())} of {len(real)} cell(s) are inconclusive**: their GAN was too weak "
                  "to judge (see the GAN quality table); the verdict above covers the others.", ""]
    for _, row in real.iterrows():
        ci = f"95% CI {fmt(row['gain_lo'], True)} to {fmt(row['gain_hi'], True)}"
        how = "chosen on test: optimistic" if row.get("chosen_on_test", True) else "chosen on validation"
        lines.append(
            f"- {_group_label(row, group_axes)}: best R = {row['best_ratio']:g} ({how}) reaches {fmt(row['mean'])} "
            f"vs {fmt(row['baseline'])} without synthetic images: gain {fmt(row['gain'], True)} ({ci}, "
            f"{fmt_p(row['p_value'])}, {fmt_p(row['p_holm'], 'Holm p')}, {row['n']} seeds) — {row['verdict']}.")
    return lines


def best_display(best: pd.DataFrame) -> pd.DataFrame:
    if best.empty:
        return pd.DataFrame({"result": ["no R > 0 cell with a successful trial"]})
    out = best.drop(columns=["gain_lo", "gain_hi", "boot_lo", "boot_hi", "p_value", "p_holm", "baseline", "mean",
                             "gain", "select_mean", "chosen_on", "chosen_on_test"])
    out.insert(out.columns.get_loc("n"), "mean", best["mean"].map(fmt))
    out.insert(out.columns.get_loc("best_ratio") + 1, "chosen on",
               [f"{c} (test: optimistic)" if t else f"{c} = {fmt(v)}"
                for c, t, v in zip(best["chosen_on"], best["chosen_on_test"], best["select_mean"], strict=True)])
    out["R = 0 mean"] = best["baseline"].map(fmt)
    out["gain (95% CI)"] = [f"{fmt(g, True)} ({fmt(lo, True)} to {fmt(hi, True)})"
                            for g, lo, hi in zip(best["gain"], best["gain_lo"], best["gain_hi"], strict=True)]
    out["p"] = best["p_value"].map(fmt_p)
    out["Holm p"] = best["p_holm"].map(lambda p: fmt_p(p, "p"))
    out = out[[c for c in out if c != "verdict"] + ["verdict"]]
    for column in ("best_ratio", *[c for c in out if c.startswith("alpha")]):
        out[column] = out[column].map(lambda v: f"{v:g}" if isinstance(v, float) else v)
    if "real" in out:
        out["real"] = out["real"].map({True: "real + synthetic", False: "synthetic only"})
        out = out.rename(columns={"real": "training data"})
    return out.rename(columns={"size": "size (real images)", "best_ratio": "best R"})


def best_table(best: pd.DataFrame, choice: MetricChoice) -> Table:
    notes = (f"Best R: the R > 0 with the highest {choice.selection_label}; ties go to the smaller R.",
             f"Gain: {metric_label(choice.reported)} minus R = 0, paired by seed; CI: 95%, t distribution; "
             "p: paired t-test; Holm p: adjusted over every ratio tested with the same other axes; the "
             "verdict uses Holm p.")
    how = "chosen on test: optimistic" if choice.selection_on_test else "chosen on validation"
    return Table("best_ratio", f"Best ratio R per size ({how}) and its test gain over R = 0",
                 best_display(best), best, notes)


def _schedule_lines(study: Study) -> list[str]:
    used = schedules(study.trials, study.specs)
    described = "; ".join(f"`{s}`: {SCHEDULE_NOTES.get(s, 'a schedule this report does not know')}" for s in used)
    said = any("schedule" in (s.get("classifier") or {}) for s in study.specs) or \
        "classifier_schedule" in study.trials
    assumed = "" if said else " (spec.toml does not say: assumed, the only schedule before the key existed)"
    lines = [f"- Training schedule (`classifier.schedule`): {described}{assumed}."]
    if "epochs" in used:
        lines.append(f"- **Caution**: {EXTRA_UPDATES_WARNING}")
    patience = {str((s.get("classifier") or {}).get("patience")) for s in study.specs} - {"None"}
    if patience and "early-stop" in used:
        lines.append(f"- Early-stop patience: {', '.join(sorted(patience))} epochs without a better validation "
                     "accuracy.")
    return lines


def method_section(study: Study, choice: MetricChoice, report_tables: list[Table]) -> list[str]:
    """## How these numbers were chosen: metric, selection, tests, schedule, protocol gap."""
    lines = ["## How these numbers were chosen", "",
             f"- Tables and gains report **{metric_label(choice.reported)}** (`{choice.reported}`).",
             *[f"- {note}" for note in choice.notes],
             f"- The best R per size (and per classifier, training data, augmentation) is chosen on "
             f"{choice.selection_label}; its test gain is then reported as measured.",
             "- Gains over R = 0 are paired by seed (same real subset); p-values are paired t-tests, "
             "Holm-adjusted over the ratios tested with every other axis equal; verdicts use the adjusted "
             "p-value, the raw one is shown beside it.",
             *_schedule_lines(study)]
    gap = protocol_gap(study.trials)
    if gap is None:
        why = "this results.csv predates validation columns" if choice.legacy else "no validation split"
        lines += [f"- Papers' protocol gap: not measurable here (`{REPORTED_DEFAULT}` is empty: {why}), so "
                  f"how optimistic `{PAPERS_PROTOCOL}` is cannot be measured.", ""]
        return lines
    lines += [f"- **Papers' protocol gap**: choosing the epoch on test (`{PAPERS_PROTOCOL}`, the papers' "
              f"protocol) instead of on validation (`{REPORTED_DEFAULT}`) adds {fmt(gap.mean, True)} accuracy "
              f"on average (95% CI {fmt(gap.lo, True)} to {fmt(gap.hi, True)}, {gap.n} trials; {GAP_METHOD}). "
              "Published numbers measured that way are optimistic by about as much.", ""]
    table = protocol_gap_table(study.trials)
    report_tables.append(table)
    shown = table.display.head(GAP_ROWS_SHOWN)
    more = len(table.display) - len(shown)
    lines += [f"**{table.title}**", "", to_markdown(shown)]
    if more:
        lines += ["", f"... {more} more row(s) in [tables/protocol_gap.csv](tables/protocol_gap.csv)."]
    return lines + ["", *[f"- {n}" for n in table.notes], ""]
