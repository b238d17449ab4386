"""Study results -> tidy DataFrames, paper tables with statistics, seaborn plots and a report.

Reads files only: importing it needs no Ray, torch or GPU.

    from analysis import build_report, best_ratio_table, load_study
    build_report("runs/quick")                                  # -> runs/quick/report/report.md
    build_report(["runs/t4", "runs/t4-synthetic"], "runs/merged-report")   # one report, two folders

The names below load their module on first use (PEP 562), so `import analysis.inputs` for an error type
does not pay for scipy, matplotlib and seaborn: a refused command line answers without them.
"""

from __future__ import annotations

import importlib

_OWNERS = {
    "cell_stats": "analysis.cells", "cells_with_gains": "analysis.cells", "gains": "analysis.cells",
    "StudyDirError": "analysis.inputs",
    "Study": "analysis.load", "load_study": "analysis.load",
    "load_studies": "analysis.merge",
    "MetricChoice": "analysis.metrics", "choose_metrics": "analysis.metrics",
    "build_merged_report": "analysis.report", "build_report": "analysis.report",
    "best_ratio_table": "analysis.selection",
    "holm": "analysis.stats", "mean_ci": "analysis.stats",
}
# Not here: protocol_gap, named like its module (the submodule, once imported, would shadow a lazy name);
# import it from analysis.protocol_gap.
__all__ = sorted(_OWNERS)


def __getattr__(name: str):
    if name not in _OWNERS:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(_OWNERS[name]), name)
    globals()[name] = value      # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
