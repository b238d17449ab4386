"""The report's words match its numbers: gains in points, "R = 0 is best" when every R > 0
is lower, "inconclusive" when seeds are few or the CI is wide, counts of ratios that helped or hurt."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fixtures.analysis import make_study

from analysis import best_ratio_table
from analysis.answer import answer_lines, console_lines
from analysis.load import tidy_trials
from analysis.stats import VERDICT_INCONCLUSIVE, VERDICT_NONE, verdict
from analysis.words import pct, pts, pts_range

METRIC = "test_acc_at_best_val"


def _answer(**kwargs) -> tuple[list[str], object]:
    best = best_ratio_table(tidy_trials(make_study.make_trials(**kwargs)))
    return answer_lines(best, METRIC), best


def test_points_and_percentages():
    assert pts(0.0123) == "+1.2 pts" and pts(-0.039) == "-3.9 pts" and pts(np.nan) == "n/a"
    assert pts_range(-0.098, -0.009) == "-9.8 to -0.9 pts" and pts_range(np.nan, 0.1) == "n/a"
    assert pct(0.9123) == "91.2%"


@pytest.mark.parametrize("lo, hi, n, expected", [
    (-0.009, 0.009, 5, VERDICT_NONE),                                 # inside +/- 1 pt, enough units: a real "no"
    (-0.01, 0.01, 3, VERDICT_NONE),                                   # at the bound: still said
    (-0.005, 0.023, 5, "inconclusive: cannot rule out +2.3 pts"),     # a 2-point gain is still possible
    (-0.43, 0.37, 5, "inconclusive: cannot rule out +37.0 pts or -43.0 pts"),   # an interval of -43 to +37 points once reported
])
def test_no_difference_is_only_said_when_the_interval_lies_inside_the_smallest_effect(lo, hi, n, expected):
    assert verdict(-0.002, 0.6, lo, hi, n) == expected
    assert verdict(0.03, 0.01, lo, hi, n) == "helps"                  # a significant gain stands on its test


def test_min_effect_moves_the_margin():
    assert verdict(0.0, 0.6, -0.015, 0.015, 5, min_effect=0.02) == VERDICT_NONE
    assert verdict(0.0, 0.6, -0.015, 0.015, 5, min_effect=0.01).startswith(VERDICT_INCONCLUSIVE + ": cannot rule out")


def test_two_units_never_read_as_a_general_claim():
    assert verdict(0.03, 0.001, 0.01, 0.05, 2) .startswith("no clear difference for the GAN(s) trained only (2 units")
    assert verdict(0.03, 0.001, 0.01, 0.05, 1, local="higher") == \
        "higher for the GAN(s) trained only (1 unit: not a general claim)"


def test_two_noisy_seeds_read_for_the_gans_trained_only():
    lines, best = _answer(seeds=2, noise=0.2, effect={0.0: 0.0, 0.5: 0.01, 1.0: -0.01, 2.0: 0.0, 4.0: 0.0})
    assert all("for the GAN(s) trained only (2 units" in v for v in best["verdict"])
    assert lines[0].startswith("**Holds for the 2 GANs trained per cell, not in general**")


def test_noisy_units_read_inconclusive_naming_what_cannot_be_ruled_out():
    lines, best = _answer(seeds=3, noise=0.05, effect={0.0: 0.0, 0.5: 0.01, 1.0: -0.01, 2.0: 0.0, 4.0: 0.0})
    assert all(v.startswith("inconclusive: cannot rule out") for v in best["verdict"])
    assert lines[0].startswith("**Inconclusive**: no cell showed a significant gain or loss")
    assert "in 2 of 2 cells the adjusted interval reaches beyond the smallest effect of interest (±1 pts" in lines[0]


def test_a_flat_study_says_no_help_and_that_r0_is_best_when_every_ratio_is_lower():
    lines, best = _answer(seeds=5, noise=0.006, effect={0.0: 0.0, 0.5: -0.002, 1.0: -0.002, 2.0: -0.002,
                                                        4.0: -0.002})
    assert (best["ratios_lower"] == best["ratios_tested"]).all() and (best["ratios_hurt"] == 0).all()
    assert set(best["verdict"]) == {VERDICT_NONE}
    assert lines[0].startswith("**Adding synthetic images made no meaningful difference** in any of the 2 cells")
    assert lines[0].endswith("R = 0 is best in every cell.")
    size_lines = [line for line in lines if line.startswith("- n = ")]
    assert len(size_lines) == 2 and all("**R = 0 is best**: every R > 0 lowered" in line for line in size_lines)
    assert all("of 4 ratios tried, 0 helped and 0 hurt significantly" in line for line in size_lines)


def test_a_helping_ratio_is_counted_and_the_gain_given_in_points():
    lines, best = _answer(seeds=5, effect={0.0: 0.0, 0.5: 0.02, 1.0: 0.03, 2.0: -0.01, 4.0: -0.03})
    assert lines[0].startswith("**Adding synthetic images helped in every cell tested (2 cells)**")
    assert "n = 500: +3.0 pts at R = 1 (Holm p = " in lines[0] and "over 4 candidates, 5 units)" in lines[0]
    row = next(line for line in lines if line.startswith("- n = 500"))
    assert "best R = 1 (chosen on validation)" in row and "+3.0 pts" in row and "— helps;" in row
    assert "of 4 ratios tried, 2 helped and 2 hurt significantly" in row and "(adjusted CI +" in row


def test_the_interval_beside_a_verdict_agrees_with_it():
    """The quick study's report read "-5.8 pts (95% CI -10.5 to -1.1) ... no significant difference". The
    interval beside a verdict is now the Holm-consistent one; the raw CI is labelled as such."""
    for seeds, noise in ((3, 0.01), (4, 0.02), (5, 0.03), (3, 0.004)):
        for effect in ({0.0: 0.0, 0.5: 0.01, 1.0: -0.012, 2.0: 0.004, 4.0: 0.0}, make_study.EFFECT):
            best = best_ratio_table(tidy_trials(make_study.make_trials(seeds=seeds, noise=noise, effect=effect)))
            for _, row in best.iterrows():
                excludes = row["adj_lo"] > 0 or row["adj_hi"] < 0
                assert excludes == (row["verdict"] in ("helps", "hurts")), row.to_dict()
            lines = answer_lines(best, METRIC)
            for line in lines:
                if "before correction 95% CI" in line and " — helps" not in line and " — hurts" not in line:
                    raw = re.search(r"before correction 95% CI ([-+][\d.]+) to ([-+][\d.]+) pts", line)
                    if raw and (float(raw[1]) > 0 or float(raw[2]) < 0):
                        assert "significant before correction only" in line


def test_the_console_prints_the_same_words_without_markdown():
    best = best_ratio_table(tidy_trials(make_study.make_trials(seeds=5)))
    printed = console_lines(best, METRIC)
    assert printed == [line.replace("**", "").replace("`", "") for line in answer_lines(best, METRIC) if line]
    assert not any("**" in line for line in printed)


def _section(text: str, title: str) -> list[str]:
    part = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    return [line for line in part.splitlines() if line.strip()]


def test_the_published_comparison_counts_what_matched_and_what_fell_outside(tmp_path):
    from analysis import build_report

    text = build_report(make_study.write_study_dir(tmp_path / "s", make_study.make_trials(), with_gans=False)).read_text()
    lines = _section(text, "Where our results disagree with the papers")
    head = lines[0]
    counts = re.match(r"(\d+) cell\(s\) match .*: (\d+) lie inside our 95% CI, (\d+) outside\.", head)
    compared, inside, outside = (int(word) for word in counts.groups())
    assert compared == inside + outside and outside == len([line for line in lines if line.startswith("- ")])


def test_a_study_no_paper_covers_says_nothing_was_compared(tmp_path):
    from analysis import build_report

    trials = make_study.make_trials(dataset="mnist-5k")
    text = build_report(make_study.write_study_dir(tmp_path / "s", trials, with_gans=False)).read_text()
    assert _section(text, "Where our results disagree with the papers")[0].startswith(
        "No cell of this study matches a published one")


def test_an_optuna_search_says_it_explored_and_names_the_confirmation():
    from analysis.findings import findings

    trials = make_study.make_trials(seeds=1)
    found = findings(trials, [{"search": {"mode": "optuna"}}])
    assert found.lines()[0].startswith("**An Optuna search explores; it does not test**")
    assert "`study confirm DIR`" in found.lines()[0]
    assert findings(trials, [{"search": {"mode": "grid"}}]).lines()[0] != found.lines()[0]


def test_a_confirmation_study_says_what_it_confirms_and_that_it_tested_once():
    from analysis.answer import Evidence

    best = best_ratio_table(tidy_trials(make_study.make_trials(sizes=(500,), ratios=(0.0, 1.0))))
    confirms = {"confirms": "runs/explore", "arm": {"alpha": 2.0}, "ratio": 1.0,
                "explored": {"candidates": 9, "gain": 0.012, "p_holm": 0.03}}
    lines = answer_lines(best, METRIC, Evidence(confirms=confirms))
    assert lines[0].startswith("**Confirmation of `runs/explore`**: the arm chosen there (alpha 2.0, R = 1)")
    assert "over 9 candidates" in lines[0] and "tested once" in lines[0]
    assert "over 1 candidate" in lines[2]     # the confirmation's own family: the one comparison
