"""The report's words match its numbers (issue 15): gains in points, "R = 0 is best" when every R > 0
is lower, "inconclusive" when seeds are few or the CI is wide, counts of ratios that helped or hurt."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fixtures.analysis import make_study

from analysis import best_ratio_table
from analysis.answer import answer_lines, console_lines, pct, pts, pts_range
from analysis.load import tidy_trials
from analysis.stats import MAX_CI_HALF_WIDTH, VERDICT_INCONCLUSIVE, VERDICT_NONE, verdict

METRIC = "test_acc_at_best_val"


def _answer(**kwargs) -> tuple[list[str], object]:
    best = best_ratio_table(tidy_trials(make_study.make_trials(**kwargs)))
    return answer_lines(best, METRIC), best


def test_points_and_percentages():
    assert pts(0.0123) == "+1.2 pts" and pts(-0.039) == "-3.9 pts" and pts(np.nan) == "n/a"
    assert pts_range(-0.098, -0.009) == "-9.8 to -0.9 pts" and pts_range(np.nan, 0.1) == "n/a"
    assert pct(0.9123) == "91.2%"


@pytest.mark.parametrize("lo, hi, n, expected", [
    (-0.01, 0.01, 5, VERDICT_NONE),                                   # narrow, enough seeds: a real "no"
    (-0.01, 0.01, 2, VERDICT_INCONCLUSIVE),                           # two seeds rule out nothing
    (-0.43, 0.37, 5, VERDICT_INCONCLUSIVE),                           # the issue's -43 to +37 points
    (-MAX_CI_HALF_WIDTH, MAX_CI_HALF_WIDTH, 3, VERDICT_NONE),         # at the bound: still said
])
def test_no_difference_is_only_said_when_the_data_could_have_shown_one(lo, hi, n, expected):
    assert verdict(-0.002, 0.6, lo, hi, n) == expected
    assert verdict(0.03, 0.01, lo, hi, n) == "helps"                  # a significant gain stands on its test


def test_two_noisy_seeds_read_inconclusive_not_did_not_help():
    lines, best = _answer(seeds=2, noise=0.2, effect={0.0: 0.0, 0.5: 0.01, 1.0: -0.01, 2.0: 0.0, 4.0: 0.0})
    assert set(best["verdict"]) == {VERDICT_INCONCLUSIVE}
    assert lines[0].startswith("**Inconclusive**: no ratio R beat R = 0 significantly, but at 2 of 2 size(s)")
    assert "study resume DIR --set seeds=5" in lines[0]


def test_a_flat_study_says_no_help_and_that_r0_is_best_when_every_ratio_is_lower():
    lines, best = _answer(seeds=5, noise=0.012, effect={0.0: 0.0, 0.5: -0.004, 1.0: -0.004, 2.0: -0.004, 4.0: -0.004})
    assert (best["ratios_lower"] == best["ratios_tested"]).all() and (best["ratios_hurt"] == 0).all()
    assert lines[0].startswith("**Adding synthetic images did not help at any size**")
    assert lines[0].endswith("R = 0 is best at every size.")
    size_lines = [line for line in lines if line.startswith("- n = ")]
    assert len(size_lines) == 2 and all("**R = 0 is best**: every R > 0 lowered" in line for line in size_lines)
    assert all("of 4 ratios tried, 0 helped and 0 hurt significantly" in line for line in size_lines)


def test_a_helping_ratio_is_counted_and_the_gain_given_in_points():
    lines, best = _answer(seeds=5, effect={0.0: 0.0, 0.5: 0.02, 1.0: 0.03, 2.0: -0.01, 4.0: -0.03})
    assert lines[0].startswith("**Adding synthetic images helped at every size tested**")
    row = next(line for line in lines if line.startswith("- n = 500"))
    assert "best R = 1 (chosen on validation)" in row and "+3.0 pts" in row and "— helps;" in row
    assert "of 4 ratios tried, 2 helped and 2 hurt significantly" in row and "(95% CI +" in row


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
