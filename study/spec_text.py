"""A study file as text: reading a .toml file or a bundled preset, `--set` overrides, and the resolved
spec back as plain values and TOML (what a run stores as spec.toml). Validation lives in study.spec."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from study.checks import SpecError
from study.presets import preset_names, preset_text
from study.schema import Spec, keys, sections
from study.tomlio import toml_document
from trainables.terms.registry import suggest

# --------------------------------------------------------------------------------------------------
# Reading files and presets, and --set overrides.
# --------------------------------------------------------------------------------------------------

def parse_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(source, f"invalid TOML: {error}", "TOML syntax (https://toml.io)") from None


def parse_override(item: str) -> tuple[list[str], Any]:
    """`gan.epochs=5` -> (["gan", "epochs"], 5). The value is read as a TOML value (numbers, lists,
    booleans, quoted strings); if it is not valid TOML it is taken as a bare string, so
    `--set dataset=mnist` works without quotes."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpecError(item, "an override must look like key=value",
                        "--set section.key=value, for example --set gan.epochs=5")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    return key.split("."), value


def apply_overrides(raw: dict, overrides: Sequence[str]) -> dict:
    """Apply `--set` overrides to a parsed study file (a new dict; `raw` is not changed).
    `classifier.NAME.KEY=value` sets a key of one classifier's [classifier.NAME] table."""
    result = {k: _copy_table(v) if isinstance(v, dict) else v for k, v in raw.items()}
    section_classes = sections()
    top_keys = keys(Spec)
    for item in overrides:
        path, value = parse_override(item)
        dotted = ".".join(path)
        head = path[0]
        if head not in top_keys:
            raise SpecError(dotted, f"unknown key{suggest(head, top_keys)}",
                            f"the top-level keys and sections: {', '.join(top_keys)}")
        if head not in section_classes:
            if len(path) != 1:
                raise SpecError(dotted, f"{head!r} is a top-level key, not a section", head)
            result[head] = value
            continue
        section_keys = keys(section_classes[head])
        sub_table = head == "classifier" and len(path) == 3
        if len(path) != 2 and not sub_table:
            raise SpecError(dotted, f"[{head}] is a section; set one of its keys",
                            ", ".join(f"{head}.{k}" for k in section_keys))
        if not sub_table and path[1] not in section_keys:
            raise SpecError(dotted, f"unknown key{suggest(path[1], section_keys)}",
                            f"the keys of [{head}]: {', '.join(section_keys)}")
        section = result.get(head, {})
        section = dict(section) if isinstance(section, dict) else {}
        if sub_table:
            table = section.get(path[1], {})
            section[path[1]] = {**(table if isinstance(table, dict) else {}), path[2]: value}
        else:
            section[path[1]] = value
        result[head] = section
    return result


def _copy_table(table: dict) -> dict:
    return {k: _copy_table(v) if isinstance(v, dict) else v for k, v in table.items()}


def _looks_like_path(text: str) -> bool:
    return text.endswith(".toml") or "/" in text or "\\" in text or Path(text).is_file()


def read_raw(path_or_preset: str | Path) -> dict:
    """The parsed TOML of a study file (a .toml path) or of a bundled preset, before validation."""
    text_arg = str(path_or_preset)
    if _looks_like_path(text_arg):
        path = Path(text_arg).expanduser()
        if not path.is_file():
            raise SpecError(text_arg, "no such study file",
                            f"a path to a .toml file, or a preset: {', '.join(preset_names())} "
                            "(see `study presets`)")
        try:
            # utf-8-sig: a byte-order mark (Windows editors write one) is not part of the TOML
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as err:
            raise SpecError(text_arg, f"is not UTF-8 text (byte {err.start}: {err.reason}); is it a binary file?",
                            "a TOML study file saved as UTF-8") from None
        except OSError as err:
            raise SpecError(text_arg, f"cannot be read ({err.strerror or err})", "a readable .toml file") from None
        return parse_toml(text, text_arg)
    names = preset_names()
    if text_arg not in names:
        raise SpecError(text_arg, f"no such study file or preset{suggest(text_arg, names)}",
                        f"a path to a .toml file, or a preset: {', '.join(names)} (see `study presets`)")
    return parse_toml(preset_text(text_arg), f"preset {text_arg}")


# --------------------------------------------------------------------------------------------------
# Writing a spec back: a dict of plain values, and TOML text that load_spec reads back equal.
# --------------------------------------------------------------------------------------------------

def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The spec as plain TOML-able values: tuples become lists, None (an absent optional key) is left
    out, and [classifier.NAME] tables become nested dicts of the classifier section."""

    def plain(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj):
            out = {}
            for f in dataclasses.fields(obj):
                value = getattr(obj, f.name)
                if f.name == "by_name":
                    out.update({name: dict(table) for name, table in value.items()})
                elif value is not None:
                    out[f.name] = plain(value)
            return out
        if isinstance(obj, tuple | list):
            return [plain(item) for item in obj]
        return obj

    return plain(spec)


def spec_to_toml(spec: Spec) -> str:
    """The resolved spec as TOML (what a run stores as spec.toml); load_spec reads it back equal."""
    return toml_document(spec_to_dict(spec))

