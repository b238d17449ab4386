"""A classifier trial's record, `trials/<trial>.json` in the study folder: written once when the trial
ends, the source of truth for results.csv and for what `study resume` must still run.

A record that cannot be read back (a crash mid-write on a filesystem without atomic rename, a bad
copy, a full disk) is set aside as `trials/<trial>.json.damaged[-N]` (renamed, never deleted), one
line says so, and the trial counts as not finished, so the resume runs it again instead of failing on
it forever.
"""

from __future__ import annotations

import json

from trainables.files.storage import Store

# One row of a record's "curve": a finished epoch's metrics (curves.csv adds the trial's name and axes).
CURVE_COLUMNS = ("epoch", "test_acc", "test_loss", "train_loss", "val_acc", "val_loss")


def trial_record(trial: str) -> str:
    """Where a finished trial's final metrics and curve live, relative to the study folder."""
    return f"trials/{trial}.json"


def _problem(text: str) -> str | None:
    try:
        record = json.loads(text)
    except ValueError as err:
        return f"not valid JSON ({err})"
    return None if isinstance(record, dict) else f"a JSON {type(record).__name__}, not an object"


def read_trial_record(store: Store, trial: str, say=lambda text: print(text, flush=True)) -> dict | None:
    """The trial's record; None when it has none or when it was damaged (then set aside)."""
    path = trial_record(trial)
    if not store.exists(path):
        return None
    try:
        text = store.read_text(path)
        problem = _problem(text)
    except (OSError, UnicodeDecodeError) as err:
        problem = f"unreadable ({err})"
    if problem is None:
        return json.loads(text)
    moved = store.set_aside(path)
    say(f"[study] trial {trial}: its record {path} is damaged ({problem}); set aside as {moved}, "
        "the trial runs again")
    return None
