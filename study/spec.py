"""The study file: TOML -> frozen dataclasses, defaults, validation, `--set` overrides, presets.

A study file (see ../shared/DESIGN.md, "The study file") names a dataset, the real sample sizes, the
GAN, the classifiers, the synthetic-to-real ratios R, the search mode and the resources. Every key has
a default (the defaults describe a quick-ish offline study on mnist-5k); unknown keys are errors.

Everything is checked before any work starts, and every problem the user can fix raises `SpecError`,
whose message is one line: `<key>: <problem>; allowed: <allowed values>`.

Sections and keys beyond DESIGN.md's example:
  [gan]        checkpoint_every (epochs between checkpoints and sample grids), beta1 (Adam's beta1;
               0.5 as in Radford et al.'s DCGAN)
  [classifier] compile (torch.compile the classifier; pays off on GPU for long runs)
  [search]     seed (the searcher's seed), max_concurrent (0 = as many trials as resources allow),
               asha (stop weak Optuna trials early), ratio_range (optuna only: sample R uniformly
               from [lo, hi] instead of from mix.ratios)
  [faults]     max_failures (how often a crashed GAN run or classifier trial is retried)

Spec files are parsed with tomllib and nothing in them is evaluated as code.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import itertools
import json
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRESET_PACKAGE = "study.presets"
DEFAULT_PRESET = "quick"
FOLDER_PREFIX = "folder:"
FULL = "full"


class SpecError(ValueError):
    """A problem in a study file or a `--set` override that the user can fix.

    str(error) is exactly `<key>: <problem>; allowed: <allowed>`; the CLI prints it after `error: `.
    """

    def __init__(self, key: str, problem: str, allowed: str):
        self.key = key
        self.problem = problem
        self.allowed = allowed
        super().__init__(f"{key}: {problem}; allowed: {allowed}")


# --------------------------------------------------------------------------------------------------
# Value checkers. Each one turns a raw TOML value into the dataclass field's value or raises
# SpecError; `describe()` is the "allowed" part of the message. The dataclass fields below carry
# their checker in their metadata, so the schema, the defaults and the validation live in one place.
# --------------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as the user wrote it in TOML (true, not True), for error messages."""
    try:
        return _toml_value(value)
    except TypeError:
        return repr(value)


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class _Int:
    minimum: int

    def describe(self) -> str:
        return f"an integer >= {self.minimum}"

    def __call__(self, key: str, value: Any) -> int:
        # bool is a subclass of int in Python; `epochs = true` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(key, f"{_show(value)} is {_type_name(value)}, not an integer", self.describe())
        if value < self.minimum:
            raise SpecError(key, f"{value} is too small", self.describe())
        return value


@dataclass(frozen=True)
class _Float:
    minimum: float
    exclusive: bool = False     # minimum itself not allowed
    maximum: float | None = None
    maximum_exclusive: bool = True

    def describe(self) -> str:
        text = f"a number {'>' if self.exclusive else '>='} {self.minimum:g}"
        if self.maximum is not None:
            text += f" and {'<' if self.maximum_exclusive else '<='} {self.maximum:g}"
        return text

    def __call__(self, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(key, f"{_show(value)} is {_type_name(value)}, not a number", self.describe())
        number = float(value)
        if not math.isfinite(number):
            raise SpecError(key, f"{_show(value)} is not finite", self.describe())
        too_small = number <= self.minimum if self.exclusive else number < self.minimum
        too_big = self.maximum is not None and (
            number >= self.maximum if self.maximum_exclusive else number > self.maximum)
        if too_small or too_big:
            raise SpecError(key, f"{_show(value)} is out of range", self.describe())
        return number


@dataclass(frozen=True)
class _Bool:
    def describe(self) -> str:
        return "true | false"

    def __call__(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise SpecError(key, f"{_show(value)} is {_type_name(value)}, not a boolean", self.describe())
        return value


@dataclass(frozen=True)
class _Str:
    pattern: str = r".+"
    text: str = "a non-empty string"

    def describe(self) -> str:
        return self.text

    def __call__(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise SpecError(key, f"{_show(value)} is {_type_name(value)}, not a string "
                                 "(quote it in TOML)", self.describe())
        if not re.fullmatch(self.pattern, value):
            raise SpecError(key, f"{_show(value)} is not valid", self.describe())
        return value


@dataclass(frozen=True)
class _Choice:
    options: tuple[str, ...]

    def describe(self) -> str:
        return " | ".join(self.options)

    def __call__(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise SpecError(key, f"{_show(value)} is {_type_name(value)}, not a string", self.describe())
        if value not in self.options:
            raise SpecError(key, f"unknown value {_show(value)}{_suggest(value, self.options)}",
                            self.describe())
        return value


@dataclass(frozen=True)
class _Size:
    """A real sample size: a positive integer (images in total, class-balanced) or "full"."""

    def describe(self) -> str:
        return f'an integer >= 1 or "{FULL}"'

    def __call__(self, key: str, value: Any) -> int | str:
        if value == FULL and isinstance(value, str):
            return FULL
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(key, f"{_show(value)} is not a size", self.describe())
        if value < 1:
            raise SpecError(key, f"{value} is too small", self.describe())
        return value


@dataclass(frozen=True)
class _ListOf:
    """A non-empty list without duplicates; a scalar is accepted as a one-element list."""

    element: Callable[[str, Any], Any]

    def describe(self) -> str:
        return f"{self.element.describe()}, or a non-empty list of them without repeats"

    def __call__(self, key: str, value: Any) -> tuple:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise SpecError(key, "the list is empty", self.describe())
        converted = tuple(self.element(key, item) for item in items)
        for i, item in enumerate(converted):
            if item in converted[:i]:
                # A repeat would run the same grid point twice; say which value it is.
                raise SpecError(key, f"{_show(item)} appears twice", self.describe())
        return converted


@dataclass(frozen=True)
class _OptionalRange:
    """Absent (None) or [lo, hi] with 0 <= lo < hi."""

    def describe(self) -> str:
        return "a list [lo, hi] of two numbers with 0 <= lo < hi, or leave the key out"

    def __call__(self, key: str, value: Any) -> tuple[float, float] | None:
        if value is None:
            return None
        if not isinstance(value, list) or len(value) != 2:
            raise SpecError(key, f"{_show(value)} is not a pair", self.describe())
        lo, hi = (_Float(0.0)(key, item) for item in value)
        if not lo < hi:
            raise SpecError(key, f"lo {lo:g} is not below hi {hi:g}", self.describe())
        return (lo, hi)


def _field(default: Any, check: Callable[[str, Any], Any]) -> Any:
    return field(default=default, metadata={"check": check})


def _section(cls: type) -> Any:
    return field(default_factory=cls, metadata={"section": cls})


# --------------------------------------------------------------------------------------------------
# The schema. Defaults describe a quick offline study (about the `quick` preset).
# --------------------------------------------------------------------------------------------------

CONDITIONINGS = ("per-class", "conditional")
SEARCH_MODES = ("grid", "optuna")
AUGMENTS = ("none", "classic")
METRICS = ("test_acc", "test_acc_max", "f1")


@dataclass(frozen=True)
class GanSpec:
    """The GAN trained on each real subset (Abadi 3.2; Xing 2.2.2; Hooda III; Zhang & Wu 2.2)."""

    arch: str = _field("abadi", _Str())
    conditioning: str = _field("per-class", _Choice(CONDITIONINGS))
    alpha: tuple[float, ...] = _field((1.0,), _ListOf(_Float(0.0, exclusive=True)))
    epochs: int = _field(30, _Int(1))
    batch_size: int = _field(64, _Int(1))
    lr: float = _field(2e-4, _Float(0.0, exclusive=True))
    beta1: float = _field(0.5, _Float(0.0, maximum=1.0))
    workers: int = _field(1, _Int(1))
    checkpoint_every: int = _field(10, _Int(1))


@dataclass(frozen=True)
class ClassifierSpec:
    """The classifier(s) trained on real + R x n synthetic images (Abadi 3.1; Xing 2.2.3)."""

    name: tuple[str, ...] = _field(("mlp",), _ListOf(_Str()))
    epochs: int = _field(15, _Int(1))
    batch_size: int = _field(64, _Int(1))
    lr: float = _field(1e-3, _Float(0.0, exclusive=True))
    compile: bool = _field(False, _Bool())


@dataclass(frozen=True)
class MixSpec:
    """How the training set is built: R x n synthetic images, with or without the real ones."""

    ratios: tuple[float, ...] = _field((0.0, 0.5, 1.0, 2.0), _ListOf(_Float(0.0)))
    real: bool = _field(True, _Bool())
    augment: str = _field("none", _Choice(AUGMENTS))


@dataclass(frozen=True)
class SearchSpec:
    """Grid (every combination) or Optuna TPE over alpha, R, classifier and size."""

    mode: str = _field("grid", _Choice(SEARCH_MODES))
    trials: int = _field(20, _Int(1))
    metric: str = _field("test_acc_max", _Choice(METRICS))
    seed: int = _field(0, _Int(0))
    max_concurrent: int = _field(0, _Int(0))
    asha: bool = _field(False, _Bool())
    ratio_range: tuple[float, float] | None = _field(None, _OptionalRange())


@dataclass(frozen=True)
class ResourcesSpec:
    """What one classifier trial reserves; fractional GPUs pack small trials onto one GPU."""

    cpus_per_trial: float = _field(1.0, _Float(0.0, exclusive=True))
    gpus_per_trial: float = _field(0.0, _Float(0.0))


@dataclass(frozen=True)
class FaultsSpec:
    """Retries for a crashed GAN run or classifier trial (Ray Train/Tune FailureConfig.max_failures)."""

    max_failures: int = _field(1, _Int(0))


@dataclass(frozen=True)
class Spec:
    """A resolved, validated study file."""

    name: str = _field("study", _Str(r"[A-Za-z0-9][A-Za-z0-9._-]*",
                                     "letters, digits, '.', '_' and '-', starting with a letter or digit"))
    dataset: str = _field("mnist-5k", _Str())
    data_root: str = _field("~/.cache/study-data", _Str())
    sizes: tuple[int | str, ...] = _field((500, 1000), _ListOf(_Size()))
    seeds: int = _field(2, _Int(1))
    gan: GanSpec = _section(GanSpec)
    classifier: ClassifierSpec = _section(ClassifierSpec)
    mix: MixSpec = _section(MixSpec)
    search: SearchSpec = _section(SearchSpec)
    resources: ResourcesSpec = _section(ResourcesSpec)
    faults: FaultsSpec = _section(FaultsSpec)

    @property
    def max_failures(self) -> int:
        return self.faults.max_failures


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _build(cls: type, raw: Mapping[str, Any], prefix: str) -> Any:
    """Check `raw` against dataclass `cls` (unknown keys, types, ranges) and construct it."""
    known = _keys(cls)
    for key in raw:
        if key not in known:
            where = f"{prefix}{key}"
            scope = f"the keys of [{prefix[:-1]}]" if prefix else "the top-level keys and sections"
            raise SpecError(where, f"unknown key{_suggest(key, known)}", f"{scope}: {', '.join(known)}")
    values = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if "section" in f.metadata:
            section = raw.get(f.name, {})
            if not isinstance(section, dict):
                raise SpecError(key, f"{_show(section)} is {_type_name(section)}, not a table",
                                f"a [{f.name}] table with keys {', '.join(_keys(f.metadata['section']))}")
            values[f.name] = _build(f.metadata["section"], section, f"{key}.")
        elif f.name in raw:
            values[f.name] = f.metadata["check"](key, raw[f.name])
    return cls(**values)


# --------------------------------------------------------------------------------------------------
# Checks across keys, and checks against the registries and the file system.
# --------------------------------------------------------------------------------------------------


def _check_combinations(spec: Spec) -> None:
    """Synthetic-only training (mix.real = false) needs R > 0 for every trial."""
    if spec.mix.real or min(candidate_ratios(spec)) > 0:
        return
    key = "search.ratio_range" if _samples_ratio_range(spec) else "mix.ratios"
    raise SpecError(key, "R = 0 with mix.real = false leaves nothing to train on",
                    "ratios > 0 when mix.real = false, or set mix.real = true")


FOLDER_ALLOWED = "folder:PATH where PATH is a directory with one subfolder of images per class"


def _check_folder(spec: Spec) -> None:
    """A `folder:PATH` dataset must name an existing directory (its layout is checked by data.py)."""
    path = Path(spec.dataset[len(FOLDER_PREFIX):]).expanduser()
    if not path.exists():
        raise SpecError("dataset", f"folder {str(path)!r} does not exist", FOLDER_ALLOWED)
    if not path.is_dir():
        raise SpecError("dataset", f"{str(path)!r} is not a directory", FOLDER_ALLOWED)


def _check_sizes(spec: Spec, num_classes: int, max_total: int | None) -> None:
    for size in spec.sizes:
        if size == FULL:
            continue
        if size < num_classes:
            raise SpecError("sizes", f"{size} is fewer than one image per class ({num_classes} classes)",
                            f'integers >= {num_classes} for {spec.dataset}, or "{FULL}"')
        if max_total is not None and size > max_total:
            raise SpecError("sizes", f"{size} is more than {spec.dataset} has ({max_total} class-balanced "
                                     "training images)",
                            f'integers from {num_classes} to {max_total}, or "{FULL}"')


def _check_registries(spec: Spec) -> None:
    """Names must be registry keys; sizes must fit the dataset. Imports torch, hence lazily."""
    from trainables import CLASSIFIERS, DATASETS, GANS
    from trainables.data import DataError, dataset_info

    allowed = f"{' | '.join(sorted(DATASETS))} | {FOLDER_PREFIX}PATH"
    if spec.dataset.startswith(FOLDER_PREFIX):
        _check_folder(spec)
        allowed = FOLDER_ALLOWED
    elif spec.dataset not in DATASETS:
        raise SpecError("dataset", f"unknown dataset {spec.dataset!r}{_suggest(spec.dataset, DATASETS)}",
                        allowed)
    try:
        info = dataset_info(spec.dataset)   # for a folder: scans file headers, decodes nothing
    except DataError as error:
        raise SpecError("dataset", str(error), allowed) from None
    per_class = getattr(info, "known_train_per_class", None)
    _check_sizes(spec, info.num_classes, None if per_class is None else per_class * info.num_classes)

    if spec.gan.arch not in GANS:
        raise SpecError("gan.arch", f"unknown GAN {spec.gan.arch!r}{_suggest(spec.gan.arch, GANS)}",
                        " | ".join(sorted(GANS)))
    if getattr(GANS[spec.gan.arch], "conditional_only", False) and spec.gan.conditioning != "conditional":
        raise SpecError("gan.conditioning", f"{spec.gan.arch} is a label-conditioned GAN and cannot be "
                                            f"trained {spec.gan.conditioning}", "conditional")
    for name in spec.classifier.name:
        if name not in CLASSIFIERS:
            raise SpecError("classifier.name", f"unknown classifier {name!r}{_suggest(name, CLASSIFIERS)}",
                            " | ".join(sorted(CLASSIFIERS)))


def spec_from_dict(raw: Mapping[str, Any], *, check_registries: bool = True) -> Spec:
    """Validate a parsed study file (defaults filled in) and return the frozen Spec.

    check_registries=False skips the checks that import `trainables` (torch) and look at the
    dataset; use it only to read a spec that was validated before (for example a run's spec.toml).
    """
    spec = _build(Spec, raw, "")
    _check_combinations(spec)
    if check_registries:
        _check_registries(spec)
    return spec


# --------------------------------------------------------------------------------------------------
# Reading files and presets, and --set overrides.
# --------------------------------------------------------------------------------------------------


def _parse_toml(text: str, source: str) -> dict:
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
    """Apply `--set` overrides to a parsed study file (a new dict; `raw` is not changed)."""
    result = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    sections = {f.name: f.metadata["section"] for f in dataclasses.fields(Spec) if "section" in f.metadata}
    top_keys = _keys(Spec)
    for item in overrides:
        path, value = parse_override(item)
        dotted = ".".join(path)
        head = path[0]
        if head not in top_keys:
            raise SpecError(dotted, f"unknown key{_suggest(head, top_keys)}",
                            f"the top-level keys and sections: {', '.join(top_keys)}")
        if head in sections:
            section_keys = _keys(sections[head])
            if len(path) != 2:
                raise SpecError(dotted, f"[{head}] is a section; set one of its keys",
                                ", ".join(f"{head}.{k}" for k in section_keys))
            if path[1] not in section_keys:
                raise SpecError(dotted, f"unknown key{_suggest(path[1], section_keys)}",
                                f"the keys of [{head}]: {', '.join(section_keys)}")
            section = result.get(head, {})
            result[head] = {**section, path[1]: value} if isinstance(section, dict) else {path[1]: value}
        else:
            if len(path) != 1:
                raise SpecError(dotted, f"{head!r} is a top-level key, not a section", head)
            result[head] = value
    return result


def _preset_files() -> dict[str, Any]:
    folder = importlib.resources.files(PRESET_PACKAGE)
    return {entry.name[:-5]: entry for entry in folder.iterdir() if entry.name.endswith(".toml")}


def preset_names() -> list[str]:
    return sorted(_preset_files())


def preset_text(name: str) -> str:
    """The TOML text of a bundled preset (what `study show NAME` prints)."""
    files = _preset_files()
    if name not in files:
        raise SpecError("preset", f"unknown preset {name!r}{_suggest(name, files)}",
                        f"{', '.join(sorted(files))} (see `study presets`)")
    return files[name].read_text(encoding="utf-8")


def list_presets() -> list[tuple[str, str]]:
    """(name, one-line description) per bundled preset; the description is the file's first comment."""
    result = []
    for name in preset_names():
        first = next((line for line in preset_text(name).splitlines() if line.startswith("#")), "#")
        result.append((name, first.lstrip("#").strip()))
    return result


def _looks_like_path(text: str) -> bool:
    return text.endswith(".toml") or "/" in text or "\\" in text or Path(text).is_file()


def load_spec(path_or_preset: str | Path, overrides: Sequence[str] = (), *,
              check_registries: bool = True) -> Spec:
    """Read a study file (a .toml path, or the name of a bundled preset), apply `--set` overrides
    (`section.key=value`) and validate the result. Raises SpecError on any problem."""
    text_arg = str(path_or_preset)
    if _looks_like_path(text_arg):
        path = Path(text_arg).expanduser()
        if not path.is_file():
            raise SpecError(text_arg, "no such study file",
                            f"a path to a .toml file, or a preset: {', '.join(preset_names())} "
                            "(see `study presets`)")
        raw = _parse_toml(path.read_text(encoding="utf-8"), text_arg)
    else:
        names = preset_names()
        if text_arg not in names:
            raise SpecError(text_arg, f"no such study file or preset{_suggest(text_arg, names)}",
                            f"a path to a .toml file, or a preset: {', '.join(names)} (see `study presets`)")
        raw = _parse_toml(preset_text(text_arg), f"preset {text_arg}")
    return spec_from_dict(apply_overrides(raw, overrides), check_registries=check_registries)


def loads_spec(text: str, overrides: Sequence[str] = (), *, check_registries: bool = True) -> Spec:
    """Like load_spec, from TOML text (for example a run's spec.toml)."""
    raw = _parse_toml(text, "<string>")
    return spec_from_dict(apply_overrides(raw, overrides), check_registries=check_registries)


# --------------------------------------------------------------------------------------------------
# Writing a spec back: a dict of plain values, and TOML text that load_spec reads back equal.
# --------------------------------------------------------------------------------------------------


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The spec as plain TOML-able values: tuples become lists, None (an absent optional key) is left out."""

    def plain(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj):
            return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                    if getattr(obj, f.name) is not None}
        if isinstance(obj, tuple | list):
            return [plain(item) for item in obj]
        return obj

    return plain(spec)


def _toml_string(text: str) -> str:
    # JSON string escapes (\" \\ \n \t \uXXXX) are all valid in TOML basic strings; TOML also
    # forbids a raw DEL character.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"cannot write {value} to TOML")
        return repr(value)      # shortest text that reads back as the same float, e.g. 0.0002, 1e-05
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def spec_to_toml(spec: Spec) -> str:
    """The resolved spec as TOML (what a run stores as spec.toml); load_spec reads it back equal."""
    lines = []
    sections = []
    for key, value in spec_to_dict(spec).items():
        if isinstance(value, dict):
            sections.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in sections:
        lines.append("")
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# What the driver needs from a spec.
# --------------------------------------------------------------------------------------------------


def seed_values(spec: Spec) -> list[int]:
    """The seeds of the repeats: 0 .. seeds-1."""
    return list(range(spec.seeds))


def _samples_ratio_range(spec: Spec) -> bool:
    return spec.search.mode == "optuna" and spec.search.ratio_range is not None


def candidate_ratios(spec: Spec) -> tuple[float, ...]:
    """The ratios trials may use: mix.ratios, or the bounds (lo, hi) of search.ratio_range when
    Optuna samples R continuously from it (search.ratio_range is ignored in grid mode)."""
    return spec.search.ratio_range if _samples_ratio_range(spec) else spec.mix.ratios


def max_ratio(spec: Spec) -> float:
    """The largest R any trial can ask for: the synthetic pool holds max_ratio x n images."""
    return max(candidate_ratios(spec))


def needs_gans(spec: Spec) -> bool:
    """Whether any trial uses synthetic images (some R > 0, or training on synthetic only)."""
    return max_ratio(spec) > 0 or not spec.mix.real


def grid_points(spec: Spec) -> list[dict[str, Any]]:
    """Every combination of size x alpha x ratio x classifier x seed, once each, in a fixed order
    (sizes outermost, seeds innermost). Note that R = 0 points differ across alpha only in name."""
    axes = itertools.product(spec.sizes, spec.gan.alpha, spec.mix.ratios, spec.classifier.name,
                             seed_values(spec))
    return [dict(size=size, alpha=alpha, ratio=ratio, classifier=classifier, seed=seed)
            for size, alpha, ratio, classifier, seed in axes]


def gan_points(spec: Spec) -> list[dict[str, Any]]:
    """The distinct (size, alpha, seed) combinations that need a trained GAN, in a fixed order;
    none when no trial uses synthetic images. The GAN stage turns each into its key."""
    if not needs_gans(spec):
        return []
    return [dict(size=size, alpha=alpha, seed=seed)
            for size, alpha, seed in itertools.product(spec.sizes, spec.gan.alpha, seed_values(spec))]
