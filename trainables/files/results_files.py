"""Reading a study's results.csv and curves.csv back: the one reader the driver (is either missing or
damaged, so it must be written again from the trial records?) and the analysis (the report's rows) share.

A file that cannot be read as what it should be (a binary copy, bad bytes, another program's CSV) is
set aside as `<name>.damaged` (renamed, never deleted: trainables.files.storage) with one line saying
so, and reads as absent.
"""

from __future__ import annotations

import io

from trainables.files.storage import Store

RESULTS_FILE, CURVES_FILE = "results.csv", "curves.csv"
# Columns every results.csv the driver writes has: a file without them is not a study's results.
RESULTS_REQUIRED = ("dataset", "size", "ratio")


def _say(text: str) -> None:
    print(text, flush=True)


def csv_problem(store: Store, name: str, required: tuple[str, ...] = ()):
    """(frame, None) for a readable CSV with the `required` columns, else (None, what is wrong)."""
    import pandas as pd

    try:
        data = store.read_bytes(name)
        if b"\x00" in data:
            return None, "binary, not CSV"
        frame = pd.read_csv(io.BytesIO(data))
    except (OSError, UnicodeDecodeError, ValueError) as err:   # ParserError and EmptyDataError are ValueErrors
        return None, f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:120]}"
    missing = [c for c in required if c not in frame.columns]
    if missing:
        return None, f"no {', '.join(missing)} column"
    return frame, None


def read_csv_or_set_aside(store: Store, name: str, required: tuple[str, ...] = (), say=_say):
    """The CSV as a DataFrame; None when absent, or when damaged (then set aside, said once)."""
    if not store.exists(name):
        return None
    frame, problem = csv_problem(store, name, required)
    if problem is None:
        return frame
    moved = store.set_aside(name)
    say(f"[report] {store.uri(name)} cannot be read ({problem}); set aside as {moved}")
    return None


def read_results(store: Store, say=_say):
    """The study's results.csv (None: absent or damaged and set aside)."""
    return read_csv_or_set_aside(store, RESULTS_FILE, RESULTS_REQUIRED, say)


def read_curves(store: Store, say=_say):
    """The study's curves.csv (None: absent or damaged and set aside)."""
    return read_csv_or_set_aside(store, CURVES_FILE, (), say)
