"""The best-R table as the report prints it: one row per size group, the chosen R, its gain with the
interval that agrees with its verdict, and the evidence the verdict rests on (units, candidates)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from analysis.metrics import MetricChoice, metric_label
from analysis.render import Table
from analysis.stats import is_local
from analysis.words import fmt, fmt_p, pts, pts_range

HIDDEN = ("gain_lo", "gain_hi", "boot_lo", "boot_hi", "p_value", "p_holm", "adj_lo", "adj_hi", "adj_level",
          "baseline", "mean", "gain", "select_mean", "chosen_on", "chosen_on_test", "ratios_tested", "ratios_helped",
          "ratios_hurt", "ratios_lower", "family_size", "n_repeats", "local_lo", "local_hi", "local_p_holm",
          "weak_gan", "gan_note")


def _zipped(best: pd.DataFrame, *columns: str):
    return zip(*(best[c] for c in columns), strict=True)


def best_display(best: pd.DataFrame, validation: Mapping | None = None) -> pd.DataFrame:
    """`validation`: size -> validation images carved out of it (eval.validation_from = "subset"), shown
    beside n; empty when the study validated on the split's shared hold-out."""
    if best.empty:
        return pd.DataFrame({"result": ["no R > 0 cell with a successful trial"]})
    out = best.drop(columns=list(HIDDEN), errors="ignore").rename(columns={"n": "units"})
    out.insert(out.columns.get_loc("units"), "mean", best["mean"].map(fmt))
    out.insert(out.columns.get_loc("best_ratio") + 1, "chosen on",
               [f"{c} (test: optimistic)" if t else f"{c} = {fmt(v)}"
                for c, t, v in _zipped(best, "chosen_on", "chosen_on_test", "select_mean")])
    out["R = 0 mean"] = best["baseline"].map(fmt)
    out["candidates"] = best["family_size"]
    out["gain (adjusted CI)"] = [
        f"{pts(g)} (classifier noise only: {pts_range(llo, lhi)})" if is_local(v) else f"{pts(g)} ({pts_range(lo, hi)})"
        for g, lo, hi, llo, lhi, v in _zipped(best, "gain", "adj_lo", "adj_hi", "local_lo", "local_hi", "verdict")]
    out["95% CI before correction"] = [pts_range(lo, hi) for lo, hi in _zipped(best, "gain_lo", "gain_hi")]
    if "ratios_tested" in best:
        out["R > 0 helped / hurt"] = [f"{h} / {u} of {t}" for h, u, t in
                                      _zipped(best, "ratios_helped", "ratios_hurt", "ratios_tested")]
    out["p"] = best["p_value"].map(fmt_p)
    out["Holm p"] = best["p_holm"].map(lambda p: fmt_p(p, "p"))
    out["verdict"] = [f"{v} (weak GAN)" if w and v in ("helps", "hurts") else v
                      for v, w in _zipped(best, "verdict", "weak_gan")]
    out = out[[c for c in out if c != "verdict"] + ["verdict"]]
    for column in ("best_ratio", *[c for c in out if c.startswith("alpha")]):
        out[column] = out[column].map(lambda v: f"{v:g}" if isinstance(v, float) else v)
    if "real" in out:
        out["real"] = out["real"].map({True: "real + synthetic", False: "synthetic only"})
        out = out.rename(columns={"real": "training data"})
    if validation and "size" in out:
        out["size"] = [f"{s:,} ({s - validation[s]:,} train + {validation[s]:,} validation)" if s in validation else s
                       for s in out["size"]]
        return out.rename(columns={"size": "size (labelled n)", "best_ratio": "best R"})
    return out.rename(columns={"size": "size (real images)", "best_ratio": "best R"})


def best_table(best: pd.DataFrame, choice: MetricChoice, validation: Mapping | None = None) -> Table:
    notes = (f"Best R: the R > 0 with the highest {choice.selection_label}; ties go to the smaller R. "
             "Candidates: every GAN arm x ratio the pick ranked for that row.",
             f"Gain: {metric_label(choice.reported)} minus R = 0, paired by independent unit (a real subset and "
             "its GAN; classifier repeats averaged first). Units: how many. p: paired t-test over units; Holm p: "
             "adjusted over the candidates; the adjusted CI is the t interval at the level Holm used, so it "
             "excludes 0 exactly when Holm p < 0.05. The verdict uses Holm p.")
    how = "chosen on test: optimistic" if choice.selection_on_test else "chosen on validation"
    return Table("best_ratio", f"Best ratio R per size ({how}) and its test gain over R = 0",
                 best_display(best, validation), best, notes)
