"""Study results -> tidy DataFrames, paper tables with statistics, seaborn plots and a report.

Reads files only: importing it needs no Ray, torch or GPU.

    from analysis import build_report, best_ratio_table, load_study
    build_report("runs/quick")                                  # -> runs/quick/report/report.md
    build_report(["runs/t4", "runs/t4-synthetic"], "runs/merged-report")   # one report, two folders
"""

from analysis.cells import cell_stats, cells_with_gains, gains
from analysis.inputs import StudyDirError
from analysis.load import Study, load_study
from analysis.merge import load_studies
from analysis.metrics import MetricChoice, choose_metrics
from analysis.protocol_gap import protocol_gap
from analysis.report import build_merged_report, build_report
from analysis.selection import best_ratio_table
from analysis.stats import holm, mean_ci

__all__ = ["MetricChoice", "Study", "StudyDirError", "best_ratio_table", "build_merged_report", "build_report",
           "cell_stats", "cells_with_gains", "choose_metrics", "gains", "holm", "load_studies", "load_study",
           "mean_ci", "protocol_gap"]
