"""The report's words about the result: the headline, one line per arm, the comparison with classic
augmentation, and one line per cell saying what its verdict rests on.

The headline ranks nothing on test: the best R per cell is the one analysis/selection.py chose on
validation, and its verdict uses the Holm-adjusted p-value over every candidate the pick ranked.
Significant findings come first; a cell is named by its size and its non-GAN settings (classifier,
augmentation), never counted as a "size". A cell with fewer independent units than a general claim
needs says what happened with the GAN(s) trained, and only that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.metrics import metric_label
from analysis.selection import BEST_COLUMNS
from analysis.stats import (
    ALPHA_LEVEL,
    DEFAULT_MIN_EFFECT,
    LOCAL_HIGHER,
    LOCAL_LOWER,
    MIN_UNITS_TO_GENERALISE,
    VERDICT_HELPS,
    VERDICT_HURTS,
    VERDICT_INCONCLUSIVE,
    VERDICT_NONE,
    VERDICT_WEAK,
    is_local,
)
from analysis.words import fmt_p, pct, plural, pts, pts_range
from trainables.files.results_columns import is_gan_axis


@dataclass(frozen=True)
class Evidence:
    """What the words draw on beyond the best-R table: the GANs too weak to judge, the smallest effect
    of interest, the classic-augmentation comparisons (analysis/classic.py) and, for a confirmation
    study, what it confirms (confirm.json)."""
    weak: Mapping[str, str] = field(default_factory=dict)
    min_effect: float = DEFAULT_MIN_EFFECT
    classic_alone: pd.DataFrame | None = None
    gan_vs_classic: pd.DataFrame | None = None
    confirms: Mapping | None = None
    searched: bool = False      # an Optuna search: one seed per sampled configuration, R drawn freely


SIGNIFICANT = (VERDICT_HELPS, VERDICT_HURTS)
SEARCH_ANSWER = ("**An Optuna search explores; it does not test**: each sampled configuration ran once (one seed, "
                 "R drawn from a range), so no configuration has R = 0 units to be compared with, and the best one "
                 "was picked among all the trials. The tables below rank what was explored, on validation. For an "
                 "answer, `study confirm DIR` reruns the best configuration against R = 0 on fresh seeds, subsets "
                 "and GANs and tests it once.")


def _group_axes(best: pd.DataFrame) -> list[str]:
    return [c for c in best.columns if c not in BEST_COLUMNS and c != "real" and not is_gan_axis(c)]


def _arm_axes(best: pd.DataFrame) -> list[str]:
    return [a for a in _group_axes(best) if a != "size"]


def _setting(axis: str, value) -> str:
    if axis == "augment":
        return "no augmentation" if value == "none" else f"{value} augmentation"
    return str(value) if axis == "classifier" else f"{axis} {value}"


def _arm_label(row: pd.Series, axes: list[str]) -> str:
    return ", ".join(_setting(a, row[a]) for a in axes if a in row.index)


def _cell_label(row: pd.Series, axes: list[str]) -> str:
    extra = _arm_label(row, [a for a in axes if a != "size"])
    return f"n = {row['size']} real images" + (f" ({extra})" if extra else "")


def _short_label(row: pd.Series, axes: list[str]) -> str:
    extra = _arm_label(row, [a for a in axes if a != "size"])
    return (f"{extra} at " if extra else "") + f"n = {row['size']}"


def _significant_first(rows: pd.DataFrame) -> pd.DataFrame:
    order = (~rows["verdict"].isin(SIGNIFICANT)).astype(int)
    return rows.assign(_order=order).sort_values("_order", kind="stable").drop(columns="_order")


def answer_lines(best: pd.DataFrame, metric: str, evidence: Evidence | None = None) -> list[str]:
    """Plain words: the headline, then one line per arm when there are several, the classic-
    augmentation comparison when the study has one, then one line per cell, significant ones first."""
    evidence = evidence or Evidence()
    if evidence.searched:
        return [SEARCH_ANSWER]
    real = best[best["real"].astype(bool)] if "real" in best else best
    if best.empty:
        return ["No trial with synthetic images finished, so there is nothing to compare with R = 0 yet."]
    if real.empty:
        return ["This study trained on synthetic images only (no real + synthetic trials); "
                "see Abadi Tables 1-3 below for how close synthetic-only training gets to real data."]
    axes = _group_axes(real)
    lines = []
    if evidence.confirms:
        lines += [_confirmation_line(evidence.confirms), ""]
    lines += [_headline(real, metric, evidence, axes), ""]
    weak = real["verdict"] == VERDICT_WEAK
    if weak.any() and not weak.all():
        lines += [f"**{int(weak.sum())} of {len(real)} cell(s) are inconclusive**: their GAN was too weak to judge "
                  "(see the GAN quality table); the verdicts of the other cells stand.", ""]
    if len(_arms(real, axes)) > 1:
        lines += ["**Per arm**:", *_arm_lines(real, axes), ""]
    lines += _classic_lines(evidence, axes)
    ordered = _significant_first(real)
    return lines + ["**Per cell** (what each verdict rests on):",
                    *[_cell_line(row, axes, metric, evidence.min_effect) for _, row in ordered.iterrows()]]


def console_lines(best: pd.DataFrame, metric: str, evidence: Evidence | None = None) -> list[str]:
    """The answer as the console prints it after a run: the report's words without markdown."""
    return [line.replace("**", "").replace("`", "") for line in answer_lines(best, metric, evidence) if line]


# ---------------------------------------------------------------- the headline
def _finding(row: pd.Series, axes: list[str]) -> str:
    return (f"{_short_label(row, axes)}: {pts(row['gain'])} at R = {row['best_ratio']:g} "
            f"(Holm p = {row['p_holm']:.3g} over {plural(int(row['family_size']), 'candidate')}, "
            f"{plural(int(row['n']), 'unit')}" + ("; weak GAN" if row.get("weak_gan") else "") + ")")


def _headline(real: pd.DataFrame, metric: str, evidence: Evidence, axes: list[str]) -> str:
    label = metric_label(metric)
    verdicts = real["verdict"].astype(str)
    cells = plural(len(real), "cell")
    if (verdicts == VERDICT_WEAK).all():
        return (f"**Inconclusive: the GANs were too weak to judge** (every cell read a weak GAN; "
                f"{plural(len(evidence.weak), 'weak GAN key')} in all): their samples "
                "teach a classifier too little of what the real images teach, so whether GAN images help cannot "
                "be told from these GANs. Train them longer or with a better recipe (`gan.epochs`, `gan.recipe`); "
                "the GAN quality table below says which keys and why.")
    if verdicts.str.startswith("untested").all():
        return ("**Not enough repeats to tell yet**: no cell has a paired R = 0 unit with spread to test, so no gain "
                "over R = 0 can be tested; rerun with `--set seeds=3` (or more) for an answer with error bars.")
    local = verdicts.map(is_local)
    if local.all():
        return _local_headline(real, axes)
    helped, hurt = real[verdicts == VERDICT_HELPS], real[verdicts == VERDICT_HURTS]
    test = f"paired t-test over independent units, Holm-adjusted over every arm x ratio of a cell, p < {ALPHA_LEVEL}"
    tail = f" ({int(local.sum())} other cell(s) have too few units for a general claim; see below.)" if local.any() else ""
    if len(helped) or len(hurt):
        if len(helped) == len(real):
            head = f"**Adding synthetic images helped in every cell tested ({cells})**"
        else:
            parts = [f"helped in {len(helped)}" if len(helped) else "", f"hurt in {len(hurt)}" if len(hurt) else ""]
            head = f"**Adding synthetic images {' and '.join(p for p in parts if p)} of {cells}**"
        found = "; ".join(_finding(r, axes) for _, r in pd.concat([helped, hurt]).iterrows())
        return f"{head} ({label}, {test}): {found}.{tail}"
    margin = f"±{evidence.min_effect * 100:g} pts"
    open_cells = real[verdicts.str.startswith(VERDICT_INCONCLUSIVE + ":") & (verdicts != VERDICT_WEAK)]
    if len(open_cells):
        spans = "; ".join(f"{_short_label(r, axes)}: {pts_range(r['adj_lo'], r['adj_hi'])}"
                          for _, r in open_cells.iterrows())
        return (f"**Inconclusive**: no cell showed a significant gain or loss ({test}), but in "
                f"{len(open_cells)} of {cells} the adjusted interval reaches beyond the smallest effect of interest "
                f"({margin}, `eval.min_effect`), so a change that size cannot be ruled out ({spans}). More units "
                f"narrow it: `study resume DIR --set seeds=...` (independent units: see `gan.repeats`)." + tail)
    zero_best = bool((real["ratios_lower"] == real["ratios_tested"]).all()) if "ratios_lower" in real else False
    if (verdicts == VERDICT_NONE).all():
        return (f"**Adding synthetic images made no meaningful difference** in any of the {cells} on {label}: every "
                f"adjusted interval lies within {margin} (`eval.min_effect`)"
                + ("; R = 0 is best in every cell." if zero_best else ".") + tail)
    return (f"**No cell showed a significant gain or loss** ({test}) on {label}"
            + ("; R = 0 is best in every cell." if zero_best else ".") + tail)


def _local_headline(real: pd.DataFrame, axes: list[str]) -> str:
    units = sorted({int(n) for n in real["n"]})
    gans = "one GAN" if units == [1] else f"{'/'.join(map(str, units))} GANs"
    by_word = {LOCAL_HIGHER: [], LOCAL_LOWER: [], "other": []}
    for _, row in real.iterrows():
        word = next((w for w in (LOCAL_HIGHER, LOCAL_LOWER) if row["verdict"].startswith(w)), "other")
        by_word[word].append(f"{_short_label(row, axes)} ({pts(row['gain'])} at R = {row['best_ratio']:g})")
    said = [f"higher at {', '.join(by_word[LOCAL_HIGHER])}" if by_word[LOCAL_HIGHER] else "",
            f"lower at {', '.join(by_word[LOCAL_LOWER])}" if by_word[LOCAL_LOWER] else "",
            f"no clear difference at {', '.join(by_word['other'])}" if by_word["other"] else ""]
    return (f"**Holds for the {gans} trained per cell, not in general**: each cell has fewer than "
            f"{MIN_UNITS_TO_GENERALISE} independent units (a real subset and its GAN), so its classifier repeats "
            f"measure classifier noise, not what another GAN would do. With the GAN(s) trained, accuracy was "
            f"{'; '.join(s for s in said if s)} (Holm-adjusted over the classifier repeats). For a general answer "
            f"train at least {MIN_UNITS_TO_GENERALISE} GANs per size (`gan.repeats = {MIN_UNITS_TO_GENERALISE}`, "
            f"seeds a multiple of it).")


def _confirmation_line(confirms: Mapping) -> str:
    arm = ", ".join(f"{k} {v}" for k, v in (confirms.get("arm") or {}).items())
    explored = confirms.get("explored") or {}
    before = ""
    if explored.get("gain") is not None:
        before = (f"; the exploration measured {pts(explored['gain'])}"
                  + (f", Holm p = {explored['p_holm']:.3g}" if explored.get("p_holm") is not None else "")
                  + (f" over {explored['candidates']} candidates" if explored.get("candidates") else ""))
    return (f"**Confirmation of `{confirms.get('confirms', '?')}`**: the arm chosen there ({arm or 'its settings'}, "
            f"R = {float(confirms.get('ratio', np.nan)):g}) rerun against R = 0 on fresh seeds, subsets and GANs "
            f"and tested once{before}. The verdict below rests on this study alone.")


# ---------------------------------------------------------------- per arm, classic, per cell
def _arms(real: pd.DataFrame, axes: list[str]) -> list[tuple]:
    arm_axes = [a for a in axes if a != "size"]
    return list(dict.fromkeys(tuple(r[a] for a in arm_axes) for _, r in real.iterrows())) if arm_axes else [()]


def _arm_lines(real: pd.DataFrame, axes: list[str]) -> list[str]:
    arm_axes = [a for a in axes if a != "size"]
    lines = []
    for _, group in real.groupby(arm_axes, dropna=False, sort=False):
        group = _significant_first(group)
        said = [f"{_brief(row['verdict'])} at n = {row['size']} ({pts(row['gain'])})" for _, row in group.iterrows()]
        lines.append((0 if group["verdict"].isin(SIGNIFICANT).any() else 1,
                      f"- **{_arm_label(group.iloc[0], arm_axes)}**: {'; '.join(said)}"))
    return [line for _, line in sorted(lines, key=lambda item: item[0])]


def _brief(words: str) -> str:
    return words.split(" (", 1)[0] if is_local(words) else words.split(":", 1)[0] if words.startswith(
        VERDICT_INCONCLUSIVE + ":") and words != VERDICT_WEAK else words


def _classic_lines(evidence: Evidence, axes: list[str]) -> list[str]:
    alone, versus = evidence.classic_alone, evidence.gan_vs_classic
    if alone is None or alone.empty:
        return []
    lines = ["**Against classic augmentation** (flips and crops, no GAN; paired by unit, Holm over the cells):"]
    keyed = {_key(r, axes): r for _, r in versus.iterrows()} if versus is not None else {}
    for _, row in alone.iterrows():
        line = (f"- {_short_label(row, axes)}: classic augmentation alone {pts(row['gain'])} "
                f"({pts_range(row['adj_lo'], row['adj_hi'])}, {fmt_p(row['p_holm'], 'Holm p')})")
        other = keyed.get(_key(row, axes))
        if other is not None:
            line += (f"; the chosen GAN images (R = {other['best_ratio']:g}) against classic augmentation alone: "
                     f"{pts(other['gain'])} ({pts_range(other['adj_lo'], other['adj_hi'])}, "
                     f"{fmt_p(other['p_holm'], 'Holm p')})")
        lines.append(line + ".")
    return [*lines, "- GAN images on top of classic augmentation: the cells with classic augmentation below.", ""]


def _key(row: pd.Series, axes: list[str]) -> tuple:
    return tuple(str(row[a]) for a in axes if a in row.index and a != "augment")


def _gan_arm(row: pd.Series) -> list[str]:
    """The GAN settings of the chosen cell, when the study varied them (best_ratio_table names them)."""
    return [f"{c} {row[c]:g}" if isinstance(row[c], float) else f"{c} {row[c]}"
            for c in row.index if is_gan_axis(c) and c not in BEST_COLUMNS and pd.notna(row[c])]


def _chosen(row: pd.Series) -> str:
    """R = 0.5, with the chosen GAN arm when there were several: R = 0.5 (alpha 2)."""
    arm = _gan_arm(row)
    return f"R = {row['best_ratio']:g}" + (f" ({', '.join(arm)})" if arm else "")


def _cell_line(row: pd.Series, axes: list[str], metric: str, min_effect: float) -> str:
    units, words = int(row["n"]), str(row["verdict"])
    candidates = plural(int(row["family_size"]), "candidate")
    if is_local(words):
        evidence = (f"{plural(units, 'unit')}: {int(row['n_repeats'])} classifier repeat pair(s) of the GAN(s) trained; "
                    f"classifier-noise interval {pts_range(row['local_lo'], row['local_hi'])}, adjusted over "
                    f"{candidates}; not a general claim")
    else:
        evidence = (f"adjusted CI {pts_range(row['adj_lo'], row['adj_hi'])}, {fmt_p(row['p_holm'], 'Holm p')} over "
                    f"{candidates}; before correction 95% CI {pts_range(row['gain_lo'], row['gain_hi'])}, "
                    f"{fmt_p(row['p_value'])}; {plural(units, 'unit')}")
        if _excludes_zero(row["gain_lo"], row["gain_hi"]) and words not in SIGNIFICANT:
            evidence += "; significant before correction only"
    if row.get("weak_gan"):
        evidence += f"; {row['gan_note']}"
    tested, lower = int(row.get("ratios_tested", 0) or 0), int(row.get("ratios_lower", 0) or 0)
    tried = plural(tested, "arm x ratio candidate") if _gan_arm(row) else plural(tested, "ratio")
    counts = (f"of {tried} tried, {int(row.get('ratios_helped', 0))} helped and "
              f"{int(row.get('ratios_hurt', 0))} hurt significantly")
    if tested and lower == tested:
        return (f"- {_cell_label(row, axes)}: **R = 0 is best**: every R > 0 lowered {metric_label(metric)} "
                f"({counts}); the least harmful, {_chosen(row)}, reaches {pct(row['mean'])} vs "
                f"{pct(row['baseline'])}: {pts(row['gain'])} ({evidence}) — {words}.")
    how = "chosen on test: optimistic" if row.get("chosen_on_test", True) else "chosen on validation"
    return (f"- {_cell_label(row, axes)}: best {_chosen(row)} ({how}) reaches {pct(row['mean'])} "
            f"vs {pct(row['baseline'])} without synthetic images: {pts(row['gain'])} ({evidence}) — {words}; "
            f"{counts}.")


def _excludes_zero(lo: float, hi: float) -> bool:
    return bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))
