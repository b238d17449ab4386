"""report/report.md: the answer first, then what was run, GAN quality, tables, plots, caveats.

`build_report(dir)` rebuilds everything from the study folder alone and is idempotent: no clock,
sorted inputs, fixed PNG metadata, so two runs give identical files.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.columns import FULL_TRAIN_SIZES, NUM_CLASSES, metric_label
from analysis.load import GanRecord, Study, load_study, write_text_atomic
from analysis.plots import PLOTS, PlotData, draw_plots
from analysis.published import load_published
from analysis.render import Table, table_markdown, to_markdown, write_table
from analysis.stats import ALPHA_LEVEL, best_ratio_table, cells_with_gains, design_axes
from analysis.tables import Context, build_tables

DIVERSITY_COLLAPSE = 0.5   # a class whose samples are < half as diverse as its real images looks collapsed
CHANCE_MARGIN = 2.0        # GAN-test accuracy below 2x chance: the classifier cannot tell the classes apart


def study_metric(study: Study) -> str:
    metric = study.spec.get("search", {}).get("metric")
    if metric in study.trials and study.trials[metric].notna().any():
        return metric
    return "test_acc_max" if study.trials["test_acc_max"].notna().any() else "test_acc"


# ---------------------------------------------------------------- the answer
def _fmt(x: float, signed: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "p = n/a"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def _group_label(row: pd.Series, group_axes: list[str]) -> str:
    extra = [f"{a} {row[a]}" for a in group_axes if a != "size"]
    return f"n = {row['size']} real images" + (f" ({', '.join(extra)})" if extra else "")


def answer_lines(best: pd.DataFrame, metric: str) -> list[str]:
    """Plain-words answer: best R per size, its gain with CI and p, and whether anything helped."""
    real = best[best["real"].astype(bool)] if "real" in best else best
    if best.empty:
        return ["No trial with synthetic images finished, so there is nothing to compare with R = 0 yet."]
    if real.empty:
        return ["This study trained on synthetic images only (no real + synthetic trials); "
                "see Abadi Tables 1-3 below for how close synthetic-only training gets to real data."]
    group_axes = [c for c in real.columns if c not in (
        "best_ratio", "mean", "n", "baseline", "gain", "gain_lo", "gain_hi", "p_value", "verdict", "real",
        "alpha", "gan_arch", "conditioning") and not c.startswith("gan")]
    helped = real[real["verdict"] == "helps"]
    label = metric_label(metric)
    untested = real["verdict"].astype(str).str.startswith("untested")
    if untested.all():
        head = ("**Not enough repeats to tell yet**: every cell has fewer than 2 paired seeds, so no gain over "
                "R = 0 can be tested; rerun with `--set seeds=3` (or more) for an answer with error bars.")
    elif helped.empty:
        head = (f"**Adding synthetic images did not help at any size**: no ratio R beat R = 0 significantly "
                f"(paired t-test, p < {ALPHA_LEVEL}) on {label}.")
    elif len(helped) == len(real):
        head = f"**Adding synthetic images helped at every size tested** ({label}, paired t-test, p < {ALPHA_LEVEL})."
    else:
        where = ", ".join(_group_label(r, group_axes) for _, r in helped.iterrows())
        head = f"**Adding synthetic images helped only for {where}**; elsewhere no R beat R = 0 significantly."
    lines = [head, ""]
    for _, row in real.iterrows():
        ci = f"95% CI {_fmt(row['gain_lo'], True)} to {_fmt(row['gain_hi'], True)}"
        lines.append(
            f"- {_group_label(row, group_axes)}: best R = {row['best_ratio']:g} reaches {_fmt(row['mean'])} vs "
            f"{_fmt(row['baseline'])} without synthetic images: gain {_fmt(row['gain'], True)} ({ci}, "
            f"{_fmt_p(row['p_value'])}, {row['n']} seeds) — {row['verdict']}.")
    return lines


# ---------------------------------------------------------------- sections
def _order(value):
    return (1, str(value)) if isinstance(value, str) else (0, value)


def _what_was_run(study: Study, metric: str) -> list[str]:
    trials, spec, env = study.trials, study.spec, study.env
    counts = trials["status"].value_counts().reindex(["ok", "diverged", "error"], fill_value=0)
    lines = ["## What was run", ""]
    axes = {a: [f"{v:g}" if isinstance(v, float) else str(v) for v in sorted(trials[a].dropna().unique(), key=_order)]
            for a in design_axes(trials)}
    lines.append(f"- Trials: {len(trials)} ({counts['ok']} ok, {counts['diverged']} diverged, "
                 f"{counts['error']} errored), read from `{study.source}`; seeds per cell: "
                 f"{trials['seed'].nunique()}; metric: {metric_label(metric)} (`{metric}`).")
    lines.append("- Axes: " + "; ".join(f"{a}: {', '.join(v)}" for a, v in axes.items() if v))
    if env:
        versions = ", ".join(f"{k} {env[k]}" for k in ("python", "torch", "ray", "optuna") if k in env)
        lines.append(f"- Software: {versions or 'n/a'}; git {env.get('git_sha', 'n/a')}.")
        devices = env.get("devices", env.get("device"))
        if devices:
            lines.append(f"- Hardware: {', '.join(map(str, devices)) if isinstance(devices, list) else devices}.")
    gan_seconds = sum(float(g.meta.get("seconds", 0) or 0) for g in study.gans)
    clf_seconds = float(trials["train_seconds"].fillna(0).sum())
    ips = trials.loc[trials["status"] == "ok", "images_per_second"].dropna()
    timing = f"- Timing: GAN training {gan_seconds / 60:.1f} min over {len(study.gans)} GAN keys; " \
             f"classifier training {clf_seconds / 60:.1f} min over {len(trials)} trials"
    lines.append(timing + (f" (median {ips.median():.0f} images/s)." if len(ips) else "."))
    if study.spec_text:
        lines += ["", "<details><summary>spec.toml (resolved)</summary>", "", "```toml",
                  study.spec_text.rstrip(), "```", "", "</details>"]
    elif spec:
        lines.append(f"- Spec: {json.dumps(spec, sort_keys=True)}")
    return lines + [""]


def _diversity_warning(meta: dict) -> str:
    div, ref = meta.get("sample_diversity"), meta.get("real_diversity")
    if div is None:
        return ""
    div = div if isinstance(div, list) else [div]
    ref = (ref if isinstance(ref, list) else [ref] * len(div)) if ref is not None else None
    if ref is not None:
        low = [i for i, (d, r) in enumerate(zip(div, ref, strict=False)) if r and d < DIVERSITY_COLLAPSE * r]
    else:
        top = max(div) if div else 0
        low = [i for i, d in enumerate(div) if len(div) > 1 and top and d < 0.25 * top]
    return f"possible mode collapse in class(es) {', '.join(map(str, low))} (low sample diversity)" if low else ""


def gan_warnings(gan: GanRecord) -> list[str]:
    meta, warnings = gan.meta, []
    classes = meta.get("num_classes") or NUM_CLASSES.get(str(meta.get("dataset")), 10)
    test_acc = meta.get("gan_test_acc")
    if isinstance(test_acc, int | float) and test_acc < CHANCE_MARGIN / classes:
        warnings.append(f"GAN-test accuracy {test_acc:.3f} is near chance ({1 / classes:.2f}): "
                        "samples do not look like their class")
    if diversity := _diversity_warning(meta):
        warnings.append(diversity)
    if meta.get("status", "ok") != "ok":
        warnings.append(f"status {meta.get('status')}: {meta.get('reason', 'no reason recorded')}")
    return warnings


def _gan_quality(study: Study) -> list[str]:
    lines = ["## GAN quality", ""]
    if not study.gans:
        return lines + ["No `gans/` folder: this study used no GAN or its GAN stage has not run.", ""]

    def num(value, spec=".3f"):
        return format(value, spec) if isinstance(value, int | float) and math.isfinite(value) else "n/a"

    rows = [{"GAN key": g.key, **{column: g.meta.get(field, "n/a") for column, field in
                                   (("arch", "arch"), ("alpha", "alpha"), ("n", "size"), ("seed", "seed"))},
             "status": g.meta.get("status", "n/a"),
             "GAN-train acc": num(g.meta.get("gan_train_acc")), "GAN-test acc": num(g.meta.get("gan_test_acc")),
             "Fréchet distance": num(g.meta.get("frechet_distance"), ".2f"),
             "minutes": num((g.meta.get("seconds") or float("nan")) / 60, ".1f"),
             "warnings": "; ".join(gan_warnings(g)) or "none"} for g in study.gans]
    lines += [to_markdown(pd.DataFrame(rows)), "",
              "GAN-train: a classifier trained on synthetic images, tested on real ones. GAN-test: a classifier "
              "trained on real images, tested on synthetic ones (near chance = the samples do not show their "
              "class). Fréchet distance: between real and synthetic features of a real-data classifier "
              "(lower is closer).", ""]
    return lines


def _expected_missing(study: Study) -> pd.DataFrame:
    """Grid cells the spec asked for that have no trial at all (grid search only)."""
    spec = study.spec
    if not spec or spec.get("search", {}).get("mode", "grid") != "grid":
        return pd.DataFrame()
    dataset = spec.get("dataset", "")
    sizes = [FULL_TRAIN_SIZES.get(dataset, s) if s == "full" else s for s in spec.get("sizes", [])]
    ratios = [float(r) for r in spec.get("mix", {}).get("ratios", [])]
    names = spec.get("classifier", {}).get("name", [])
    classifiers = names if isinstance(names, list) else [names]
    seeds = range(int(spec.get("seeds", 0)))
    if not (sizes and ratios and classifiers):
        return pd.DataFrame()
    present = {(str(s), float(r), str(c), int(k)) for s, r, c, k in
               study.trials[["size", "ratio", "classifier", "seed"]].itertuples(index=False)}
    missing = [{"size": s, "ratio": r, "classifier": c, "seed": k}
               for s, r, c, k in itertools.product(sizes, ratios, classifiers, seeds)
               if (str(s), r, str(c), k) not in present]
    return pd.DataFrame(missing)


def _failures(study: Study) -> list[str]:
    lines = ["## Missing, errored and diverged trials", ""]
    failed = study.trials[study.trials["status"] != "ok"]
    if failed.empty:
        lines.append("Every trial finished with status ok.")
    else:
        cols = ["trial", *[a for a in design_axes(study.trials) if study.trials[a].nunique() > 1], "seed",
                "status", "reason"]
        lines += [f"{len(failed)} trial(s) did not finish ok; they are excluded from every statistic and "
                  "ranking:", "", to_markdown(failed[cols].fillna(""))]
    missing = _expected_missing(study)
    if len(missing):
        lines += ["", f"{len(missing)} trial(s) the spec asks for have no result (not run yet, or the study "
                  "was interrupted: `study resume DIR` runs them):", "", to_markdown(missing.head(50))]
    return lines + [""]


def _disagreements(tables: list[Table]) -> list[str]:
    lines = ["## Where our results disagree with the papers", ""]
    found = [n.removeprefix("Disagrees with the paper: ") for t in tables for n in t.notes
             if n.startswith("Disagrees with the paper:")]
    if not found:
        return lines + ["No published number lies outside our 95% CI (or no cell matches a published one: "
                        "same dataset, size, ratio, classifier and alpha).", ""]
    return lines + ["The paper's number lies outside our 95% CI:", ""] + [f"- {f}" for f in found] + [""]


# ---------------------------------------------------------------- entry point
def build_report(study_dir: str | Path) -> Path:
    """Rebuild report/ (report.md, tables/, plots/) from the study folder; returns report.md's path."""
    study = load_study(study_dir)
    metric = study_metric(study)
    cells = cells_with_gains(study.trials, metric)
    # Built in a fresh sibling folder, then swapped in: a rebuild that dies half-way leaves the previous
    # report whole, and nothing stale from an older rebuild survives into the new one.
    final_dir = study.root / "report"
    report_dir = Path(tempfile.mkdtemp(dir=study.root, prefix=".report-new-"))
    try:
        _write_report(study, metric, cells, report_dir)
        _swap_in(report_dir, final_dir)
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)
    return final_dir / "report.md"


def _swap_in(new_dir: Path, final_dir: Path) -> None:
    """Replace final_dir by new_dir with two renames (a directory cannot be replaced atomically)."""
    new_dir.chmod(0o755)  # mkdtemp's 0700 would hide the report from other users of a shared folder
    old = None
    if final_dir.exists():
        old = final_dir.with_name(f".report-old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        final_dir.rename(old)
    new_dir.rename(final_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_report(study: Study, metric: str, cells: pd.DataFrame, report_dir: Path) -> None:
    tables_dir, plots_dir = report_dir / "tables", report_dir / "plots"
    for folder in (tables_dir, plots_dir):
        folder.mkdir(parents=True, exist_ok=True)

    best = best_ratio_table(study.trials, metric)
    tables = build_tables(Context(study.trials, metric, cells, load_published()))
    best_table = Table("best_ratio", "Best ratio R per size and its gain over R = 0", _best_display(best),
                       best, ("Gain: paired by seed against R = 0; CI: 95%, t distribution.",))
    for table in [best_table, *tables]:
        write_table(table, tables_dir)
    plots = draw_plots(PlotData(study.trials, study.curves, cells, metric, study.gans), plots_dir)

    name = study.spec.get("name", study.root.name)
    lines = [f"# {name}: does adding GAN-generated images help the classifier?", ""]
    lines += answer_lines(best, metric) + ["", table_markdown(best_table)]
    lines += _what_was_run(study, metric) + _gan_quality(study)
    lines += ["## Tables", ""]
    for table in tables:
        lines += [table_markdown(table), f"Files: [csv](tables/{table.name}.csv), "
                  f"[LaTeX](tables/{table.name}.tex)", ""]
    if not tables:
        lines += ["No paper table applies to these axes yet.", ""]
    lines += ["## Plots", ""]
    for plot_name, paths in plots.items():
        for path in paths:
            lines += [f"**{PLOTS[plot_name].description}**", "", f"![{path.stem}](plots/{path.name})", ""]
    lines += _disagreements(tables) + _failures(study)
    write_text_atomic("\n".join(lines).rstrip() + "\n", report_dir / "report.md")


def _best_display(best: pd.DataFrame) -> pd.DataFrame:
    if best.empty:
        return pd.DataFrame({"result": ["no R > 0 cell with a successful trial"]})
    out = best.drop(columns=["gain_lo", "gain_hi", "p_value", "baseline", "mean", "gain"])
    out.insert(out.columns.get_loc("n"), "mean", best["mean"].map(_fmt))
    out["R = 0 mean"] = best["baseline"].map(_fmt)
    out["gain (95% CI)"] = [f"{_fmt(g, True)} ({_fmt(lo, True)} to {_fmt(hi, True)})"
                            for g, lo, hi in zip(best["gain"], best["gain_lo"], best["gain_hi"], strict=True)]
    out["p"] = best["p_value"].map(_fmt_p)
    for column in ("best_ratio", *[c for c in out if c.startswith("alpha")]):
        out[column] = out[column].map(lambda v: f"{v:g}" if isinstance(v, float) else v)
    if "real" in out:
        out["real"] = out["real"].map({True: "real + synthetic", False: "synthetic only"})
        out = out.rename(columns={"real": "training data"})
    return out.rename(columns={"size": "size (real images)", "best_ratio": "best R"})
