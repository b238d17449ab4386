"""Seaborn plots (PNG, headless Agg backend), one registry entry per figure kind.

Each entry declares what it needs and draws from a `PlotData`; every figure is titled and its axes
carry units. Paper figures reproduced: Abadi Fig. 3/6 (accuracy vs R per size), Xing Fig. 3-5
(accuracy vs epoch with and without synthetic data), Hooda Fig. 3 (GAN losses), Abadi Fig. 4/5
(sample grids, real beside synthetic), Abadi Fig. 2 (accuracy vs real sample size, one line per R).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")   # headless: plots are written on clusters and CI machines with no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from analysis.cells import varying_axes  # noqa: E402
from analysis.grid import match  # noqa: E402
from analysis.inputs import GanRecord  # noqa: E402
from analysis.load import write_bytes_atomic  # noqa: E402
from analysis.metrics import metric_label, metric_short  # noqa: E402
from analysis.selection import pick_best  # noqa: E402
from analysis.stats import mean_ci, stars  # noqa: E402

MAX_PANELS = 12
DPI = 110


@dataclass(frozen=True)
class PlotData:
    trials: pd.DataFrame
    curves: pd.DataFrame
    cells: pd.DataFrame           # cell_stats merged with gains
    metric: str
    gans: tuple[GanRecord, ...]
    chosen_on: str = "chosen on validation"    # how pick_best chose (analysis/grid.Context.selection_note)


@dataclass(frozen=True)
class PlotSpec:
    name: str
    description: str
    needs: Callable[[PlotData], bool]
    draw: Callable[[PlotData, Path], list[Path]]
    # The report's caption of one drawn file, when files of one plot differ (one per GAN): what differs.
    caption: Callable[[PlotData, Path], str] | None = None

    def caption_of(self, data: PlotData, path: Path) -> str:
        return self.caption(data, path) if self.caption else self.description


def _save(fig, path: Path, tight: bool = True) -> Path:
    """`tight`: crop to what was drawn (an extra draw pass); a figure laid out edge to edge by
    fig.tight_layout() needs none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata keeps PNG bytes identical across rebuilds (idempotent reports).
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight" if tight else None, metadata={"Software": None})
    plt.close(fig)
    write_bytes_atomic(buffer.getvalue(), path)
    return path


def _facet_axes(data: PlotData, exclude: set[str]) -> list[str]:
    return [a for a in varying_axes(data.trials) if a not in exclude]


def _facet_label(axes: list[str], values: dict) -> str:
    parts = [f"n = {v}" if a == "size" else f"{a} = {v:g}" if isinstance(v, float) else f"{a} = {v}"
             for a, v in zip(axes, values.values(), strict=True)]
    return ", ".join(parts) or "all trials"


def _grid(n: int, width: float = 5.2, height: float = 3.8):
    if n == 1:
        width, height = width * 1.45, height * 1.3   # a lone panel must fit the figure title
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


# ---------------------------------------------------------------- accuracy vs R (Abadi Fig. 3/6)
def _real_cells(data: PlotData) -> pd.DataFrame:
    return data.cells[data.cells["real"].astype(bool) & (data.cells["n"] > 0)]


def draw_accuracy_vs_ratio(data: PlotData, out_dir: Path) -> list[Path]:
    cells = _real_cells(data)
    facet_axes = _facet_axes(data, {"size", "ratio", "real"})
    # With no facet axis, drop_duplicates() on zero columns keeps every row: one empty facet instead.
    facets = (cells[cells["ratio"] > 0][facet_axes].drop_duplicates().to_dict("records")[:MAX_PANELS]
              if facet_axes else [{}])
    ratios = sorted(cells["ratio"].unique())
    sizes = sorted(cells["size"].unique(), key=lambda s: (isinstance(s, str), s))
    palette = dict(zip(sizes, sns.color_palette("viridis", len(sizes)), strict=True))
    with sns.axes_style("whitegrid"):
        fig, axes = _grid(len(facets))
        for ax, facet in zip(axes, facets, strict=True):
            for size in sizes:
                points = []
                for ratio in ratios:
                    found = match(cells, {**facet, "size": size, "ratio": ratio})
                    if len(found):
                        points.append((ratios.index(ratio), found.iloc[0]))
                if not points:
                    continue
                x = [p[0] for p in points]
                mean = np.array([p[1]["mean"] for p in points])
                lo = np.array([p[1]["ci_lo"] for p in points], dtype=float)
                hi = np.array([p[1]["ci_hi"] for p in points], dtype=float)
                ax.plot(x, mean, marker="o", color=palette[size], label=f"n = {size}")
                ax.fill_between(x, np.where(np.isnan(lo), mean, lo), np.where(np.isnan(hi), mean, hi),
                                color=palette[size], alpha=0.2, linewidth=0)
            ax.set_xticks(range(len(ratios)), [f"{r:g}" for r in ratios])
            ax.set_xlabel("R = synthetic / real images")
            ax.set_ylabel(metric_short(data.metric))
            if facet:
                ax.set_title(_facet_label(facet_axes, facet), fontsize=10)
            ax.legend(title="real images", fontsize=8, title_fontsize=8)
        fig.suptitle(f"{metric_label(data.metric).capitalize()} vs ratio R of synthetic images, real + synthetic "
                     "training\n(one line per real sample size; bands: 95% CI over independent units; R axis not to scale)")
        fig.tight_layout()
        return [_save(fig, out_dir / "accuracy_vs_ratio.png")]


# ---------------------------------------------------------------- accuracy vs epoch (Xing Fig. 3-5)
def draw_accuracy_vs_epoch(data: PlotData, out_dir: Path) -> list[Path]:
    curves = data.curves[(data.curves["status"] == "ok") & data.curves["real"].astype(bool)]
    curves = curves.dropna(subset=["test_acc", "epoch"])
    cells = _real_cells(data)
    cells = cells[cells["ratio"] > 0]
    panels = curves[["classifier", "size"]].drop_duplicates().sort_values(["classifier", "size"])
    panels = panels.to_dict("records")[:MAX_PANELS]
    with sns.axes_style("whitegrid"):
        fig, axes = _grid(len(panels))
        for ax, panel in zip(axes, panels, strict=True):
            mine = curves[(curves["classifier"] == panel["classifier"]) & (curves["size"] == panel["size"])]
            top, _ = pick_best(cells[(cells["classifier"] == panel["classifier"]) & (cells["size"] == panel["size"])])
            lines = [("R = 0 (no synthetic)", mine["ratio"] == 0, "tab:gray")]
            if top is not None:
                r = top["ratio"]
                lines.append((f"best R > 0 (R = {r:g})", mine["ratio"] == r, "tab:orange"))
            for label, mask, color in lines:
                per_epoch = mine[mask].groupby("epoch")["test_acc"]
                epochs = np.array(sorted(per_epoch.groups))
                cis = [mean_ci(per_epoch.get_group(e)) for e in epochs]
                mean = np.array([c.mean for c in cis])
                lo = np.array([c.lo if c.n > 1 else c.mean for c in cis])
                hi = np.array([c.hi if c.n > 1 else c.mean for c in cis])
                ax.plot(epochs, mean, color=color, label=f"{label}: test")
                ax.fill_between(epochs, lo, hi, color=color, alpha=0.2, linewidth=0)
                if "val_acc" in mine and mine.loc[mask, "val_acc"].notna().any():
                    # Validation beside test: the epoch a reader would pick is the top of the dashed line.
                    val = mine[mask].groupby("epoch")["val_acc"].mean()
                    ax.plot(val.index, val.to_numpy(), color=color, linestyle="--", label=f"{label}: validation")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("accuracy")
            ax.set_title(f"{panel['classifier']}, n = {panel['size']} real images", fontsize=10)
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
        _share_y(axes)
        fig.suptitle("Accuracy per epoch with and without synthetic images\n(solid: test, bands: 95% CI over "
                     f"classifier runs (seeds); dashed: validation, mean over seeds; best R {data.chosen_on})")
        fig.tight_layout()
        return [_save(fig, out_dir / "accuracy_vs_epoch.png")]


def _has_curves(data: PlotData) -> bool:
    c = data.curves
    return not c.empty and "ratio" in c and c["test_acc"].notna().any() and (c["ratio"] == 0).any()


# ---------------------------------------------------------------- accuracy vs size (Abadi Fig. 2)
def _size_cells(data: PlotData) -> pd.DataFrame:
    cells = data.cells[data.cells["n"] > 0]
    return cells[cells["size"].map(lambda s: isinstance(s, int | float | np.integer | np.floating))]


def _line_label(ratio: float, real: bool) -> str:
    return f"R = {ratio:g}" + ("" if real else " (synthetic only)")


def draw_accuracy_vs_size(data: PlotData, out_dir: Path) -> list[Path]:
    cells = _size_cells(data)
    facet_axes = _facet_axes(data, {"size", "ratio", "real"})
    facets = (cells[cells["ratio"] > 0][facet_axes].drop_duplicates().to_dict("records")[:MAX_PANELS]
              if facet_axes else [{}])
    lines = sorted({(float(r), bool(real)) for r, real in zip(cells["ratio"], cells["real"], strict=True)},
                   key=lambda k: (not k[1], k[0]))
    # One colour per R (solid: with the real images, dashed: synthetic only), so R = 1 reads as R = 1.
    ratios = sorted({r for r, _ in lines})
    colours = dict(zip(ratios, sns.color_palette("tab10", max(len(ratios), 1)), strict=False))
    palette = {(r, real): colours[r] for r, real in lines}
    sizes = sorted(cells["size"].unique())
    with sns.axes_style("whitegrid"):
        fig, axes = _grid(len(facets))
        for ax, facet in zip(axes, facets, strict=True):
            for ratio, real in lines:
                points = [found.iloc[0] for size in sizes
                          if len(found := match(cells, {**facet, "size": size, "ratio": ratio, "real": real}))]
                if not points:
                    continue
                x = np.array([p["size"] for p in points], dtype=float)
                mean = np.array([p["mean"] for p in points], dtype=float)
                half = np.array([(p["ci_hi"] - p["ci_lo"]) / 2 for p in points], dtype=float)
                ax.errorbar(x, mean, yerr=np.nan_to_num(half), marker="o", capsize=3, color=palette[(ratio, real)],
                            linestyle="-" if real else "--", label=_line_label(ratio, real))
            ax.set_xscale("log")
            ax.set_xticks(sizes, [f"{s:g}" for s in sizes])
            ax.minorticks_off()
            ax.set_xlabel("real training images n (log scale)")
            ax.set_ylabel(metric_short(data.metric))
            if facet:
                ax.set_title(_facet_label(facet_axes, facet), fontsize=10)
        # One legend for every panel, outside them: lines are the same R in each panel.
        handles = {}
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, handle)
        order = [_line_label(r, real) for r, real in lines if _line_label(r, real) in handles]
        fig.legend([handles[k] for k in order], order, title="R = synthetic / real images", fontsize=8,
                   title_fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.suptitle(f"{metric_label(data.metric).capitalize()} vs real sample size, one line per ratio R "
                     "(Abadi Fig. 2)\n(error bars: 95% CI over independent units; dashed: trained on synthetic images only)")
        fig.tight_layout()
        return [_save(fig, out_dir / "accuracy_vs_size.png")]


# ---------------------------------------------------------------- gain heatmap
def draw_gain_heatmap(data: PlotData, out_dir: Path) -> list[Path]:
    cells = _real_cells(data)
    cells = cells[(cells["ratio"] > 0) & cells["gain"].notna()].copy()
    row_axes = ["size", *_facet_axes(data, {"size", "ratio", "real"})]
    cells["row"] = [_facet_label(row_axes, {a: r[a] for a in row_axes}) for _, r in cells.iterrows()]
    cells["R"] = cells["ratio"].map(lambda r: f"{r:g}")
    order_rows = list(dict.fromkeys(cells.sort_values(row_axes, key=_numeric_first)["row"]))
    order_cols = [f"{r:g}" for r in sorted(cells["ratio"].unique())]
    # In percentage points, as the report's words are.
    gain = (cells.pivot_table(index="row", columns="R", values="gain") * 100).reindex(index=order_rows,
                                                                                      columns=order_cols)
    cells["text"] = [f"{g * 100:+.1f}{stars(p)}" for g, p in zip(cells["gain"], cells["p_holm"], strict=True)]
    text = cells.pivot_table(index="row", columns="R", values="text", aggfunc="first")
    text = text.reindex(index=order_rows, columns=order_cols).fillna("")
    limit = float(np.nanmax(np.abs(gain.to_numpy()))) or 1.0
    # Cells wide enough for "+3.1**" and room for the longest row label (seen clipped otherwise).
    label_inches = 0.08 * max(len(r) for r in order_rows)
    fig, ax = plt.subplots(figsize=(1.6 * len(order_cols) + label_inches + 2.5, max(3.6, 0.55 * len(order_rows) + 2)))
    sns.heatmap(gain, annot=text.to_numpy(), fmt="", cmap="RdBu", center=0, vmin=-limit, vmax=limit,
                linewidths=0.5, ax=ax, cbar_kws={"label": "gain over R = 0 (percentage points)"})
    ax.set_xlabel("R = synthetic / real images")
    ax.set_ylabel("")
    ax.tick_params(axis="y", labelrotation=0)    # row labels such as "n = 500, alpha = 1" read across
    ax.set_title(f"Gain over R = 0 in {metric_label(data.metric)} (points), paired by unit\n"
                 "(Holm-adjusted over every arm x ratio of a cell: * p < 0.05, ** p < 0.01)", fontsize=10)
    fig.tight_layout()
    return [_save(fig, out_dir / "gain_heatmap.png")]


def _share_y(axes) -> None:
    """One y-range for panels a reader compares side by side (matplotlib picks one per panel)."""
    if len(axes) > 1:
        lows, highs = zip(*(ax.get_ylim() for ax in axes), strict=True)
        for ax in axes:
            ax.set_ylim(min(lows), max(highs))


def _numeric_first(column: pd.Series) -> pd.Series:
    return column.map(lambda v: (1, str(v)) if isinstance(v, str) else (0, v))


def _gan_order(gan) -> tuple:
    """Panels and grids by real sample size, then seed, then the GAN's settings (not by key hash)."""
    meta = gan.meta or {}
    size = meta.get("size")
    return (0 if isinstance(size, int | float) else 1, size if isinstance(size, int | float) else str(size),
            meta.get("seed", 0), str(meta.get("arch", "")), float(meta.get("alpha", 0) or 0), gan.key)


def _gan_label(gan) -> str:
    """'abadi alpha 1, n = 500, seed 0 (key)': which GAN a panel shows, from its meta.json."""
    meta = gan.meta or {}
    parts = [f"{meta['arch']} alpha {float(meta['alpha']):g}" if {"arch", "alpha"} <= set(meta) else "",
             f"n = {meta['size']}" if "size" in meta else "", f"seed {meta['seed']}" if "seed" in meta else ""]
    described = ", ".join(p for p in parts if p)
    key = gan.key if len(gan.key) <= 16 else gan.key[:13] + "..."
    return f"{described} ({key})" if described else key


# ---------------------------------------------------------------- GAN losses (Hooda Fig. 3)
def draw_gan_losses(data: PlotData, out_dir: Path) -> list[Path]:
    gans = sorted((g for g in data.gans if g.losses is not None and {"d_loss", "g_loss"} <= set(g.losses)),
                  key=_gan_order)
    with sns.axes_style("whitegrid"):
        fig, axes = _grid(min(len(gans), MAX_PANELS), width=4.8, height=3.4)
        for ax, gan in zip(axes, gans[:MAX_PANELS], strict=False):
            losses = gan.losses.groupby("epoch")[["d_loss", "g_loss"]].mean().reset_index()
            long = losses.melt(id_vars="epoch", var_name="loss", value_name="value")
            long["loss"] = long["loss"].map({"d_loss": "discriminator", "g_loss": "generator"})
            sns.lineplot(long, x="epoch", y="value", hue="loss", ax=ax,
                         palette={"discriminator": "tab:blue", "generator": "tab:red"})
            ax.set_title(_gan_label(gan), fontsize=9)
            ax.set_xlabel("epoch")
            ax.set_ylabel("loss (BCE)")
            ax.legend(fontsize=8)
        _share_y(axes)
        more = f" (first {MAX_PANELS} of {len(gans)})" if len(gans) > MAX_PANELS else ""
        fig.suptitle(f"GAN discriminator and generator loss per epoch{more}")
        fig.tight_layout()
        return [_save(fig, out_dir / "gan_losses.png")]


# ---------------------------------------------------------------- sample grids (Abadi Fig. 4/5)
STRIP_EPOCHS = 6   # per-epoch grids shown under a GAN's final samples, evenly spaced over its training


def _epoch_grids(gan) -> list[tuple[int, Path]]:
    found = sorted((int(m.group(1)), p) for p in gan.path.glob("samples_epoch*.png")
                   if (m := re.search(r"samples_epoch(\d+)\.png$", p.name)))
    if len(found) <= STRIP_EPOCHS:
        return found
    picks = np.unique(np.linspace(0, len(found) - 1, STRIP_EPOCHS).round().astype(int))
    return [found[i] for i in picks]


def _show(ax, path: Path, title: str, fontsize: int) -> None:
    image = plt.imread(path)
    # Grayscale grids (MNIST) are 2-D arrays: without an explicit gray map matplotlib paints them viridis.
    gray = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0} if image.ndim == 2 else {}
    ax.imshow(image, interpolation="nearest", **gray)
    ax.set_title(title, fontsize=fontsize)
    ax.axis("off")


def draw_sample_grids(data: PlotData, out_dir: Path) -> list[Path]:
    """Per GAN (by n, then seed): real images beside its final samples, and under them a strip of its
    samples over the epochs, so a reader sees when it was best. Rows of every grid are the classes."""
    paths = []
    for gan in sorted((g for g in data.gans if g.latest_samples is not None), key=_gan_order)[:MAX_PANELS]:
        top = ([("real images (one row per class)", gan.real_samples)] if gan.real_samples else [])
        epoch = int(gan.latest_samples.stem.removeprefix("samples_epoch"))
        top.append((f"synthetic, GAN after epoch {epoch} (same rows)", gan.latest_samples))
        strip = _epoch_grids(gan)
        cols = max(len(strip), 1)
        fig = plt.figure(figsize=(max(10.0, 1.9 * cols), 5.4 + (2.4 if len(strip) > 1 else 0)))
        rows = 2 if len(strip) > 1 else 1
        grid = fig.add_gridspec(rows, 2 * cols, height_ratios=[2.2, 1][:rows])
        half = cols
        for i, (title, path) in enumerate(top):
            start = 0 if len(top) == 1 else i * half
            span = 2 * cols if len(top) == 1 else half
            _show(fig.add_subplot(grid[0, start:start + span]), path, title, 11)
        if len(strip) > 1:
            for i, (number, path) in enumerate(strip):
                _show(fig.add_subplot(grid[1, 2 * i:2 * i + 2]), path, f"epoch {number}", 9)
        note = "" if gan.real_samples else " (no real_samples.png found)"
        fig.suptitle(f"Samples per class, GAN {_gan_label(gan)}{note}", fontsize=11)
        fig.tight_layout()
        paths.append(_save(fig, out_dir / f"samples_{gan.key}.png", tight=False))
    return paths


def _sample_grid_caption(data: PlotData, path: Path) -> str:
    key = path.stem.removeprefix("samples_")
    gan = next((g for g in data.gans if g.key == key), None)
    label = _gan_label(gan) if gan is not None else key
    return f"Samples per class of GAN {label}: real beside synthetic, and its samples over the epochs"


PLOTS: dict[str, PlotSpec] = {p.name: p for p in (
    PlotSpec("accuracy_vs_ratio", "Accuracy vs R, one line per size (Abadi Fig. 3/6)",
             needs=lambda d: (_real_cells(d)["ratio"] > 0).any(), draw=draw_accuracy_vs_ratio),
    PlotSpec("accuracy_vs_size", "Accuracy vs real sample size, one line per R (Abadi Fig. 2)",
             needs=lambda d: _size_cells(d)["size"].nunique() > 1, draw=draw_accuracy_vs_size),
    PlotSpec("accuracy_vs_epoch", "Accuracy vs epoch with and without synthetic data (Xing Fig. 3-5)",
             needs=_has_curves, draw=draw_accuracy_vs_epoch),
    PlotSpec("gain_heatmap", "Gain over R = 0 by size and R, with significance marks",
             needs=lambda d: "gain" in d.cells and (_real_cells(d)["gain"].notna()).any(),
             draw=draw_gain_heatmap),
    PlotSpec("gan_losses", "GAN discriminator/generator loss curves (Hooda Fig. 3)",
             needs=lambda d: any(g.losses is not None for g in d.gans), draw=draw_gan_losses),
    PlotSpec("sample_grids", "Samples per class, real beside synthetic (Abadi Fig. 4/5)",
             needs=lambda d: any(g.latest_samples is not None for g in d.gans), draw=draw_sample_grids,
             caption=_sample_grid_caption),
)}


def draw_plots(data: PlotData, out_dir: Path) -> dict[str, list[Path]]:
    """Every registered plot whose needs are met -> {name: [png paths]}."""
    return {name: spec.draw(data, out_dir) for name, spec in PLOTS.items() if spec.needs(data)}
