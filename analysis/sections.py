"""The report's factual sections: what was run, GAN quality, missing trials, disagreements with papers.

For a report over several folders (analysis/merge.py) each section speaks per folder where a folder is
what the reader has to act on (its spec, its software, its missing trials).
"""

from __future__ import annotations

import itertools
import json
import math

import pandas as pd

from analysis.cells import design_axes
from analysis.gan_judgement import (
    FAIR_STRENGTH,
    GOOD_STRENGTH,
    collapsed_classes,
    grade,
    weakness,
)
from analysis.grid import order
from analysis.inputs import GanRecord
from analysis.load import Study
from analysis.metrics import PAPERS_PROTOCOL, metric_label
from analysis.render import Table, to_markdown
from trainables.files.results_columns import UNIT_COLUMN, VALIDATION_COUNT
from trainables.terms.dataset_sizes import train_images
from trainables.terms.validation import ValidationRule


def _fmt_value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _units(trials) -> int:
    return int(trials[UNIT_COLUMN].nunique())


def what_was_run(study: Study, metric: str) -> list[str]:
    trials = study.trials
    counts = trials["status"].value_counts().reindex(["ok", "diverged", "error"], fill_value=0)
    lines = ["## What was run", ""]
    axes = {a: [_fmt_value(v) for v in sorted(trials[a].dropna().unique(), key=order)] for a in design_axes(trials)}
    source = ", ".join(f"`{m.root.name}/{m.source}`" for m in study.members) if study.parts else f"`{study.source}`"
    lines.append(f"- Trials: {len(trials)} ({counts['ok']} ok, {counts['diverged']} diverged, "
                 f"{counts['error']} errored), read from {source}; seeds per cell: "
                 f"{trials['seed'].nunique()}, in {_units(trials)} independent unit(s) (a real subset and its GAN); "
                 f"metric: {metric_label(metric)} (`{metric}`).")
    lines += validation_lines(study)
    if study.parts:
        per = ", ".join(f"{m.root.name}: {len(m.trials)}" for m in study.parts)
        lines.append(f"- Merged from {len(study.parts)} study folders ({per} trials); trial names are prefixed "
                     "by their folder; settings that differ between folders are axes of their own.")
    lines.append("- Axes: " + "; ".join(f"{a}: {', '.join(v)}" for a, v in axes.items() if v))
    for member in study.members:
        prefix = f"{member.root.name}: " if study.parts else ""
        env = member.env
        if env:
            versions = ", ".join(f"{k} {env[k]}" for k in ("python", "torch", "ray", "optuna") if k in env)
            lines.append(f"- {prefix}Software: {versions or 'n/a'}; git {env.get('git_sha', 'n/a')}.")
            devices = env.get("devices", env.get("device"))
            if devices:
                lines.append(f"- {prefix}Hardware: "
                             f"{', '.join(map(str, devices)) if isinstance(devices, list) else devices}.")
    lines.append(_timing_line(study, trials))
    for member in study.members:
        title = f"spec.toml of {member.root.name} (resolved)" if study.parts else "spec.toml (resolved)"
        if member.spec_text:
            lines += ["", f"<details><summary>{title}</summary>", "", "```toml",
                      member.spec_text.rstrip(), "```", "", "</details>"]
        elif member.spec:
            lines.append(f"- Spec: {json.dumps(member.spec, sort_keys=True)}")
    return lines + [""]


def validation_sizes(trials: pd.DataFrame) -> dict:
    """size -> the validation images its trials recorded (the most common count), where they did."""
    if VALIDATION_COUNT not in trials or "size" not in trials:
        return {}
    counts = pd.to_numeric(trials[VALIDATION_COUNT], errors="coerce")
    found = {}
    for size, values in counts.groupby(trials["size"]):
        values = values.dropna()
        if len(values):
            found[int(size) if pd.api.types.is_number(size) else size] = int(values.mode().iloc[0])
    return found


def carved_validation(study: Study) -> dict:
    """size -> the validation images carved out of it, when every folder of the study carved its
    validation out of its subsets (eval.validation_from = "subset"); else {}."""
    rules = [ValidationRule.of((member.spec or {}).get("eval") or {}) for member in study.members]
    return validation_sizes(study.trials) if rules and all(rule.per_subset for rule in rules) else {}


def validation_lines(study: Study) -> list[str]:
    """Where each folder's validation images came from and how many there were next to n, so a reader
    sees whether the choices rest on a set a practitioner with n labels would have."""
    lines = []
    for member in study.members:
        prefix = f"{member.root.name}: " if study.parts else ""
        rule = ValidationRule.of((member.spec or {}).get("eval") or {})
        sizes = validation_sizes(member.trials)
        numeric = sorted((int(s) for s in sizes if pd.api.types.is_number(s)), key=order)
        if rule.per_subset:
            per_size = "; ".join(f"n = {s:,}: {s - sizes[s]:,} train + {sizes[s]:,} validation" for s in numeric)
            lines.append(f"- {prefix}Validation: carved out of each real subset (`eval.validation_from = \"subset\"`, "
                         f"{rule.fraction:.0%} of each class, seeded): {per_size or 'no trial recorded its count'}. "
                         "n is the labelled budget; the classifier, its R x n synthetic images and the GAN use the "
                         "training part only; every choice (epoch, best R, the GAN gate) is made on the validation "
                         "part; the test set is the real test set.")
        elif sizes and max(sizes.values()) > 0:
            held = max(sizes.values())
            smallest = numeric[0] if numeric else None
            versus = f", {held / smallest:.1f}x the smallest n ({smallest:,})" if smallest else ""
            lines.append(f"- {prefix}Validation: {held:,} images held out of the training split before any subset "
                         f"(`eval.validation = {json.dumps(rule.count)}`), the same set for every n{versus}; a "
                         "practitioner with n labels has no such set (`eval.validation_from = \"subset\"` carves "
                         "it out of each subset).")
    return lines


def _timing_line(study: Study, trials: pd.DataFrame) -> str:
    """Compute summed over GANs and trials, which ran side by side, is not the time the study took:
    say both, and which is which."""
    gan_seconds = sum(float(g.meta.get("seconds", 0) or 0) for g in study.gans)
    clf_seconds = float(pd.to_numeric(trials["train_seconds"], errors="coerce").fillna(0).sum())
    ips = pd.to_numeric(trials.loc[trials["status"] == "ok", "images_per_second"], errors="coerce").dropna()
    speed = f", median {ips.median():.0f} images/s" if len(ips) else ""
    runs = [run for member in study.members for run in member.runs]
    wall = sum(run["wall_seconds"] for run in runs)
    took = (f"the study took {wall / 60:.1f} min of wall time ({len(runs)} run(s) of `study run` / `resume`, "
            "report building not counted); " if runs else "")
    return (f"- Timing: {took}compute summed over parallel work: GAN training {gan_seconds / 60:.1f} min over "
            f"{len(study.gans)} GAN key(s), classifier training {clf_seconds / 60:.1f} min over {len(trials)} "
            f"trial(s){speed}.")


def gan_warnings(gan: GanRecord) -> list[str]:
    meta, warnings = gan.meta, []
    if reason := weakness(meta):
        warnings.append(f"too weak to judge: {reason}")
    if classes := collapsed_classes(meta):
        warnings.append(f"mode collapse in class(es) {', '.join(classes)} (low sample diversity)")
    if meta.get("status", "ok") != "ok":
        warnings.append(f"status {meta.get('status')}: {meta.get('reason', 'no reason recorded')}")
    return warnings


def gan_quality(study: Study) -> list[str]:
    lines = ["## GAN quality", ""]
    if not study.gans:
        return lines + ["No `gans/` folder: this study used no GAN or its GAN stage has not run.", ""]

    def num(value, spec=".3f"):
        return format(value, spec) if isinstance(value, int | float) and math.isfinite(value) else "n/a"

    grades = {g.key: grade(g.meta) for g in study.gans}
    rows = [{"GAN key": g.key, **{column: g.meta.get(field, "n/a") for column, field in
                                   (("arch", "arch"), ("alpha", "alpha"), ("n", "size"), ("seed", "seed"))},
             "status": g.meta.get("status", "n/a"),
             "grade": grades[g.key].label, "strength": num(grades[g.key].strength, ".2f"),
             "GAN-train acc": num(g.meta.get("gan_train_acc")), "real ref. acc": num(g.meta.get("real_reference_acc")),
             "gate measured on": grades[g.key].split,
             "GAN-test acc": num(g.meta.get("gan_test_acc")),
             "Fréchet distance": num(g.meta.get("frechet_distance"), ".2f"),
             "KID": num(g.meta.get("kid"), ".4f"),
             "coverage": num(g.meta.get("coverage"), ".2f"), "recall": num(g.meta.get("recall"), ".2f"),
             "minutes": num((g.meta.get("seconds") or float("nan")) / 60, ".1f"),
             "warnings": "; ".join(gan_warnings(g)) or "none"} for g in study.gans]
    lines += [to_markdown(pd.DataFrame(rows)), "",
              "Grade: how much of what the real images teach a classifier the GAN's images teach it, above "
              "chance: strength = (GAN-train - chance) / (real ref. - chance), where GAN-train is a small MLP "
              "trained on the GAN's first images and real ref. the same MLP, same seed and updates, trained on "
              "as many real images of the GAN's subset; both are tested on the study's validation split, never "
              f"on the test set. Weak below {FAIR_STRENGTH:.2f} (or GAN-test near chance), fair from "
              f"{FAIR_STRENGTH:.2f}, good from {GOOD_STRENGTH:.2f}: cuts set by looking at sample grids of GANs "
              "of known quality (bench/gan_gate.py; BENCHMARKS.md, \"Grading the GAN gate\"). A weak GAN's "
              "cells are annotated; a significant result is never hidden by it. "
              "GAN-test: a classifier "
              "trained on real images, tested on synthetic ones (near chance = the samples do not show their "
              "class). Fréchet distance and KID (unbiased; about 0 when the two sets match): between real test "
              "and synthetic images in the features of one CNN per dataset, trained once on its training split, "
              "so they compare across n, seeds and recipes (lower is closer); descriptive only, not part of the "
              "grade. Coverage: the share of real "
              "images with a synthetic one among their 5 nearest neighbours; recall: the share of real images "
              "inside the synthetic images' manifold (both 0-1, higher covers more of the real variety).", ""]
    return lines


def _expected_missing(study: Study) -> pd.DataFrame:
    """Grid cells the spec asked for that have no trial at all (grid search only), per folder."""
    found = [_expected_missing_one(m).assign(study=m.root.name) if study.parts else _expected_missing_one(m)
             for m in study.members]
    found = [f for f in found if len(f)]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()


def _expected_missing_one(study: Study) -> pd.DataFrame:
    spec = study.spec
    if not spec or spec.get("search", {}).get("mode", "grid") != "grid":
        return pd.DataFrame()
    dataset = spec.get("dataset", "")
    full = study.full_counts.get(dataset, train_images(dataset) or "full")
    sizes = [full if s == "full" else s for s in spec.get("sizes", [])]
    ratios = [float(r) for r in spec.get("mix", {}).get("ratios", [])]
    names = spec.get("classifier", {}).get("name", [])
    classifiers = names if isinstance(names, list) else [names]
    first = int(spec.get("first_seed", 0) or 0)
    seeds = range(first, first + int(spec.get("seeds", 0)))
    if not (sizes and ratios and classifiers):
        return pd.DataFrame()
    present = {(str(s), float(r), str(c), int(k)) for s, r, c, k in
               study.trials[["size", "ratio", "classifier", "seed"]].itertuples(index=False)}
    missing = [{"size": s, "ratio": r, "classifier": c, "seed": k}
               for s, r, c, k in itertools.product(sizes, ratios, classifiers, seeds)
               if (str(s), r, str(c), k) not in present]
    return pd.DataFrame(missing)


def failures(study: Study) -> list[str]:
    lines = ["## Missing, errored and diverged trials", ""]
    failed = study.trials[study.trials["status"] != "ok"]
    if failed.empty:
        lines.append("Every trial finished with status ok.")
    else:
        cols = ["trial", *(["study"] if study.parts else []),
                *[a for a in design_axes(study.trials) if study.trials[a].nunique() > 1], "seed", "status", "reason"]
        lines += [f"{len(failed)} trial(s) did not finish ok; they are excluded from every statistic and "
                  "ranking:", "", to_markdown(failed[cols].fillna(""))]
    missing = _expected_missing(study)
    if len(missing):
        lines += ["", f"{len(missing)} trial(s) the spec asks for have no result (not run yet, or the study "
                  "was interrupted: `study resume DIR` runs them):", "", to_markdown(missing.head(50))]
    return lines + [""]


def _compared_cells(tables: list[Table]) -> int:
    """Cells compared like for like with a published number: tables under the papers' protocol, cells
    with at least two seeds (a CI) and a published number."""
    count = 0
    for table in tables:
        data = table.data
        if data is None or data.empty or not {"metric", "paper", "n"} <= set(data.columns):
            continue
        like = (data["metric"] == PAPERS_PROTOCOL) & data["paper"].notna() & (pd.to_numeric(data["n"]) > 1)
        count += int(like.sum())
    return count


def disagreements(tables: list[Table]) -> list[str]:
    lines = ["## Where our results disagree with the papers", ""]
    found = [n.removeprefix("Disagrees with the paper: ") for t in tables for n in t.notes
             if n.startswith("Disagrees with the paper:")]
    compared = _compared_cells(tables)
    if compared == 0:
        return lines + ["No cell of this study matches a published one (same dataset, size, ratio, classifier, "
                        "alpha and GAN architecture, with at least two seeds), so nothing was compared.", ""]
    inside = compared - len(found)
    head = (f"{compared} cell(s) match a published number under the papers' protocol (best epoch on test): "
            f"{inside} lie inside our 95% CI, {len(found)} outside.")
    if not found:
        return lines + [head, ""]
    return lines + [head, "", "Outside our 95% CI:", ""] + [f"- {f}" for f in found] + [""]
