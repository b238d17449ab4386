"""Study results -> tidy DataFrames, paper tables with statistics, seaborn plots and a report.

Reads files only: importing it needs no Ray, torch or GPU.

    from analysis import build_report, best_ratio_table, load_study
    build_report("runs/quick")          # -> runs/quick/report/report.md
"""

from analysis.load import Study, StudyDirError, load_study
from analysis.report import build_report
from analysis.stats import best_ratio_table, cell_stats, gains, mean_ci

__all__ = ["Study", "StudyDirError", "best_ratio_table", "build_report", "cell_stats", "gains", "load_study",
           "mean_ci"]
