"""report/report.md: the answer first, then how it was chosen, what was run, GAN quality, tables, plots.

`build_report(dir)` rebuilds everything from the study folder alone and is idempotent: no clock,
sorted inputs, fixed PNG metadata, so two runs give identical files. `build_report([dir, dir2, ...],
out_dir)` writes one report over several folders of one dataset (analysis/merge.py).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from analysis.balanced import balanced_table
from analysis.best_view import best_table
from analysis.cells import cells_with_gains
from analysis.findings import findings
from analysis.gan_judgement import collapse_lines
from analysis.grid import Context
from analysis.inputs import StudyDirError
from analysis.load import Study, load_study, write_text_atomic
from analysis.merge import load_studies
from analysis.method import method_section
from analysis.metrics import MetricChoice
from analysis.plots import PLOTS, PlotData, draw_plots
from analysis.published import load_published
from analysis.render import Table, table_markdown, write_table
from analysis.sections import carved_validation, disagreements, failures, gan_quality, what_was_run
from analysis.tables import build_tables, study_archs


def build_report(study_dirs: str | Path | Sequence[str | Path], out_dir: str | Path | None = None) -> Path:
    """Rebuild a report folder (report.md, tables/, plots/); returns report.md's path.

    One folder: the report goes to `<folder>/report/` unless `out_dir` says otherwise. Several folders
    of one dataset: one merged report in `out_dir` (required; StudyDirError when the datasets differ).
    """
    dirs = [study_dirs] if isinstance(study_dirs, str | Path) else list(study_dirs)
    if len(dirs) > 1 and out_dir is None:
        raise StudyDirError(f"--out: a report over {len(dirs)} study folders needs an output folder; allowed: a new "
                            "folder (out_dir), or one an earlier `study report --out` wrote")
    if out_dir is not None:
        check_out_dir(Path(out_dir).expanduser(), [Path(d).expanduser() for d in dirs])
    study = load_study(dirs[0]) if len(dirs) == 1 else load_studies(dirs)
    final_dir = Path(out_dir).expanduser() if out_dir is not None else study.root / "report"
    return write_report(study, final_dir)


# Written into every report folder: `--out` replaces a folder only when this file says a report made it.
REPORT_MARKER = ".study-report"
STUDY_FILES = ("spec.toml", "run.json", "results.csv")     # any of these: a study folder, never a report's


def check_out_dir(out: Path, study_dirs: Sequence[Path]) -> None:
    """Refuse an output folder the report did not write: a report replaces its folder whole, so `--out`
    must be new (or empty), or a folder an earlier report wrote (it holds REPORT_MARKER), and never a
    study folder or anything inside one. Raises StudyDirError naming --out; nothing is touched."""
    where = out.resolve()
    roots = [d.resolve() for d in study_dirs]
    for folder in (where, *where.parents):
        if folder in roots or any((folder / name).is_file() for name in STUDY_FILES):
            what = "is a study folder" if folder == where else f"is inside the study folder {folder}"
            raise StudyDirError(f"--out: {out} {what}; allowed: a new folder outside every study folder, or one "
                                "an earlier `study report --out` wrote")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise StudyDirError(f"--out: {out} is a file, not a folder; allowed: a new folder, or one an earlier "
                            "`study report --out` wrote")
    if out.is_dir() and any(out.iterdir()) and not (out / REPORT_MARKER).is_file():
        raise StudyDirError(f"--out: {out} already holds files that no report wrote; allowed: a new folder, or "
                            "one an earlier `study report --out` wrote (it holds a .study-report file)")


def build_merged_report(study_dirs: Sequence[str | Path], out_dir: str | Path) -> Path:
    """One report over several study folders of one dataset, written to `out_dir` (report.md inside)."""
    return build_report(list(study_dirs), out_dir)


def write_report(study: Study, final_dir: Path) -> Path:
    """Build the report in a fresh sibling folder, then swap it in: a rebuild that dies half-way leaves the
    previous report whole, and nothing stale from an older rebuild survives into the new one."""
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{final_dir.name}-new-"))
    try:
        _write_report(study, staging)
        (staging / REPORT_MARKER).write_text("written by `study report`; `--out` may replace this folder\n")
        _swap_in(staging, final_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final_dir / "report.md"


def _swap_in(new_dir: Path, final_dir: Path) -> None:
    """Replace final_dir by new_dir with two renames (a directory cannot be replaced atomically)."""
    new_dir.chmod(0o755)  # mkdtemp's 0700 would hide the report from other users of a shared folder
    old = None
    if final_dir.exists():
        old = final_dir.with_name(f".{final_dir.name}-old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        final_dir.rename(old)
    new_dir.rename(final_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_confirmation(study: Study) -> dict | None:
    """confirm.json of a `study confirm` folder: what it confirms (None for any other study, and for a
    merge: a merged report is not a confirmation)."""
    path = study.root / "confirm.json"
    if study.parts or not path.is_file():
        return None
    try:
        found = json.loads(path.read_text())
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def context_for(study: Study, choice: MetricChoice) -> Context:
    archs = set(study_archs(study.trials))
    for spec in study.specs:    # an R = 0-only study still knows its GAN from the spec
        arch = (spec.get("gan") or {}).get("arch")
        archs.update(arch if isinstance(arch, list) else [arch] if arch else [])
    cells = cells_with_gains(study.trials, choice.reported, choice.selection)
    return Context(study.trials, choice.reported, cells, load_published(), choice, tuple(sorted(archs)),
                   specs=study.specs, full_sizes=study.full_counts)


def _write_report(study: Study, report_dir: Path) -> None:
    tables_dir, plots_dir = report_dir / "tables", report_dir / "plots"
    for folder in (tables_dir, plots_dir):
        folder.mkdir(parents=True, exist_ok=True)

    found = findings(study.trials, study.specs, study.gans, read_confirmation(study))
    choice, metric = found.choice, found.choice.reported
    ctx = context_for(study, choice)
    tables = build_tables(ctx)
    balanced = balanced_table(study.trials, metric)   # only when the test set is imbalanced
    tables += [balanced] if balanced is not None else []
    best_tab = best_table(found.best, choice, carved_validation(study))
    extra: list[Table] = []
    method = method_section(study, choice, extra, found.evidence.min_effect)
    for table in [best_tab, *extra, *tables]:
        write_table(table, tables_dir)
    plot_data = PlotData(study.trials, study.curves, ctx.cells, metric, study.gans, ctx.selection_note)
    plots = draw_plots(plot_data, plots_dir)

    lines = [f"# {study.name}: does adding GAN-generated images help the classifier?", ""]
    for warning in collapse_lines(study.gans):   # each its own quoted paragraph, at the very top
        lines += [f"> {warning}", ""]
    lines += found.lines() + ["", table_markdown(best_tab)]
    lines += method + what_was_run(study, metric) + gan_quality(study)
    lines += ["## Tables", ""]
    for table in tables:
        lines += [table_markdown(table), f"Files: [csv](tables/{table.name}.csv), "
                  f"[LaTeX](tables/{table.name}.tex)", ""]
    if not tables:
        lines += ["No paper table applies to these axes yet.", ""]
    lines += ["## Plots", ""]
    for plot_name, paths in plots.items():
        for path in paths:
            lines += [f"**{PLOTS[plot_name].caption_of(plot_data, path)}**", "", f"![{path.stem}](plots/{path.name})", ""]
    lines += disagreements(tables) + failures(study)
    write_text_atomic("\n".join(lines).rstrip() + "\n", report_dir / "report.md")
