"""What `study report` trusts in a folder: is it a study at all, and which of its files can be read.

A folder that is not a study (a user's folder, a report folder, a copy of something else) is refused
before anything is read from it, alone or beside real studies: merged in, its rows would have counted
as trials. A study's own file that cannot be read back (a truncated meta.json, a binary results.csv)
is set aside (renamed `.damaged`, kept, never read again: the one rule of trainables.files.storage) and
rebuilt from what the study still holds: a GAN's meta.json from the GAN cache run.json names (results.csv
and curves.csv are read, and written again from the trial records, through trainables.files.results_files).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trainables.files.storage import Store

_SAMPLES_RE = re.compile(r"samples_epoch(\d+)\.png$")
# What `study run` writes first (spec.toml, then run.json), before any trial runs.
STUDY_MARKERS = ("spec.toml", "run.json")


class StudyDirError(ValueError):
    """The folder is not a study folder, or what it holds cannot be read (exit code 2 on the command line)."""


def _say(text: str) -> None:
    print(text, flush=True)


def check_is_study(root: Path) -> None:
    """StudyDirError unless `root` is a folder `study run` wrote: it holds spec.toml or run.json."""
    if not root.is_dir():
        what = "is a file, not a study folder" if root.exists() else "does not exist"
        raise StudyDirError(f"{root}: {what}; allowed: a folder written by `study run`")
    if not any((root / name).is_file() for name in STUDY_MARKERS):
        raise StudyDirError(f"{root}: not a study folder (no spec.toml or run.json); allowed: a folder written by "
                            "`study run`")


def read_meta(gan_dir: Path, study_root: Path) -> dict:
    """A GAN key's meta.json in the study folder; a damaged one is set aside and copied again from the
    GAN cache run.json names (the key's files there are the originals), else the key reads as unknown."""
    path = gan_dir / "meta.json"
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
        if isinstance(meta, dict):
            return meta
        problem = f"a JSON {type(meta).__name__}, not an object"
    except (OSError, ValueError, UnicodeDecodeError) as err:
        problem = f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:120]}"
    moved = Store(gan_dir).set_aside("meta.json")
    original = _cached_meta(study_root, gan_dir.name)
    if original is not None:
        Store(gan_dir).write_text(json.dumps(original, indent=2) + "\n", "meta.json")
        _say(f"[report] {path} cannot be read ({problem}); set aside as {moved} and copied again from the GAN cache")
        return original
    _say(f"[report] {path} cannot be read ({problem}); set aside as {moved}; the GAN cache holds no copy, so "
         "this GAN's status and scores are unknown in the report")
    return {"status": "unknown", "reason": f"meta.json damaged ({problem})"}


def _cached_meta(study_root: Path, key: str) -> dict | None:
    """The key's meta.json in the local GAN cache this study ran with (run.json), when readable."""
    try:
        recorded = json.loads((study_root / "run.json").read_text()).get("gan_cache")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(recorded, str) or "://" in recorded:
        return None
    cache = recorded if os.path.isabs(recorded) else str(study_root.resolve().parent / recorded)
    try:
        meta = json.loads(Path(cache, key, "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


@dataclass(frozen=True)
class GanRecord:
    """One GAN key's folder: meta.json, losses.csv and the newest sample grid."""
    key: str
    path: Path
    meta: dict
    losses: pd.DataFrame | None
    latest_samples: Path | None
    real_samples: Path | None


def _latest_samples(gan_dir: Path) -> Path | None:
    found = [(int(m.group(1)), p) for p in gan_dir.glob("samples_epoch*.png") if (m := _SAMPLES_RE.search(p.name))]
    return max(found)[1] if found else None


def load_gans(root: Path) -> tuple[GanRecord, ...]:
    gans_dir = root / "gans"
    if not gans_dir.is_dir():
        return ()
    shared_real = root / "report" / "real_samples.png"
    records = []
    for gan_dir in sorted(p for p in gans_dir.iterdir() if p.is_dir()):
        losses_path = gan_dir / "losses.csv"
        meta = read_meta(gan_dir, root)
        losses = _read_losses(losses_path)
        real = gan_dir / "real_samples.png"
        records.append(GanRecord(
            key=gan_dir.name, path=gan_dir, meta=meta, losses=losses,
            latest_samples=_latest_samples(gan_dir),
            real_samples=real if real.exists() else (shared_real if shared_real.exists() else None)))
    return tuple(records)


def _read_losses(path: Path) -> pd.DataFrame | None:
    """losses.csv for the loss plot; None when missing, empty or unreadable (the plot leaves the GAN out)."""
    try:
        return pd.read_csv(path) if path.exists() and path.stat().st_size else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def read_spec(path: Path) -> tuple[str, dict]:
    """spec.toml's text and table; one that is no longer TOML is read as no spec (said once): the report
    goes on from the results, and `study resume` restores the file from run.json."""
    if not path.exists():
        return "", {}
    try:
        text = path.read_text()
        return text, tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        print(f"[report] {path} cannot be read ({type(err).__name__}); the report goes without it "
              "(`study resume` writes it again from run.json)", flush=True)
        return "", {}


def read_env(path: Path) -> dict:
    """env.json (versions, devices); {} when missing or unreadable: the report then names no versions."""
    try:
        env = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}
    return env if isinstance(env, dict) else {}


def read_runs(path: Path) -> tuple[dict, ...]:
    """The runs run.json recorded (none for a damaged file: the report then gives no wall time)."""
    try:
        runs = json.loads(path.read_text()).get("runs", []) if path.exists() else []
    except (ValueError, AttributeError):
        return ()
    return tuple(r for r in runs if isinstance(r, dict) and isinstance(r.get("wall_seconds"), int | float))
