"""`study plan`'s spec checks: every problem of a study file and its `--set` overrides, not only the first.

The validator (study.spec) stops at the first SpecError, which is what `study run` needs. The plan
lists them all: after a problem, the key it names is taken out of the study file (so it reads as its
default) and the file is validated again, until it passes or a problem names no key that can be taken
out (invalid TOML, a study file that is not there). Each key is reported once. A problem with the
dataset itself ends the spec checks with no spec: describing another dataset's plan would mislead.
"""

from __future__ import annotations

from collections.abc import Sequence

from study import spec as S
from study import spec_text
from study.checks import SpecError
from study.schema import Spec

MAX_PROBLEMS = 50          # a bound on the loop; no study file has this many keys wrong
DATA_KEYS = ("dataset", "data_root", "image_size")   # a plan of a substituted dataset would describe another study


def _drop(raw: dict, key: str) -> bool:
    """Take the dotted `key` out of the nested study-file dict; False when it is not there."""
    *parents, leaf = key.split(".")
    table = raw
    for part in parents:
        table = table.get(part) if isinstance(table, dict) else None
        if not isinstance(table, dict):
            return False
    if not isinstance(table, dict) or leaf not in table:
        return False
    del table[leaf]
    return True


def _deep_copy(raw: dict) -> dict:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in raw.items()}


def spec_problems(path_or_preset: str, overrides: Sequence[str] = ()) -> tuple[Spec | None, list[str]]:
    """(the spec with every faulty key at its default, or None; every problem, in the order found)."""
    try:
        raw = spec_text.read_raw(path_or_preset)
    except SpecError as err:
        return None, [str(err)]
    problems: list[str] = []
    for item in overrides:                 # each override on its own: a bad one does not hide the others
        try:
            raw = spec_text.apply_overrides(raw, [item])
        except SpecError as err:
            problems.append(str(err))
    raw = _deep_copy(raw)
    for _ in range(MAX_PROBLEMS):
        try:
            return S.spec_from_dict(raw), problems
        except SpecError as err:
            problems.append(str(err))
            if err.key in DATA_KEYS or not _drop(raw, err.key):
                return None, problems
    return None, problems
