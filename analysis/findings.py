"""What a study found, computed once for the report and the console alike: the best R per cell with
its verdict, and the evidence the words draw on (weak GANs, the smallest effect of interest, classic
augmentation, what a confirmation study confirms)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from analysis.answer import Evidence, answer_lines, console_lines
from analysis.classic import classic_alone, gan_versus_classic
from analysis.gan_judgement import weak_gans
from analysis.inputs import GanRecord
from analysis.load import tidy_trials
from analysis.metrics import MetricChoice, choose_metrics
from analysis.selection import best_ratio_table, min_effect_of


@dataclass(frozen=True)
class Findings:
    choice: MetricChoice
    best: pd.DataFrame
    evidence: Evidence

    def lines(self) -> list[str]:
        return answer_lines(self.best, self.choice.reported, self.evidence)

    def console(self) -> list[str]:
        return console_lines(self.best, self.choice.reported, self.evidence)


def findings(trials: pd.DataFrame, specs: Sequence[dict], gans: Iterable[GanRecord] = (),
             confirms: dict | None = None) -> Findings:
    """The verdicts of `trials` (a tidy or raw results.csv frame) under the settings of `specs`."""
    trials = tidy_trials(trials)
    choice = choose_metrics(trials, specs)
    weak, min_effect = weak_gans(gans), min_effect_of(specs)
    best = best_ratio_table(trials, choice.reported, choice.selection, weak=weak, min_effect=min_effect)
    evidence = Evidence(weak, min_effect, classic_alone(trials, choice.reported),
                        gan_versus_classic(trials, choice.reported, best), confirms,
                        searched=any((spec.get("search") or {}).get("mode") == "optuna" for spec in specs))
    return Findings(choice, best, evidence)
