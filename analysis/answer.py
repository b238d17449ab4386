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
from analysis.stats import (
    ALPHA_LEVEL,
    MAX_CI_HALF_WIDTH,
    MIN_SEEDS_TO_CONCLUDE,
    VERDICT_HELPS,
    VERDICT_HURTS,
    VERDICT_INCONCLUSIVE,
    VERDICT_WEAK,
)

GAP_ROWS_SHOWN = 40     # the per-cell gap table beyond this lives in tables/protocol_gap.csv only


def fmt(x: float, signed: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def pts(x: float) -> str:
    """A gain in accuracy as signed percentage points: +1.2 pts."""
    return "n/a" if x is None or not np.isfinite(x) else f"{x * 100:+.1f} pts"


def pts_range(lo: float, hi: float) -> str:
    """A CI in points: -9.8 to -0.9 pts."""
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return "n/a"
    return f"{lo * 100:+.1f} to {hi * 100:+.1f} pts"


def pct(x: float) -> str:
    """An accuracy as a percentage: 91.2%."""
    return "n/a" if x is None or not np.isfinite(x) else f"{x * 100:.1f}%"


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
    """Plain-words answer: best R per size (chosen on validation), its test gain in points with CI, raw
    and Holm p, how many ratios helped or hurt, and whether anything helped (judged on the Holm-adjusted
    p). Where every R > 0 fell below R = 0 it says R = 0 is best and names the least harmful R. Cells
    whose GAN was too weak to judge (`weak`: GAN key -> reason) are inconclusive and it says so first."""
    real = best[best["real"].astype(bool)] if "real" in best else best
    if best.empty:
        return ["No trial with synthetic images finished, so there is nothing to compare with R = 0 yet."]
    if real.empty:
        return ["This study trained on synthetic images only (no real + synthetic trials); "
                "see Abadi Tables 1-3 below for how close synthetic-only training gets to real data."]
    group_axes = _group_axes(real)
    lines = [_headline(real, metric, weak), ""]
    inconclusive = real["verdict"] == VERDICT_WEAK
    if inconclusive.any() and not inconclusive.all():
        lines += [f"**{int(inconclusive.sum())} of {len(real)} cell(s) are inconclusive**: their GAN was too weak "
                  "to judge (see the GAN quality table); the verdict above covers the others.", ""]
    return lines + [_size_line(row, group_axes, metric) for _, row in real.iterrows()]


def _headline(real: pd.DataFrame, metric: str, weak: Mapping[str, str] | None) -> str:
    label = metric_label(metric)
    test = f"paired t-test, Holm-adjusted over the ratios of each size, p < {ALPHA_LEVEL}"
    verdicts = real["verdict"].astype(str)
    helped = real[verdicts == VERDICT_HELPS]
    if (verdicts == VERDICT_WEAK).all():
        return (f"**Inconclusive: the GANs were too weak to judge** ({len(weak or {})} GAN key(s)): their samples "
                "teach a classifier less than half of what the real images teach above chance, so whether GAN "
                "images help cannot be told from these GANs. Train them longer or with a better recipe "
                "(`gan.epochs`, `gan.recipe`); the GAN quality table below says which keys and why.")
    if verdicts.str.startswith("untested").all():
        return ("**Not enough repeats to tell yet**: every cell has fewer than 2 paired seeds, so no gain over "
                "R = 0 can be tested; rerun with `--set seeds=3` (or more) for an answer with error bars.")
    if len(helped) == len(real):
        return f"**Adding synthetic images helped at every size tested** ({label}, {test})."
    if len(helped):
        where = ", ".join(_group_label(r, _group_axes(real)) for _, r in helped.iterrows())
        return (f"**Adding synthetic images helped only for {where}** ({test}); elsewhere no R beat R = 0 "
                "significantly.")
    zero_best = bool((real["ratios_lower"] == real["ratios_tested"]).all()) if "ratios_lower" in real else False
    if (verdicts == VERDICT_HURTS).all():
        return (f"**Adding synthetic images hurt at every size**: R = 0 is best; even the least harmful R lowered "
                f"{label} significantly ({test}).")
    wide = int((verdicts == VERDICT_INCONCLUSIVE).sum())
    if wide:
        return (f"**Inconclusive**: no ratio R beat R = 0 significantly, but at {wide} of {len(real)} size(s) "
                f"too few seeds (under {MIN_SEEDS_TO_CONCLUDE}) or too wide a 95% CI (over "
                f"±{MAX_CI_HALF_WIDTH * 100:.0f} pts) leave a gain as possible as a loss; extend the study with "
                "`study resume DIR --set seeds=5`.")
    return (f"**Adding synthetic images did not help at any size**: no ratio R beat R = 0 significantly ({test}) "
            f"on {label}" + ("; R = 0 is best at every size." if zero_best else "."))


def _size_line(row: pd.Series, group_axes: list[str], metric: str) -> str:
    ci = f"95% CI {pts_range(row['gain_lo'], row['gain_hi'])}"
    seeds = f"{row['n']} seed{'' if row['n'] == 1 else 's'}"
    stats = f"{ci}, {fmt_p(row['p_value'])}, {fmt_p(row['p_holm'], 'Holm p')}, {seeds}"
    tested, lower = int(row.get("ratios_tested", 0) or 0), int(row.get("ratios_lower", 0) or 0)
    counts = (f"of {tested} ratio{'' if tested == 1 else 's'} tried, {int(row.get('ratios_helped', 0))} helped and "
              f"{int(row.get('ratios_hurt', 0))} hurt significantly")
    if tested and lower == tested:
        return (f"- {_group_label(row, group_axes)}: **R = 0 is best**: every R > 0 lowered "
                f"{metric_label(metric)} ({counts}); the least harmful, R = {row['best_ratio']:g}, reaches "
                f"{pct(row['mean'])} vs {pct(row['baseline'])}: {pts(row['gain'])} ({stats}) — {row['verdict']}.")
    how = "chosen on test: optimistic" if row.get("chosen_on_test", True) else "chosen on validation"
    return (f"- {_group_label(row, group_axes)}: best R = {row['best_ratio']:g} ({how}) reaches {pct(row['mean'])} "
            f"vs {pct(row['baseline'])} without synthetic images: {pts(row['gain'])} ({stats}) — "
            f"{row['verdict']}; {counts}.")


def console_lines(best: pd.DataFrame, metric: str, weak: Mapping[str, str] | None = None) -> list[str]:
    """The answer as the console prints it after a run: the report's words without markdown."""
    return [line.replace("**", "").replace("`", "") for line in answer_lines(best, metric, weak) if line]


def best_display(best: pd.DataFrame) -> pd.DataFrame:
    if best.empty:
        return pd.DataFrame({"result": ["no R > 0 cell with a successful trial"]})
    out = best.drop(columns=["gain_lo", "gain_hi", "boot_lo", "boot_hi", "p_value", "p_holm", "baseline", "mean",
                             "gain", "select_mean", "chosen_on", "chosen_on_test", "ratios_tested", "ratios_helped",
                             "ratios_hurt", "ratios_lower"], errors="ignore")
    out.insert(out.columns.get_loc("n"), "mean", best["mean"].map(fmt))
    out.insert(out.columns.get_loc("best_ratio") + 1, "chosen on",
               [f"{c} (test: optimistic)" if t else f"{c} = {fmt(v)}"
                for c, t, v in zip(best["chosen_on"], best["chosen_on_test"], best["select_mean"], strict=True)])
    out["R = 0 mean"] = best["baseline"].map(fmt)
    out["gain (95% CI)"] = [f"{pts(g)} ({pts_range(lo, hi)})"
                            for g, lo, hi in zip(best["gain"], best["gain_lo"], best["gain_hi"], strict=True)]
    if "ratios_tested" in best:
        out["R > 0 helped / hurt"] = [f"{h} / {u} of {t}" for h, u, t in
                                      zip(best["ratios_helped"], best["ratios_hurt"], best["ratios_tested"], strict=True)]
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
