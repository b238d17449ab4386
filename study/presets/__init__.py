"""The bundled presets: one TOML study file each; the first comment line describes it."""

from __future__ import annotations

import importlib.resources
from typing import Any

from study.checks import SpecError
from trainables.terms.registry import suggest

DEFAULT_PRESET = "quick"


def _preset_files() -> dict[str, Any]:
    folder = importlib.resources.files(__name__)
    return {entry.name[:-5]: entry for entry in folder.iterdir() if entry.name.endswith(".toml")}


def preset_names() -> list[str]:
    return sorted(_preset_files())


def preset_text(name: str) -> str:
    """The TOML text of a bundled preset (what `study show NAME` prints)."""
    files = _preset_files()
    if name not in files:
        raise SpecError("preset", f"unknown preset {name!r}{suggest(name, files)}",
                        f"{', '.join(sorted(files))} (see `study presets`)")
    return files[name].read_text(encoding="utf-8")


def list_presets() -> list[tuple[str, str]]:
    """(name, one-line description) per bundled preset; the description is the file's first comment."""
    result = []
    for name in preset_names():
        first = next((line for line in preset_text(name).splitlines() if line.startswith("#")), "#")
        result.append((name, first.lstrip("#").strip()))
    return result
