"""A study file's nested tables as dotted keys, `{"gan": {"epochs": 5}}` -> `{"gan.epochs": 5}`: how a
spec change is named (study resume --set, an edited spec.toml) and how merged folders are compared."""

from __future__ import annotations

from typing import Any


def flat_keys(tree: dict, prefix: str = "") -> dict[str, Any]:
    """Every leaf of `tree` under its dotted path; a table nested deeper (classifier.lenet.epochs) too.
    An empty table has no leaf, so it adds no key."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat_keys(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
