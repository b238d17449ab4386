"""## How these numbers were chosen: the metric, how R was chosen, the tests and what they count,
the training schedule, and how much the papers' protocol (best epoch on test) overstates accuracy."""

from __future__ import annotations

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
from analysis.stats import ALPHA_LEVEL, MIN_UNITS_TO_GENERALISE
from analysis.words import fmt

GAP_ROWS_SHOWN = 40     # the per-cell gap table beyond this lives in tables/protocol_gap.csv only


def _schedule_lines(study: Study) -> list[str]:
    used = schedules(study.trials, study.specs)
    described = "; ".join(f"`{s}`: {SCHEDULE_NOTES.get(s, 'a schedule this report does not know')}" for s in used)
    said = any("schedule" in (s.get("classifier") or {}) for s in study.specs) or \
        "classifier_schedule" in study.trials
    assumed = "" if said else " (spec.toml could not be read: assumed, the spec's default)"
    lines = [f"- Training schedule (`classifier.schedule`): {described}{assumed}."]
    if "epochs" in used:
        lines.append(f"- **Caution**: {EXTRA_UPDATES_WARNING}")
    patience = {str((s.get("classifier") or {}).get("patience")) for s in study.specs} - {"None"}
    if patience and "early-stop" in used:
        lines.append(f"- Early-stop patience: {', '.join(sorted(patience))} epochs without a better validation "
                     "accuracy.")
    return lines


def method_section(study: Study, choice: MetricChoice, report_tables: list[Table], min_effect: float) -> list[str]:
    """## How these numbers were chosen: metric, selection, tests, schedule, protocol gap."""
    lines = ["## How these numbers were chosen", "",
             f"- Tables and gains report **{metric_label(choice.reported)}** (`{choice.reported}`).",
             *[f"- {note}" for note in choice.notes],
             f"- The best R per size (and per classifier, training data, augmentation) is chosen on "
             f"{choice.selection_label}; its test gain is then reported as measured.",
             "- **Unit of replication**: a real subset and the GAN trained on it (results.csv `subset_seed`). "
             "Classifier repeats inside a unit are averaged first; every CI and test runs over units, and gains "
             "over R = 0 are paired by unit (same real subset).",
             f"- **Tests**: paired t-tests over units, Holm-adjusted over every candidate the best-R pick ranked "
             f"(all GAN arms x ratios of a size, classifier and augmentation); the interval beside a verdict is "
             f"the t interval at the level Holm used for that test, so it excludes 0 exactly when Holm p < "
             f"{ALPHA_LEVEL}. The unadjusted 95% CI is shown as \"before correction\".",
             f"- **Verdicts**: \"helps\"/\"hurts\" need Holm p < {ALPHA_LEVEL} over at least "
             f"{MIN_UNITS_TO_GENERALISE} units; \"no meaningful difference\" needs the whole adjusted interval "
             f"inside ±{min_effect * 100:g} pts (`eval.min_effect`); otherwise \"inconclusive\" names what "
             f"cannot be ruled out. Fewer than {MIN_UNITS_TO_GENERALISE} units: the result holds for the GAN(s) "
             "trained only, judged on the classifier repeats (classifier noise, not a general spread).",
             *_schedule_lines(study)]
    gap = protocol_gap(study.trials)
    if gap is None:
        lines += [f"- Papers' protocol gap: not measurable here (`{REPORTED_DEFAULT}` is empty: no validation "
                  f"split), so how optimistic `{PAPERS_PROTOCOL}` is cannot be measured.", ""]
        return lines
    lines += [f"- **Papers' protocol gap**: choosing the epoch on test (`{PAPERS_PROTOCOL}`, the papers' "
              f"choice of epoch) instead of on validation (`{REPORTED_DEFAULT}`) adds {fmt(gap.mean, True)} accuracy "
              f"on average (95% CI {fmt(gap.lo, True)} to {fmt(gap.hi, True)}, {gap.n} trials; {GAP_METHOD}). "
              "Published numbers measured that way are optimistic by about as much.", ""]
    table = protocol_gap_table(study.trials, study.specs)
    report_tables.append(table)
    shown = table.display.head(GAP_ROWS_SHOWN)
    more = len(table.display) - len(shown)
    lines += [f"**{table.title}**", "", to_markdown(shown)]
    if more:
        lines += ["", f"... {more} more row(s) in [tables/protocol_gap.csv](tables/protocol_gap.csv)."]
    return lines + ["", *[f"- {n}" for n in table.notes], ""]
