"""The grid every paper table is: rows are the varying axes a table does not lay out itself, columns
are `Column`s that select cells (e.g. "R = 0.5, real + synthetic").

Each cell shows mean ± 95% CI half-width over seeds and, for R > 0, the paired gain over R = 0 with
significance stars from the Holm-adjusted p-value; the cell a row would choose on validation is bold;
a "paper" row beside ours shows the published number and our difference from it where
published.csv has one for the same GAN architecture. The registry of tables is analysis/tables.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.cells import design_axes, varying_axes
from analysis.columns import is_gan_axis
from analysis.metrics import PAPERS_PROTOCOL, MetricChoice, choose_metrics, metric_label
from analysis.published import paper_value
from analysis.render import Table, fmt_axis
from analysis.selection import pick_best
from analysis.stats import stars


@dataclass(frozen=True)
class Context:
    """Everything a table builder reads: trials, per-cell stats joined with gains, published numbers."""
    trials: pd.DataFrame
    metric: str
    cells: pd.DataFrame          # cells_with_gains: mean, CI, gain, p_value, p_holm, select_mean, ...
    published: pd.DataFrame
    choice: MetricChoice | None = None
    study_archs: tuple[str, ...] = ()   # GAN architectures of the study, for R = 0 cells' paper lookup

    @property
    def axes(self) -> list[str]:
        return design_axes(self.trials)

    def varying(self, axis: str) -> bool:
        return axis in varying_axes(self.trials)

    def values(self, axis: str, **where) -> list:
        rows = self.trials[self.trials["status"] == "ok"]
        for key, value in where.items():
            rows = rows[rows[key] == value]
        if axis not in rows:
            return []
        return sorted(rows[axis].dropna().replace("", np.nan).dropna().unique().tolist(), key=order)

    def archs(self, values: dict) -> set[str]:
        """The cell's own GAN architecture, or (R = 0: no GAN) every architecture the study used."""
        arch = values.get("gan_arch")
        return {arch} if isinstance(arch, str) and arch else set(self.study_archs)

    @property
    def selection_note(self) -> str:
        choice = self.choice or choose_metrics(self.trials)
        if choice.selection_on_test:
            return "chosen on test: optimistic"
        return f"chosen on validation ({choice.selection})"


def order(value):
    return (1, str(value)) if isinstance(value, str) else (0, value)


@dataclass(frozen=True)
class Column:
    label: str
    select: dict                          # axis -> value the cell must have
    pick_best_ratio: bool = False         # choose the R > 0 by validation (DAGAN's GAN columns)
    paper: Callable[[dict], float] | None = None   # cell values -> published number or NaN


@dataclass(frozen=True)
class TableBuilder:
    name: str
    title: str
    needs: Callable[[Context], bool]
    columns: Callable[[Context], list[Column]] = field(default=lambda ctx: [])
    row_axes_first: tuple[str, ...] = ("size",)
    notes: Callable[[Context], list[str]] = field(default=lambda ctx: [])
    build: Callable[[Context, TableBuilder], Table] | None = None   # None: build_grid
    paper: str | None = None     # whose table this is (published.PAPER_ARCHS): its GAN decides the title


# ---------------------------------------------------------------- cell lookup and formatting
def match(cells: pd.DataFrame, values: dict) -> pd.DataFrame:
    """Cells equal to `values` on every given axis; R = 0 cells ignore GAN axes (they have no GAN)."""
    no_gan = "ratio" in values and values["ratio"] == 0
    mask = pd.Series(True, index=cells.index)
    for axis, value in values.items():
        if axis not in cells or (no_gan and is_gan_axis(axis)):
            continue
        column = cells[axis]
        mask &= column.isna() if isna(value) else (column == value)
    return cells[mask]


def isna(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _fmt_mean(cell: pd.Series | None) -> str:
    if cell is None:
        return "— (not run)"
    if cell["n"] == 0:
        failed = ", ".join(f"{int(cell[s])} {s}" for s in ("diverged", "error") if cell.get(s, 0))
        return f"— ({failed or 'no result'})"
    if cell["n"] == 1:
        return f"{cell['mean']:.4f} (n=1)"
    return f"{cell['mean']:.4f} ± {(cell['ci_hi'] - cell['ci_lo']) / 2:.4f}"


def _fmt_gain(cell: pd.Series | None) -> str:
    if cell is None or "gain" not in cell or isna(cell["gain"]):
        return ""
    return f" ({cell['gain']:+.4f}{stars(cell['p_holm'])})"


def generic_paper(paper: str, table: str) -> Callable[[dict], float]:
    def lookup(values: dict) -> float:
        return paper_value(values["__pub__"], paper, table, dataset=values.get("dataset"),
                           size=values.get("size"), gan_arch=values["__archs__"], ratio=values.get("ratio"),
                           real=values.get("real"), classifier=values.get("classifier"),
                           alpha=values.get("alpha"))
    return lookup


def _chosen(found: list) -> int:
    """The column a reader would pick in this row: highest validation mean (test mean without one)."""
    usable = [(i, c) for i, c in enumerate(found) if c is not None and c["n"] > 0]
    if not usable:
        return -1
    on_val = any(np.isfinite(c.get("select_mean", np.nan)) for _, c in usable)
    key = "select_mean" if on_val else "mean"
    ranked = [(c[key] if np.isfinite(c[key]) else -np.inf, -i) for i, c in usable]
    return -max(ranked)[1]


# ---------------------------------------------------------------- the grid
def build_grid(ctx: Context, builder: TableBuilder) -> Table:
    columns = builder.columns(ctx)
    fixed = {axis for column in columns for axis in column.select} | {"ratio"}
    row_axes = [a for a in builder.row_axes_first if a in ctx.axes]
    row_axes += [a for a in ctx.axes if a not in row_axes and a not in fixed and ctx.varying(a)]
    candidates = pd.concat([match(ctx.cells, c.select) for c in columns]).drop_duplicates(subset=ctx.axes)
    with_gan = candidates[candidates["ratio"].fillna(0) > 0]
    source = with_gan if not with_gan.empty else candidates
    row_keys = source[row_axes].drop_duplicates()
    row_keys = row_keys.sort_values(row_axes, key=lambda s: s.map(order)).to_dict("records")

    display_rows, data_rows, disagreements = [], [], []
    like_for_like = ctx.metric == PAPERS_PROTOCOL
    for row in row_keys:
        row = {k: v for k, v in row.items() if not isna(v) or not is_gan_axis(k)}
        found = [_find(ctx, {**row, **column.select}, column) for column in columns]
        best = _chosen(found)
        labels = {a: fmt_axis(row.get(a, "")) for a in row_axes}
        ours, paper_row = {**labels, "": "ours"}, {**labels, "": "paper"}
        any_paper = False
        for i, (column, cell) in enumerate(zip(columns, found, strict=True)):
            text = _fmt_mean(cell) + _fmt_gain(cell)
            if column.pick_best_ratio and cell is not None:
                text += f" [R={cell['ratio']:g}]"
            ours[column.label] = f"**{text}**" if i == best else text
            values = {**row, **column.select, **(cell.to_dict() if cell is not None else {})}
            values.update(__pub__=ctx.published, __archs__=ctx.archs(values))
            published = column.paper(values) if column.paper else np.nan
            diff = cell["mean"] - published if cell is not None and cell["n"] > 0 else np.nan
            paper_row[column.label] = "" if isna(published) else (
                f"{published:.4f}" + ("" if isna(diff) else f" (Δ {diff:+.4f})"))
            any_paper |= not isna(published)
            data_rows.append(_data_row(row, column, cell, published, diff, ctx.metric))
            if like_for_like and _outside_ci(cell, published):
                disagreements.append(
                    f"{builder.title.split('.')[0]}, {_describe(row)}, {column.label}: ours "
                    f"{cell['mean']:.4f} (95% CI {cell['ci_lo']:.4f}–{cell['ci_hi']:.4f}), paper {published:.4f}")
        display_rows.append(ours)
        if any_paper:
            display_rows.append(paper_row)
    display = pd.DataFrame(display_rows, columns=[*row_axes, "", *[c.label for c in columns]])
    display = display.rename(columns={"size": "size (real images)", "": "source"})
    has_paper = any(r["source"] == "paper" for r in display.to_dict("records"))
    if not has_paper:
        display = display.drop(columns="source")
    notes = [f"Metric: {metric_label(ctx.metric)} (`{ctx.metric}`); mean ± 95% CI half-width over seeds "
             "(t distribution); (gain over R = 0 paired by seed; * p < 0.05, ** p < 0.01, Holm-adjusted over "
             f"the ratios of each size); bold: the cell a reader would pick, {ctx.selection_note}.",
             *builder.notes(ctx)]
    if has_paper and not like_for_like:
        notes.append("Paper numbers were measured under the papers' protocol (best epoch on test); the same "
                     f"table under that protocol (`{builder.name}_papers_protocol`, next) compares like for like.")
    notes += [f"Disagrees with the paper: {d}" for d in dict.fromkeys(disagreements)]
    if any(c.select.get("real") is False for c in columns):
        notes.insert(1, "Synthetic-only cells: the bracketed difference is against training on the real "
                        "images (R = 0), i.e. what replacing real data by synthetic data costs.")
    return Table(builder.name, builder.title, display, pd.DataFrame(data_rows), tuple(notes))


def _find(ctx: Context, values: dict, column: Column) -> pd.Series | None:
    if column.pick_best_ratio:
        values = {k: v for k, v in values.items() if k != "ratio"}
        matches = match(ctx.cells, values)
        return pick_best(matches[matches["ratio"].fillna(0) > 0])[0]
    matches = match(ctx.cells, values)
    if matches.empty:
        return None
    return matches.sort_values("n", ascending=False, kind="stable").iloc[0]


def _outside_ci(cell, published) -> bool:
    return (cell is not None and not isna(published) and cell["n"] > 1
            and not (cell["ci_lo"] <= published <= cell["ci_hi"]))


def _describe(row: dict) -> str:
    return ", ".join(f"{k}={fmt_axis(v)}" for k, v in row.items())


def _data_row(row: dict, column: Column, cell, published: float, diff: float, metric: str) -> dict:
    out = {**row, "column": column.label, **{f"select_{k}": v for k, v in column.select.items()},
           "metric": metric}
    fields = ("ratio", "gan_arch", "mean", "std", "n", "ci_lo", "ci_hi", "select_mean", "gain", "gain_lo",
              "gain_hi", "p_value", "p_holm", "diverged", "error")
    for name in fields:
        out[name] = cell[name] if cell is not None and name in cell else np.nan
    out["paper"], out["diff_vs_paper"] = published, diff
    return out
