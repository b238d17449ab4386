"""Several study folders of one dataset -> one Study, so one report covers them all.

Typical use: an Abadi Table 4 study and its synthetic-only companion, or a study and a later one with
more seeds or another schedule. Rules:
- every folder must hold the same dataset (else StudyDirError): a table never pools MNIST with CIFAR;
- a spec setting that differs between folders (gan.epochs, classifier.schedule, eval.validation, ...)
  becomes a column named like the runner's varying keys (gan_epochs, classifier_schedule, ...), so
  trials trained differently land in different cells instead of being averaged together;
- trial names are prefixed by the folder's label ("quick/trial_00003") so two folders' trials never
  collide, and a `study` column (not a design axis) says where each came from;
- GAN keys are content-addressed (one cache per storage root), so a key seen in two folders
  is one GAN and is listed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis.inputs import StudyDirError
from analysis.load import Study, load_study, tidy_curves, tidy_trials
from trainables.files.results_columns import COLUMN_NAMES, dotted_key_column
from trainables.terms.spec_keys import flat_keys

SPEC_SECTIONS = ("gan", "classifier", "mix", "eval")
# Spec keys that are already results.csv columns under another name (gan.arch is gan_arch, ...).
KEY_COLUMNS = frozenset(f"{section}.{key}" for section, key in COLUMN_NAMES)
# Spec keys that do not change what a trial computes (resources, bookkeeping, what the report shows).
NO_EFFECT = frozenset({"gan.workers", "gan.checkpoint_every", "classifier.compile", "eval.metric"})


def _flat_spec(spec: dict) -> dict[str, object]:
    """{"gan": {"epochs": 5}, "classifier": {"lenet": {"epochs": 9}}} -> {"gan.epochs": 5,
    "classifier.lenet.epochs": 9}, over the sections whose keys can vary between arms."""
    flat = flat_keys({section: spec.get(section, {}) for section in SPEC_SECTIONS})
    return {k: v for k, v in flat.items() if k not in KEY_COLUMNS and k not in NO_EFFECT}


def _datasets(study: Study) -> set[str]:
    found = set(study.trials["dataset"].dropna().astype(str))
    return found | ({str(study.spec["dataset"])} if study.spec.get("dataset") else set())


def _labels(roots: list[Path]) -> list[str]:
    """Folder names, lengthened by their parent where two folders share a name."""
    names = [root.name for root in roots]
    labels = [f"{root.parent.name}/{root.name}" if names.count(root.name) > 1 else root.name for root in roots]
    return [label if labels.count(label) == 1 else f"{label}#{i}" for i, label in enumerate(labels)]


def differing_settings(studies: Sequence[Study]) -> dict[str, list]:
    """Spec keys whose value differs between folders -> their value per folder (None where unset)."""
    flats = [_flat_spec(s.spec) for s in studies]
    keys = sorted(set().union(*flats))
    return {key: [flat.get(key) for flat in flats] for key in keys
            if len({repr(flat.get(key)) for flat in flats}) > 1}


def load_studies(study_dirs: Sequence[str | Path]) -> Study:
    """Read several study folders of one dataset as one Study (see the module docstring)."""
    dirs = [Path(d).expanduser() for d in study_dirs]
    if not dirs:
        raise StudyDirError("DIR: no study folder given; allowed: one or more folders written by `study run`")
    if len(dirs) == 1:
        return load_study(dirs[0])
    resolved = [d.resolve() for d in dirs]
    if len(set(resolved)) < len(resolved):
        twice = sorted({str(d) for d in resolved if resolved.count(d) > 1})
        raise StudyDirError(f"DIR: study folder given twice: {', '.join(twice)} (its trials would count twice); "
                            "allowed: each folder once")
    parts = [load_study(d) for d in dirs]
    datasets = [_datasets(p) for p in parts]
    if len(set().union(*datasets)) > 1:
        listed = "; ".join(f"{p.root} ({', '.join(sorted(d)) or 'unknown'})" for p, d in zip(parts, datasets,
                                                                                           strict=True))
        raise StudyDirError(f"cannot merge studies of different datasets: {listed}; "
                            "allowed: folders of one dataset")
    labels = _labels([p.root for p in parts])
    settings = differing_settings(parts)
    trials, curves = [], []
    for i, (part, label) in enumerate(zip(parts, labels, strict=True)):
        frame = part.trials.copy()
        for key, values in settings.items():
            column = dotted_key_column(key)   # gan.epochs -> gan_epochs, as the driver names it
            if column not in frame:     # a setting that varied inside this folder is a column already
                value = values[i]
                frame[column] = str(value) if isinstance(value, list) else value
        frame["study"] = label
        frame["trial"] = label + "/" + frame["trial"].astype(str)
        trials.append(frame)
        curve = part.curves.copy()
        if len(curve):
            curve["trial"] = label + "/" + curve["trial"].astype(str)
        curves.append(curve)
    merged = tidy_trials(pd.concat(trials, ignore_index=True, sort=False))
    non_empty = [c for c in curves if len(c)]
    all_curves = pd.concat(non_empty, ignore_index=True, sort=False) if non_empty else pd.DataFrame()
    gans = {}
    for part in parts:
        for gan in part.gans:
            gans.setdefault(gan.key, gan)
    return Study(root=parts[0].root, trials=merged, curves=tidy_curves(all_curves, merged),
                 gans=tuple(gans[k] for k in sorted(gans)), source="merged", parts=tuple(parts))
