"""The grid every paper table is: rows are the varying axes a table does not lay out itself, columns
are `Column`s that select cells (e.g. "R = 0.5, real + synthetic").

Each cell shows mean ± 95% CI half-width over independent units and, for R > 0, the gain over R = 0
paired by unit with significance stars from the Holm-adjusted p-value; the cell a row would choose on validation is bold;
a "paper" row beside ours shows the published number and our difference from it where the join
rule of analysis/published.py holds (dataset, true size, R, classifier, alpha, GAN architecture,
per-class vs conditional, schedule and augmentation agree); the table's notes name the paper's settings
that still differ (GAN epochs, recipe, classifier epochs) and say why a paper's full-set number stands
beside no row of ours. The settings of a cell come from its own columns (an axis that varied) or else
from the study's spec.toml (`Context.setting`). The registry of tables is analysis/tables.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.cells import design_axes, varying_axes
from analysis.metrics import (
    PAPERS_PROTOCOL,
    PAPERS_SCHEDULE,
    SCHEDULE_DEFAULT,
    MetricChoice,
    choose_metrics,
    metric_label,
    schedules,
)
from analysis.published import AUTHORS, differences, full_set_size, paper_value
from analysis.render import Table, fmt_axis
from analysis.selection import pick_best
from analysis.stats import stars
from trainables.files.results_columns import is_gan_axis


@dataclass(frozen=True)
class Context:
    """Everything a table builder reads: trials, per-cell stats joined with gains, published numbers."""
    trials: pd.DataFrame
    metric: str
    cells: pd.DataFrame          # cells_with_gains: mean, CI, gain, p_value, p_holm, select_mean, ...
    published: pd.DataFrame
    choice: MetricChoice | None = None
    study_archs: tuple[str, ...] = ()   # GAN architectures of the study, for R = 0 cells' paper lookup
    specs: tuple[dict, ...] = ()        # the folders' spec.toml: settings no column records
    full_sizes: Mapping[str, int] = field(default_factory=dict)   # dataset -> true count of "full"

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

    def setting(self, values: dict, name: str) -> set:
        """A cell's setting (SETTINGS: conditioning, schedule, gan_epochs, recipe, classifier_epochs) as
        the set of values it may have: its own column when results.csv has one (the axis varied), else
        the spec (a [classifier.NAME] table overrides [classifier]), else the spec's default (spec.toml
        could not be read); the empty set when nobody recorded it."""
        column, section, key, default = SETTINGS[name]
        own = values.get(column)
        if column in self.trials.columns and not isna(own) and own != "":
            return {own}
        found: set = set()
        for spec in self.specs:
            table = spec.get(section) or {}
            value = table.get(key, default)
            own_table = table.get(values.get("classifier")) if section == "classifier" else None
            if isinstance(own_table, dict) and key in own_table:
                value = own_table[key]
            found.update(value if isinstance(value, list) else [value])
        if not self.specs and default is not None:
            found.add(default)
        return {v for v in found if not isna(v)}

    @property
    def papers_schedule(self) -> bool:
        """Some cells trained the classifier for fixed epochs, the papers' schedule: only there is the
        best epoch on test (test_acc_max) the papers' protocol."""
        return PAPERS_SCHEDULE in schedules(self.trials, self.specs)

    @property
    def selection_note(self) -> str:
        choice = self.choice or choose_metrics(self.trials)
        if choice.selection_on_test:
            return "chosen on test: optimistic"
        return f"chosen on validation ({choice.selection})"


# Settings a join or a note needs: name -> (results.csv column, spec section, key, the spec's default:
# what a study that ran without naming the key used, assumed when spec.toml cannot be read).
SETTINGS = {"conditioning": ("conditioning", "gan", "conditioning", None),
            "schedule": ("classifier_schedule", "classifier", "schedule", SCHEDULE_DEFAULT),
            "gan_epochs": ("gan_epochs", "gan", "epochs", None),
            "recipe": ("gan_recipe", "gan", "recipe", "paper"),
            "classifier_epochs": ("classifier_epochs", "classifier", "epochs", None)}


def order(value):
    return (1, str(value)) if isinstance(value, str) else (0, value)


@dataclass(frozen=True)
class Column:
    label: str
    select: dict                          # axis -> value the cell must have
    pick_best_ratio: bool = False         # choose the R > 0 by validation (DAGAN's GAN columns)
    paper: Callable[[dict], float] | None = None   # cell values -> published number or NaN (a PaperLookup)


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


@dataclass(frozen=True)
class PaperLookup:
    """A column's published number: one paper's table (per dataset when a mapping), one method column."""
    paper: str
    table: str | Mapping[str, str]
    method: str | None = None

    def table_for(self, dataset) -> str:
        return self.table if isinstance(self.table, str) else self.table.get(str(dataset), "")

    def __call__(self, values: dict) -> float:
        """values: the cell's axes plus __pub__, __archs__ and __settings__ (build_grid adds them)."""
        settings = values.get("__settings__", {})
        return paper_value(values["__pub__"], self.paper, self.table_for(values.get("dataset")),
                           dataset=values.get("dataset"), size=values.get("size"), gan_arch=values["__archs__"],
                           ratio=values.get("ratio"), real=values.get("real"), classifier=values.get("classifier"),
                           alpha=values.get("alpha"), method=self.method, augment=values.get("augment"),
                           conditioning=settings.get("conditioning"), schedule=settings.get("schedule"))

    def differences(self, values: dict) -> list[str]:
        settings = values.get("__settings__", {})
        return differences(self.paper, self.method, dataset=values.get("dataset"),
                           classifier=values.get("classifier"), gan_epochs=settings.get("gan_epochs"),
                           recipe=settings.get("recipe"), classifier_epochs=settings.get("classifier_epochs"),
                           uses_gan=_uses_gan(values))


def generic_paper(paper: str, table: str) -> PaperLookup:
    return PaperLookup(paper, table)


def _uses_gan(values: dict) -> bool:
    ratio = values.get("ratio")
    return values.get("real") is False or (not isna(ratio) and float(ratio) > 0)


def cell_settings(ctx: Context, values: dict) -> dict:
    """What build_grid hands a PaperLookup: the cell's settings (each a set; see Context.setting)."""
    return {name: ctx.setting(values, name) for name in SETTINGS}


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

    display_rows, data_rows, disagreements, differ, full_rows = [], [], [], {}, set()
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
            values["__settings__"] = cell_settings(ctx, values)
            published = column.paper(values) if column.paper else np.nan
            if isinstance(column.paper, PaperLookup):
                if not isna(published):
                    for what in column.paper.differences(values):
                        differ.setdefault(column.paper.paper, {}).setdefault(what, None)
                elif _full_row(ctx, column.paper, values):
                    full_rows.add((column.paper.paper, values.get("dataset"), values.get("size")))
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
    notes = [f"Metric: {metric_label(ctx.metric, ctx.papers_schedule)} (`{ctx.metric}`); mean ± 95% CI "
             "half-width over independent units (a real subset and its GAN; classifier repeats averaged first; "
             "t distribution); (gain over R = 0 paired by unit; * p < 0.05, ** p < 0.01, Holm-adjusted over every "
             f"arm x ratio the best-R pick ranked); bold: the cell a reader would pick, {ctx.selection_note}.",
             *builder.notes(ctx)]
    for paper, whats in differ.items():
        notes.append(f"{AUTHORS.get(paper, paper)}'s numbers stand beside cells that ran other settings than the "
                     f"paper's, which may move the number but not what is compared: {'; '.join(whats)}.")
    for paper, dataset, size in sorted(full_rows, key=str):
        full = full_set_size(paper, dataset)
        notes.append(f"{AUTHORS.get(paper, paper)}'s full-set numbers ({full:,} real {dataset} images) stand "
                     f"beside no row: this study's full subset is {size:,} images, the training split after the "
                     "validation hold-out, so it is not the paper's size (`eval.validation = 0` keeps all of it).")
    if has_paper and not like_for_like and ctx.papers_schedule:
        notes.append("Paper numbers were measured under the papers' protocol (best epoch on test); the same "
                     f"table under that protocol (`{builder.name}_papers_protocol`, next) compares like for like.")
    notes += [f"Disagrees with the paper: {d}" for d in dict.fromkeys(disagreements)]
    if any(c.select.get("real") is False for c in columns):
        notes.insert(1, "Synthetic-only cells: the bracketed difference is against training on the real "
                        "images (R = 0), i.e. what replacing real data by synthetic data costs.")
    return Table(builder.name, builder.title, display, pd.DataFrame(data_rows), tuple(notes))


def _full_row(ctx: Context, lookup: PaperLookup, values: dict) -> bool:
    """The row is this study's "full" subset, smaller than the paper's full set, which has a number here."""
    dataset, size = values.get("dataset"), values.get("size")
    full = full_set_size(lookup.paper, dataset)
    if full is None or ctx.full_sizes.get(str(dataset)) != size or size == full:
        return False
    at_full = dict(values, size=full)
    return not isna(lookup(at_full))


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
