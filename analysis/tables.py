"""The papers' tables, built from whatever axes a study has (a registry of builders).

Each builder declares what it needs (`needs(ctx) -> bool`); a table is made whenever the results
have those axes, whatever the preset is called. Every table is a grid: rows are the varying axes the
table does not lay out itself, columns are `Column`s that select cells (e.g. "R = 0.5, real + synthetic").
Each cell shows mean ± 95% CI half-width over seeds and, for R > 0, the paired gain over R = 0 with
significance stars; the best cell of a row is bold; a "paper" row beside ours shows the published
number and our difference from it where published.csv has one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.columns import NUM_CLASSES, is_gan_axis, metric_label
from analysis.published import paper_value
from analysis.render import Table
from analysis.stats import design_axes, stars, varying_axes

SMALL_RATIO = 0.1       # Abadi Table 5 uses R <= 0.1 on CIFAR-10


@dataclass(frozen=True)
class Context:
    """Everything a table builder reads: trials, per-cell stats joined with gains, published numbers."""
    trials: pd.DataFrame
    metric: str
    cells: pd.DataFrame          # cell_stats merged with gains (gain, gain_lo, gain_hi, p_value, ...)
    published: pd.DataFrame

    @property
    def axes(self) -> list[str]:
        return design_axes(self.trials)

    def varying(self, axis: str) -> bool:
        return axis in varying_axes(self.trials)

    def values(self, axis: str, **where) -> list:
        rows = self.trials[self.trials["status"] == "ok"]
        for key, value in where.items():
            rows = rows[rows[key] == value]
        return sorted(rows[axis].dropna().unique().tolist(), key=_order)


def _order(value):
    return (1, str(value)) if isinstance(value, str) else (0, value)


@dataclass(frozen=True)
class Column:
    label: str
    select: dict                          # axis -> value the cell must have
    pick_best_ratio: bool = False         # choose the R > 0 with the highest mean (DAGAN's "GAN" column)
    paper: Callable[[dict], float] | None = None   # cell values -> published number or NaN


@dataclass(frozen=True)
class TableBuilder:
    name: str
    title: str
    needs: Callable[[Context], bool]
    columns: Callable[[Context], list[Column]]
    row_axes_first: tuple[str, ...] = ("size",)
    notes: Callable[[Context], list[str]] = field(default=lambda ctx: [])


# ---------------------------------------------------------------- cell lookup and formatting
def _match(cells: pd.DataFrame, values: dict) -> pd.DataFrame:
    """Cells equal to `values` on every given axis; R = 0 cells ignore GAN axes (they have no GAN)."""
    no_gan = "ratio" in values and values["ratio"] == 0
    mask = pd.Series(True, index=cells.index)
    for axis, value in values.items():
        if axis not in cells or (no_gan and is_gan_axis(axis)):
            continue
        column = cells[axis]
        mask &= column.isna() if _isna(value) else (column == value)
    return cells[mask]


def _isna(value) -> bool:
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
    if cell is None or "gain" not in cell or _isna(cell["gain"]):
        return ""
    return f" ({cell['gain']:+.4f}{stars(cell['p_value'])})"


def _generic_paper(paper: str, table: str) -> Callable[[dict], float]:
    def lookup(values: dict) -> float:
        return paper_value(values["__pub__"], paper, table, dataset=values.get("dataset"),
                           size=values.get("size"), ratio=values.get("ratio"), real=values.get("real"),
                           classifier=values.get("classifier"), alpha=values.get("alpha"))
    return lookup


# ---------------------------------------------------------------- the grid every table is
def build_grid(ctx: Context, builder: TableBuilder) -> Table:
    columns = builder.columns(ctx)
    fixed = {axis for column in columns for axis in column.select} | {"ratio"}
    row_axes = [a for a in builder.row_axes_first if a in ctx.axes]
    row_axes += [a for a in ctx.axes if a not in row_axes and a not in fixed and ctx.varying(a)]
    candidates = pd.concat([_match(ctx.cells, c.select) for c in columns]).drop_duplicates(subset=ctx.axes)
    with_gan = candidates[candidates["ratio"].fillna(0) > 0]
    source = with_gan if not with_gan.empty else candidates
    row_keys = source[row_axes].drop_duplicates()
    row_keys = row_keys.sort_values(row_axes, key=lambda s: s.map(_order)).to_dict("records")

    display_rows, data_rows, disagreements = [], [], []
    for row in row_keys:
        row = {k: v for k, v in row.items() if not _isna(v) or not is_gan_axis(k)}
        found = [_find(ctx, {**row, **column.select}, column) for column in columns]
        means = [c["mean"] if c is not None and c["n"] > 0 else -np.inf for c in found]
        best = int(np.argmax(means)) if np.isfinite(max(means, default=-np.inf)) else -1
        labels = {a: _fmt_axis(row.get(a, "")) for a in row_axes}
        ours, paper_row = {**labels, "": "ours"}, {**labels, "": "paper"}
        any_paper = False
        for i, (column, cell) in enumerate(zip(columns, found, strict=True)):
            text = _fmt_mean(cell) + _fmt_gain(cell)
            if column.pick_best_ratio and cell is not None:
                text += f" [R={cell['ratio']:g}]"
            ours[column.label] = f"**{text}**" if i == best else text
            values = {**row, **column.select, **(cell.to_dict() if cell is not None else {}),
                      "__pub__": ctx.published}
            published = column.paper(values) if column.paper else np.nan
            diff = cell["mean"] - published if cell is not None and cell["n"] > 0 else np.nan
            paper_row[column.label] = "" if _isna(published) else (
                f"{published:.4f}" + ("" if _isna(diff) else f" (Δ {diff:+.4f})"))
            any_paper |= not _isna(published)
            data_rows.append(_data_row(row, column, cell, published, diff))
            if _outside_ci(cell, published):
                disagreements.append(
                    f"{builder.title.split('.')[0]}, {_describe(row)}, {column.label}: ours "
                    f"{cell['mean']:.4f} (95% CI {cell['ci_lo']:.4f}–{cell['ci_hi']:.4f}), paper {published:.4f}")
        display_rows.append(ours)
        if any_paper:
            display_rows.append(paper_row)
    display = pd.DataFrame(display_rows, columns=[*row_axes, "", *[c.label for c in columns]])
    display = display.rename(columns={"size": "size (real images)", "": "source"})
    if not any(r["source"] == "paper" for r in display.to_dict("records")):
        display = display.drop(columns="source")
    notes = [f"Metric: {metric_label(ctx.metric)}; mean ± 95% CI half-width over seeds (t distribution); "
             "(gain over R = 0 paired by seed; * p < 0.05, ** p < 0.01); bold: best in the row.",
             *builder.notes(ctx), *[f"Disagrees with the paper: {d}" for d in dict.fromkeys(disagreements)]]
    if any(c.select.get("real") is False for c in columns):
        notes.insert(1, "Synthetic-only cells: the bracketed difference is against training on the real "
                        "images (R = 0), i.e. what replacing real data by synthetic data costs.")
    return Table(builder.name, builder.title, display, pd.DataFrame(data_rows), tuple(notes))


def _find(ctx: Context, values: dict, column: Column) -> pd.Series | None:
    if column.pick_best_ratio:
        values = {k: v for k, v in values.items() if k != "ratio"}
        matches = _match(ctx.cells, values)
        matches = matches[(matches["ratio"].fillna(0) > 0) & (matches["n"] > 0)]
        return matches.sort_values("mean", ascending=False).iloc[0] if len(matches) else None
    matches = _match(ctx.cells, values)
    if matches.empty:
        return None
    return matches.sort_values("n", ascending=False).iloc[0]


def _outside_ci(cell, published) -> bool:
    return (cell is not None and not _isna(published) and cell["n"] > 1
            and not (cell["ci_lo"] <= published <= cell["ci_hi"]))


def _describe(row: dict) -> str:
    return ", ".join(f"{k}={_fmt_axis(v)}" for k, v in row.items())


def _fmt_axis(value) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:g}"
    return str(value)


def _data_row(row: dict, column: Column, cell, published: float, diff: float) -> dict:
    out = {**row, "column": column.label, **{f"select_{k}": v for k, v in column.select.items()}}
    fields = ("ratio", "mean", "std", "n", "ci_lo", "ci_hi", "gain", "gain_lo", "gain_hi", "p_value",
              "diverged", "error")
    for name in fields:
        out[name] = cell[name] if cell is not None and name in cell else np.nan
    out["paper"], out["diff_vs_paper"] = published, diff
    return out


# ---------------------------------------------------------------- the registry
def _has(ctx: Context, **where) -> bool:
    rows = ctx.trials
    for key, value in where.items():
        rows = rows[rows[key] == value]
    return not rows.empty


def _ratios(ctx: Context, real: bool) -> list:
    return ctx.values("ratio", real=real)


def _t1_columns(ctx):
    return [Column(f"α = {a:g}", {"alpha": a, "real": False}, paper=_generic_paper("abadi", "table1"))
            for a in ctx.values("alpha", real=False)]


def _t2_columns(ctx):
    synthetic = [r for r in _ratios(ctx, real=False) if r > 0]
    fake_r = 1.0 if 1.0 in synthetic else min(synthetic, key=lambda r: abs(r - 1))
    return [Column("Real (R = 0)", {"ratio": 0.0, "real": True}, paper=_generic_paper("abadi", "table2")),
            Column(f"Fake (synthetic only, R = {fake_r:g})", {"ratio": fake_r, "real": False},
                   paper=_generic_paper("abadi", "table2"))]


def _t3_columns(ctx):
    return [Column(f"R = {r:g}", {"ratio": r, "real": False}, paper=_generic_paper("abadi", "table3"))
            for r in _ratios(ctx, real=False) if r > 0]


def _ratio_columns(ctx, table: str, keep: Callable[[float], bool]):
    return [Column(f"R = {r:g}", {"ratio": r, "real": True}, paper=_generic_paper("abadi", table))
            for r in _ratios(ctx, real=True) if keep(r)]


def _xing_columns(ctx):
    return [Column("original (R = 0)", {"ratio": 0.0, "real": True}),
            *[Column(f"augmented (R = {r:g})", {"ratio": r, "real": True})
              for r in _ratios(ctx, real=True) if r > 0]]


def _dagan_method(values: dict, augmented: bool) -> str | None:
    if values.get("ratio", 0) in (0, None) or _isna(values.get("ratio")):
        return "C_aug" if augmented else "C"
    if values.get("gan_arch") == "dagan":
        return "DAGAN_aug" if augmented else "DAGAN"
    return None if augmented else "Vanilla GAN"


def _dagan_paper(augmented: bool) -> Callable[[dict], float]:
    def lookup(values: dict) -> float:
        method = _dagan_method(values, augmented)
        if method is None:
            return np.nan
        return paper_value(values["__pub__"], "dagan", _DAGAN_TABLES.get(values.get("dataset"), ""),
                           dataset=values.get("dataset"), size=values.get("size"), method=method)
    return lookup


_DAGAN_TABLES = {"cifar10": "table3", "svhn": "table4"}


def _dagan_columns(ctx):
    return [Column("no augmentation", {"ratio": 0.0, "real": True, "augment": "none"}, paper=_dagan_paper(False)),
            Column("classic", {"ratio": 0.0, "real": True, "augment": "classic"}, paper=_dagan_paper(True)),
            Column("GAN", {"real": True, "augment": "none"}, pick_best_ratio=True, paper=_dagan_paper(False)),
            Column("GAN + classic", {"real": True, "augment": "classic"}, pick_best_ratio=True,
                   paper=_dagan_paper(True))]


def _dagan_notes(ctx):
    sizes = sorted({s for s in ctx.trials["size"] if not isinstance(s, str)})
    per_class = [f"{s} = {s / NUM_CLASSES.get(d, 10):g}/class"
                 for s in sizes for d in ctx.values("dataset")][:8]
    return ["Sizes are totals; DAGAN's paper counts samples per class (" + ", ".join(per_class) + ").",
            "GAN columns use the R > 0 with the best mean (shown in brackets); the paper's GAN is "
            "DAGAN when gan_arch = dagan, else its 'Vanilla GAN' column."]


TABLES: dict[str, TableBuilder] = {b.name: b for b in (
    TableBuilder(
        "abadi_t1", "Abadi Table 1. The classifier's accuracy trained with GAN generated images only, "
        "for different generator widths alpha",
        needs=lambda ctx: _has(ctx, real=False) and len(ctx.values("alpha", real=False)) > 1,
        columns=_t1_columns),
    TableBuilder(
        "abadi_t2", "Abadi Table 2. The classifier's accuracy trained on synthetic (Fake) and real (Real) "
        "data for different sample sizes",
        needs=lambda ctx: _has(ctx, real=False) and _has(ctx, real=True, ratio=0.0),
        columns=_t2_columns),
    TableBuilder(
        "abadi_t3", "Abadi Table 3. The classifier's accuracy trained on GAN generated data only; "
        "R is the ratio of synthetic images to the GAN's real sample size",
        needs=lambda ctx: _has(ctx, real=False), columns=_t3_columns),
    TableBuilder(
        "abadi_t4", "Abadi Table 4. The classifier's accuracy trained with real and GAN generated data "
        "at the same time; R is the ratio of synthetic to real images",
        needs=lambda ctx: len(_ratios(ctx, real=True)) > 1 and max(_ratios(ctx, real=True)) > SMALL_RATIO,
        columns=lambda ctx: _ratio_columns(ctx, "table4", lambda r: True)),
    TableBuilder(
        "abadi_t5", "Abadi Table 5. The classifier's accuracy trained on real data plus a small ratio R "
        "of synthetic data",
        needs=lambda ctx: _has(ctx, real=True, ratio=0.0)
        and any(0 < r <= SMALL_RATIO for r in _ratios(ctx, real=True)),
        columns=lambda ctx: _ratio_columns(ctx, "table5", lambda r: r <= SMALL_RATIO)),
    TableBuilder(
        "xing", "Xing. Accuracy of each classifier trained on the original vs the DCGAN-augmented "
        "training set",
        needs=lambda ctx: len(ctx.values("classifier")) > 1 and _has(ctx, real=True, ratio=0.0)
        and any(r > 0 for r in _ratios(ctx, real=True)),
        columns=_xing_columns, row_axes_first=("classifier", "size")),
    TableBuilder(
        "dagan", "DAGAN (Zhang & Wu). Classification accuracy by training-set size and augmentation "
        "method: none, classic, GAN, GAN + classic",
        needs=lambda ctx: {"none", "classic"} <= set(ctx.values("augment"))
        and _has(ctx, real=True, ratio=0.0) and any(r > 0 for r in _ratios(ctx, real=True)),
        columns=_dagan_columns, notes=_dagan_notes),
)}


def build_tables(ctx: Context) -> list[Table]:
    """Every registered table whose needs the results meet, in registry order."""
    return [build_grid(ctx, builder) for builder in TABLES.values() if builder.needs(ctx)]
