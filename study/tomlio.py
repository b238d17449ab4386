"""TOML text for plain values (the standard library reads TOML but does not write it)."""

from __future__ import annotations

import json
import math
from typing import Any


def toml_string(text: str) -> str:
    # JSON string escapes (\" \\ \n \t \uXXXX) are all valid in TOML basic strings; TOML also
    # forbids a raw DEL character.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"cannot write {value} to TOML")
        return repr(value)      # shortest text that reads back as the same float, e.g. 0.0002, 1e-05
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def toml_document(table: dict[str, Any]) -> str:
    """Top-level keys, then one [section] per dict value, then [section.sub] per nested dict."""
    lines = [f"{key} = {toml_value(value)}" for key, value in table.items() if not isinstance(value, dict)]

    def section(name: str, values: dict) -> None:
        lines.append("")
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in values.items() if not isinstance(value, dict))
        for key, value in values.items():
            if isinstance(value, dict):
                section(f"{name}.{key}", value)

    for key, value in table.items():
        if isinstance(value, dict):
            section(key, value)
    return "\n".join(lines) + "\n"
