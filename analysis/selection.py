"""The best ratio R: chosen on validation, reported on test, judged with Holm-adjusted p-values.

Choosing the R with the highest *test* mean and then reporting its test gain is the winner's curse:
with k ratios the maximum of k noisy means is biased upwards. So the choice ranks cells on the mean
over seeds of `val_acc_max` (analysis/metrics.py), and the test gain of the chosen R is reported with
its paired CI, its raw p-value and its Holm-adjusted p-value over every candidate the pick ranked (all
GAN arms x ratios of the size), with the interval that agrees with the adjusted p-value; the verdict
uses the adjusted one. A study without a validation column is ranked on the reported metric
and every row says "chosen on test: optimistic".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.cells import cells_with_gains, sort_key, varying_axes
from analysis.load import tidy_trials
from analysis.metrics import SELECTION_METRIC, choose_metrics
from analysis.stats import (
    ALPHA_LEVEL,
    DEFAULT_MIN_EFFECT,
    LOCAL_HIGHER,
    LOCAL_LOWER,
    LOCAL_UNCLEAR,
    VERDICT_HELPS,
    VERDICT_HURTS,
    VERDICT_UNTESTED,
    VERDICT_WEAK,
    verdict,
)
from trainables.files.results_columns import is_gan_axis

BEST_COLUMNS = ("best_ratio", "chosen_on", "chosen_on_test", "select_mean", "mean", "n", "baseline", "gain",
                "gain_lo", "gain_hi", "boot_lo", "boot_hi", "p_value", "p_holm", "adj_lo", "adj_hi", "adj_level",
                "family_size", "n_repeats", "local_lo", "local_hi", "local_p_holm", "verdict", "weak_gan",
                "gan_note", "ratios_tested", "ratios_helped", "ratios_hurt", "ratios_lower")


def pick_best(candidates: pd.DataFrame) -> tuple[pd.Series | None, bool]:
    """The candidate cell with the highest selection mean (ties: the smaller R), and whether the choice
    fell back to the reported (test) mean because no candidate has a validation value."""
    candidates = candidates[candidates["n"] > 0]
    if candidates.empty:
        return None, False
    on_test = "select_mean" not in candidates or candidates["select_mean"].isna().all()
    rank = "mean" if on_test else "select_mean"
    ordered = candidates.assign(_rank=candidates[rank].fillna(-np.inf))
    ordered = ordered.sort_values(["_rank", "ratio"], ascending=[False, True], kind="stable")
    return ordered.iloc[0].drop("_rank"), on_test


def _weak_reason(df: pd.DataFrame, values: dict, weak: Mapping[str, str]) -> str:
    """Why a GAN read by some ok trial of the cell given by `values` was too weak to judge, or ""."""
    if not weak or "gan_key" not in df:
        return ""
    mask = df["status"] == "ok"
    for axis, value in values.items():
        if axis in df:
            mask &= df[axis].isna() if pd.isna(value) else (df[axis] == value)
    read = [k for k in dict.fromkeys(df.loc[mask, "gan_key"]) if isinstance(k, str) and k]
    keys = [k for k in read if k in weak]
    if not keys:
        return ""
    share = f"{len(keys)} of its {len(read)} GANs is weak" if len(keys) == 1 else \
        f"{len(keys)} of its {len(read)} GANs are weak"
    return f"{share} ({keys[0]}: {weak[keys[0]]})"


def _local_direction(cell: pd.Series) -> str:
    """What the classifier repeats say about the GAN(s) trained, Holm-adjusted like the general test."""
    p = cell.get("local_p_holm", np.nan)
    if p is None or not np.isfinite(p) or p >= ALPHA_LEVEL:
        return LOCAL_UNCLEAR
    return LOCAL_HIGHER if cell["gain"] > 0 else LOCAL_LOWER


def cell_verdict(cell: pd.Series, min_effect: float = DEFAULT_MIN_EFFECT, weak_reason: str = "") -> str:
    """The verdict of one tested cell (a row of cells.gains). A weak GAN turns a verdict that found
    nothing into VERDICT_WEAK (nothing can be said of GANs from it) and leaves a significant one
    standing: the report annotates it instead (best_ratio_table's weak_gan / gan_note)."""
    words = verdict(cell["gain"], cell["p_holm"], cell.get("adj_lo", np.nan), cell.get("adj_hi", np.nan),
                    int(cell.get("n_pairs", cell.get("n", 0)) or 0), min_effect, _local_direction(cell),
                    bool(cell.get("spread", True)))
    if weak_reason and words not in (VERDICT_HELPS, VERDICT_HURTS) and not words.startswith(
            (LOCAL_HIGHER, LOCAL_LOWER)):
        return VERDICT_WEAK
    return words


def _ratio_counts(group: pd.DataFrame, min_effect: float) -> dict:
    """How the R > 0 cells of one family fared against R = 0: tested, helped and hurt (Holm), and how
    many had a lower mean than R = 0 (all of them: R = 0 is the best choice there)."""
    tested = group[group["gain"].notna()]
    verdicts = [cell_verdict(r, min_effect) for _, r in tested.iterrows()]
    return {"ratios_tested": len(tested), "ratios_helped": verdicts.count(VERDICT_HELPS),
            "ratios_hurt": verdicts.count(VERDICT_HURTS), "ratios_lower": int((tested["gain"] < 0).sum())}


def best_ratio_table(df: pd.DataFrame, metric: str | None = None, select_on: str | None = None,
                     weak: Mapping[str, str] | None = None, min_effect: float | None = None) -> pd.DataFrame:
    """Best R > 0 per size (and per any other varying non-GAN axis: classifier, real, augment, ...).

    Columns: the grouping axes (size first), best_ratio, the GAN settings of the winner when they vary,
    chosen_on (the selection metric), chosen_on_test, select_mean (its mean), mean (of `metric`), n
    (independent units), baseline (R = 0 mean), gain, gain_lo, gain_hi (95% t CI before correction),
    boot_lo, boot_hi, p_value, p_holm (Holm over every candidate of the group: all GAN arms x ratios),
    adj_lo, adj_hi (the interval that agrees with p_holm), adj_level, family_size, n_repeats, local_lo,
    local_hi, local_p_holm (the classifier-noise view), verdict, weak_gan, gan_note, and for the whole
    group: ratios_tested, ratios_helped, ratios_hurt (Holm), ratios_lower (mean below R = 0).
    Only ok trials rank; a cell whose every trial diverged or errored cannot be best. `weak` (GAN key ->
    reason, analysis.gan_judgement.weak_gans) annotates the cells that read such a GAN and makes a
    verdict that found nothing VERDICT_WEAK; a significant verdict stands. `min_effect` (accuracy,
    default DEFAULT_MIN_EFFECT) is the smallest gain of interest.
    Accepts a raw results.csv frame too (the CLI's summary reads the file directly).
    """
    min_effect = DEFAULT_MIN_EFFECT if min_effect is None else min_effect
    df = tidy_trials(df)
    choice = choose_metrics(df)
    metric, select_on = metric or choice.reported, select_on or choice.selection
    merged = cells_with_gains(df, metric, select_on)
    merged = merged[(merged["n"] > 0) & (merged["ratio"].fillna(0) > 0)]
    if merged.empty:
        return pd.DataFrame(columns=["size", *BEST_COLUMNS])
    varying = [a for a in varying_axes(df) if a != "ratio"]
    group_axes = ["size"] + [a for a in varying if a != "size" and not is_gan_axis(a)]
    gan_shown = [a for a in varying if is_gan_axis(a)]
    rows = []
    for key, group in merged.groupby(group_axes, dropna=False, sort=True):
        best, on_test = pick_best(group)
        if best is None:
            continue
        chosen_on = metric if on_test else select_on
        where = dict(zip(group_axes, key, strict=True))
        weak_reason = _weak_reason(df, {**where, "ratio": best["ratio"], **{a: best[a] for a in gan_shown}},
                                   weak or {})
        rows.append({**where, "best_ratio": best["ratio"], **{a: best[a] for a in gan_shown},
                     "chosen_on": chosen_on, "chosen_on_test": chosen_on != SELECTION_METRIC,
                     "select_mean": best["select_mean"], "mean": best["mean"], "n": int(best["n"]),
                     **{c: best[c] for c in ("baseline", "gain", "gain_lo", "gain_hi", "boot_lo", "boot_hi",
                                             "p_value", "p_holm", "adj_lo", "adj_hi", "adj_level", "local_lo",
                                             "local_hi", "local_p_holm")},
                     "family_size": int(best["family_size"]) if pd.notna(best["family_size"]) else len(group),
                     "n_repeats": int(best["n_repeats"]) if pd.notna(best["n_repeats"]) else 0,
                     "verdict": cell_verdict(best, min_effect, weak_reason) if pd.notna(best["gain"])
                     else VERDICT_UNTESTED,
                     "weak_gan": bool(weak_reason), "gan_note": weak_reason,
                     **_ratio_counts(group, min_effect)})
    out = pd.DataFrame(rows)
    return out.sort_values(group_axes, key=sort_key).reset_index(drop=True)


def min_effect_of(specs) -> float:
    """The smallest effect of interest as accuracy, from spec.toml's `eval.min_effect` (points). Merged
    folders that disagree take the smallest: "no meaningful difference" must hold for every one."""
    found = [float(v) / 100 for spec in specs
             if isinstance(v := (spec.get("eval") or {}).get("min_effect"), int | float) and not isinstance(v, bool)]
    return min(found) if found else DEFAULT_MIN_EFFECT
