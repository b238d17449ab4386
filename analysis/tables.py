"""The papers' tables, built from whatever shape a study has (a registry of builders).

Each builder declares what it needs (`needs(ctx) -> bool`): the *shape* of the study, not its preset
name. The shapes are chosen so a table cannot fire on another paper's study: Abadi's Table 4 needs a
sweep of at least two ratios R > 0 (the DAGAN presets run R = 0 and 1 only), the DAGAN table needs
the augmentation comparison or a DAGAN generator. Published numbers join only cells that ran the
paper's protocol where it matters (analysis/published.py: the join rule and each paper's settings).
The grid every table is drawn on is analysis/grid.py; `build_tables` adds, for each table with
published numbers, a twin under the papers' protocol (test_acc_max) so our numbers and theirs are
compared like for like, built only over trials that ran the papers' schedule (fixed epochs): under
early stopping the best test epoch is not what the papers measured, and no twin is printed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from analysis.cells import cells_with_gains
from analysis.grid import Column, Context, PaperLookup, TableBuilder, build_grid, generic_paper, isna
from analysis.metrics import PAPERS_PROTOCOL, PAPERS_PROTOCOL_LABEL, has_data, papers_protocol_trials
from analysis.per_class import build_per_class, has_per_class
from analysis.published import AUTHORS, PAPER_ARCHS, arch_matches, protocol
from analysis.render import Table
from trainables.terms.dataset_sizes import num_classes

__all__ = ["TABLES", "Column", "Context", "TableBuilder", "build_grid", "build_tables", "study_archs"]

SMALL_RATIO = 0.1       # Abadi Table 5 uses R <= 0.1 on CIFAR-10
PAPERS_PROTOCOL_SUFFIX = "_papers_protocol"


def _has(ctx: Context, **where) -> bool:
    rows = ctx.trials[ctx.trials["status"] == "ok"]
    for key, value in where.items():
        rows = rows[rows[key] == value]
    return not rows.empty


def _ratios(ctx: Context, real: bool) -> list:
    return ctx.values("ratio", real=real)


def _near_one(ratios: list) -> float:
    """Abadi's synthetic-only comparisons use R = 1 (as many synthetic images as real ones)."""
    positive = [r for r in ratios if r > 0]
    return 1.0 if 1.0 in positive else min(positive, key=lambda r: abs(r - 1))


# ---------------------------------------------------------------- Abadi
def _t1_columns(ctx):
    fake_r = _near_one(_ratios(ctx, real=False))
    return [Column(f"α = {a:g}", {"alpha": a, "real": False, "ratio": fake_r},
                   paper=generic_paper("abadi", "table1"))
            for a in ctx.values("alpha", real=False)]


def _t2_columns(ctx):
    fake_r = _near_one(_ratios(ctx, real=False))
    return [Column("Real (R = 0)", {"ratio": 0.0, "real": True}, paper=generic_paper("abadi", "table2")),
            Column(f"Fake (synthetic only, R = {fake_r:g})", {"ratio": fake_r, "real": False},
                   paper=generic_paper("abadi", "table2"))]


def _t3_columns(ctx):
    return [Column(f"R = {r:g}", {"ratio": r, "real": False}, paper=generic_paper("abadi", "table3"))
            for r in _ratios(ctx, real=False) if r > 0]


def _ratio_columns(ctx, table: str, keep: Callable[[float], bool]):
    return [Column(f"R = {r:g}", {"ratio": r, "real": True}, paper=generic_paper("abadi", table))
            for r in _ratios(ctx, real=True) if keep(r)]


def _ratio_sweep(ctx) -> bool:
    """Abadi Table 4's shape: real + synthetic at two or more ratios R > 0, some above Table 5's range."""
    positive = [r for r in _ratios(ctx, real=True) if r > 0]
    return len(positive) >= 2 and max(positive) > SMALL_RATIO


def _xing_columns(ctx):
    return [Column("original (R = 0)", {"ratio": 0.0, "real": True}),
            *[Column(f"augmented (R = {r:g})", {"ratio": r, "real": True})
              for r in _ratios(ctx, real=True) if r > 0]]


# ---------------------------------------------------------------- DAGAN (Zhang & Wu)
_DAGAN_TABLES = {"cifar10": "table3", "svhn": "table4"}
# The paper's method columns: (label, augment, gan_arch); gan_arch None is R = 0 (no GAN).
DAGAN_METHODS = (("C", "none", None), ("C_aug", "classic", None), ("Vanilla GAN", "none", "dcgan"),
                 ("DAGAN", "none", "dagan"), ("DAGAN_aug", "classic", "dagan"))
_ARCH_METHOD = {"dcgan": "Vanilla GAN", "dagan": "DAGAN"}


def _dagan_paper(method: str) -> PaperLookup:
    return PaperLookup("dagan", _DAGAN_TABLES, method)


def _dagan_column(label: str, augment: str, arch: str | None, conditioning: str | None = None) -> Column:
    if arch is None:
        return Column(label, {"ratio": 0.0, "real": True, "augment": augment}, paper=_dagan_paper(label))
    select = {"real": True, "augment": augment, "gan_arch": arch}
    if conditioning is not None:
        select["conditioning"] = conditioning
    return Column(label, select, pick_best_ratio=True, paper=_dagan_paper(label))


def _dagan_all_columns(ctx) -> list[Column]:
    """The paper's five methods, then any other arch x augmentation (x conditioning, when the study varied
    it) arm the study ran (no paper). With conditioning varied, each method column takes the paper's:
    Vanilla GAN one GAN per class, DAGAN one conditional GAN."""
    conditionings = ctx.values("conditioning", real=True) if ctx.varying("conditioning") else [None]
    own = {label: (protocol("dagan", label).conditioning if arch and conditionings != [None] else None)
           for label, _, arch in DAGAN_METHODS}
    columns = [_dagan_column(label, augment, arch, own[label]) for label, augment, arch in DAGAN_METHODS]
    known = {(augment, arch, own[label]) for label, augment, arch in DAGAN_METHODS}
    for arch in ctx.values("gan_arch", real=True):
        base = _ARCH_METHOD.get(arch)
        for augment in sorted(ctx.values("augment", real=True), key=lambda a: a != "none"):   # plain first
            for conditioning in conditionings:
                if (augment, arch, conditioning) in known:
                    continue
                name = (base or f"{arch} GAN") + ("_aug" if augment == "classic" else "")
                if conditioning is not None and (base is None or conditioning != own[base]):
                    name += f" ({conditioning})"
                columns.append(_dagan_column(name, augment, arch, conditioning))
    return columns


def _ran(ctx, column: Column) -> bool:
    select = {k: v for k, v in column.select.items() if not (column.pick_best_ratio and k == "ratio")}
    rows = ctx.trials[ctx.trials["status"] == "ok"]
    for key, value in select.items():
        rows = rows[rows[key] == value]
    return not (rows[rows["ratio"].fillna(0) > 0] if column.pick_best_ratio else rows).empty


def _dagan_columns(ctx):
    return [c for c in _dagan_all_columns(ctx) if _ran(ctx, c)]


def _dagan_needs(ctx) -> bool:
    comparison = {"none", "classic"} <= set(ctx.values("augment")) or "dagan" in ctx.values("gan_arch")
    return comparison and _has(ctx, real=True, ratio=0.0) and any(r > 0 for r in _ratios(ctx, real=True))


def _dagan_notes(ctx):
    sizes = sorted({s for s in ctx.trials["size"] if not isinstance(s, str)})
    per_class = [f"{s} = {s / num_classes(d):g}/class"
                 for s in sizes for d in ctx.values("dataset")][:8]
    missing = [c.label for c in _dagan_all_columns(ctx)[:len(DAGAN_METHODS)] if not _ran(ctx, c)]
    notes = ["Sizes are totals; DAGAN's paper counts samples per class (" + ", ".join(per_class) + ").",
             "Methods: C = R = 0 without augmentation, C_aug = R = 0 with classic augmentation; Vanilla GAN "
             "= dcgan with one GAN per class (the paper's vanilla GAN is trained on each class), DAGAN = dagan "
             "as one conditional GAN (each at the R > 0 chosen on validation, in brackets; _aug: with classic "
             "augmentation). The paper's numbers join only its own arm: architecture, per-class vs conditional "
             "and augmentation."]
    if missing:
        notes.append("Not in this study: " + ", ".join(missing) + ".")
    return notes


# ---------------------------------------------------------------- the registry
TABLES: dict[str, TableBuilder] = {b.name: b for b in (
    TableBuilder(
        "abadi_t1", "Abadi Table 1. The classifier's accuracy trained with GAN generated images only, "
        "for different generator widths alpha",
        needs=lambda ctx: _has(ctx, real=False) and len(ctx.values("alpha", real=False)) > 1,
        columns=_t1_columns, paper="abadi"),
    TableBuilder(
        "abadi_t2", "Abadi Table 2. The classifier's accuracy trained on synthetic (Fake) and real (Real) "
        "data for different sample sizes",
        needs=lambda ctx: _has(ctx, real=False) and _has(ctx, real=True, ratio=0.0),
        columns=_t2_columns, paper="abadi"),
    TableBuilder(
        "abadi_t3", "Abadi Table 3. The classifier's accuracy trained on GAN generated data only; "
        "R is the ratio of synthetic images to the GAN's real sample size",
        needs=lambda ctx: _has(ctx, real=False), columns=_t3_columns, paper="abadi"),
    TableBuilder(
        "abadi_t4", "Abadi Table 4. The classifier's accuracy trained with real and GAN generated data "
        "at the same time; R is the ratio of synthetic to real images",
        needs=_ratio_sweep, columns=lambda ctx: _ratio_columns(ctx, "table4", lambda r: True), paper="abadi"),
    TableBuilder(
        "abadi_t5", "Abadi Table 5. The classifier's accuracy trained on real data plus a small ratio R "
        "of synthetic data",
        needs=lambda ctx: _has(ctx, real=True, ratio=0.0)
        and any(0 < r <= SMALL_RATIO for r in _ratios(ctx, real=True)),
        columns=lambda ctx: _ratio_columns(ctx, "table5", lambda r: r <= SMALL_RATIO), paper="abadi"),
    TableBuilder(
        "xing", "Xing. Accuracy of each classifier trained on the original vs the DCGAN-augmented "
        "training set",
        needs=lambda ctx: len(ctx.values("classifier")) > 1 and _has(ctx, real=True, ratio=0.0)
        and any(r > 0 for r in _ratios(ctx, real=True)),
        columns=_xing_columns, row_axes_first=("classifier", "size"), paper="xing"),
    TableBuilder(
        "dagan", "DAGAN (Zhang & Wu). Classification accuracy by training-set size and method: C, C_aug, "
        "Vanilla GAN, DAGAN, DAGAN_aug",
        needs=_dagan_needs, columns=_dagan_columns, notes=_dagan_notes, paper="dagan"),
    TableBuilder(
        "per_class", "Per-class accuracy per cell (mean over seeds)", needs=has_per_class,
        build=build_per_class),
)}


def titled(builder: TableBuilder, ctx: Context) -> TableBuilder:
    """A paper's layout over another GAN says so in its title: the shape fits, the paper's GAN does not."""
    if builder.paper is None or not ctx.study_archs or arch_matches(builder.paper, ctx.study_archs):
        return builder
    who, theirs = AUTHORS.get(builder.paper, builder.paper), " or ".join(sorted(PAPER_ARCHS[builder.paper]))
    return dataclasses.replace(builder, title=f"{builder.title} [{who}'s layout over another GAN: this study "
                                              f"used {', '.join(ctx.study_archs)}; {who} used {theirs}]")


def _has_paper(table: Table) -> bool:
    return "paper" in table.data and table.data["paper"].notna().any()


def papers_protocol_context(ctx: Context) -> Context | None:
    """The same study under test_acc_max (selection unchanged: still on validation), over the trials that
    ran the papers' schedule; None when none did (early stopping: not the papers' protocol) or the
    tables already report test_acc_max."""
    if ctx.metric == PAPERS_PROTOCOL:
        return None
    trials = papers_protocol_trials(ctx.trials, ctx.specs)
    if trials is None or not has_data(trials, PAPERS_PROTOCOL):
        return None
    selection = ctx.choice.selection if ctx.choice else None
    cells = cells_with_gains(trials, PAPERS_PROTOCOL, selection)
    return dataclasses.replace(ctx, trials=trials, metric=PAPERS_PROTOCOL, cells=cells)


def build_tables(ctx: Context) -> list[Table]:
    """Every registered table whose needs the results meet, in registry order; after each table with
    published numbers, its twin under the papers' protocol (`<name>_papers_protocol`), when some trials
    ran the papers' schedule."""
    tables, protocol_ctx = [], None
    for builder in TABLES.values():
        if not builder.needs(ctx):
            continue
        builder = titled(builder, ctx)
        table = (builder.build or build_grid)(ctx, builder)
        tables.append(table)
        if not _has_paper(table):
            continue
        protocol_ctx = protocol_ctx or papers_protocol_context(ctx)
        if protocol_ctx is not None:
            twin = dataclasses.replace(builder, name=builder.name + PAPERS_PROTOCOL_SUFFIX,
                                       title=f"{builder.title} — under the papers' protocol: "
                                             f"{PAPERS_PROTOCOL_LABEL}")
            tables.append(build_grid(protocol_ctx, twin))
    return tables


def study_archs(trials) -> tuple[str, ...]:
    """Every GAN architecture named in the trials (R > 0 rows: an R = 0 row names none)."""
    if "gan_arch" not in trials:
        return ()
    values = trials["gan_arch"].dropna()
    return tuple(sorted({str(v) for v in values if not isna(v) and str(v).strip()}))

