"""Value checkers of the study file: each turns a raw TOML value into a field's value or raises
SpecError with a one-line message `<key>: <problem>; allowed: <allowed values>`.

The dataclass fields in `study.schema` carry their checker in their metadata, so the schema, the
defaults and the validation live in one place; `describe()` is the "allowed" part of a message.
`Axis` marks a key that may be a list (an axis of the grid); `Fixed` a key that may not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from study.tomlio import toml_value
from trainables.terms.registry import suggest

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


def show(value: Any) -> str:
    """A value as the user wrote it in TOML (true, not True), for error messages."""
    try:
        return toml_value(value)
    except TypeError:
        return repr(value)


def type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Int:
    minimum: int

    def describe(self) -> str:
        return f"an integer >= {self.minimum}"

    def __call__(self, key: str, value: Any) -> int:
        # bool is a subclass of int in Python; `epochs = true` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(key, f"{show(value)} is {type_name(value)}, not an integer", self.describe())
        if value < self.minimum:
            raise SpecError(key, f"{value} is too small", self.describe())
        return value


@dataclass(frozen=True)
class Float:
    minimum: float
    exclusive: bool = False     # minimum itself not allowed
    maximum: float | None = None
    maximum_exclusive: bool = True
    unit: str = ""              # what the number counts, when "a number" alone would not say it

    def describe(self) -> str:
        text = f"a number {'>' if self.exclusive else '>='} {self.minimum:g}"
        if self.maximum is not None:
            text += f" and {'<' if self.maximum_exclusive else '<='} {self.maximum:g}"
        return f"{text} ({self.unit})" if self.unit else text

    def __call__(self, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(key, f"{show(value)} is {type_name(value)}, not a number", self.describe())
        number = float(value)
        if not math.isfinite(number):
            raise SpecError(key, f"{show(value)} is not finite", self.describe())
        too_small = number <= self.minimum if self.exclusive else number < self.minimum
        too_big = self.maximum is not None and (
            number >= self.maximum if self.maximum_exclusive else number > self.maximum)
        if too_small or too_big:
            raise SpecError(key, f"{show(value)} is out of range", self.describe())
        return number


@dataclass(frozen=True)
class Bool:
    def describe(self) -> str:
        return "true | false"

    def __call__(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise SpecError(key, f"{show(value)} is {type_name(value)}, not a boolean", self.describe())
        return value


@dataclass(frozen=True)
class Str:
    pattern: str = r".+"
    text: str = "a non-empty string"

    def describe(self) -> str:
        return self.text

    def __call__(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise SpecError(key, f"{show(value)} is {type_name(value)}, not a string "
                                 "(quote it in TOML)", self.describe())
        if not re.fullmatch(self.pattern, value):
            raise SpecError(key, f"{show(value)} is not valid", self.describe())
        return value


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]
    # Values a user may well write that are refused on purpose, and why (e.g. a test metric as the
    # objective): a reason says more than "unknown value".
    refused: tuple[str, ...] = ()
    refused_because: str = ""

    def describe(self) -> str:
        return " | ".join(self.options)

    def __call__(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise SpecError(key, f"{show(value)} is {type_name(value)}, not a string", self.describe())
        if value in self.refused:
            raise SpecError(key, f"{show(value)} {self.refused_because}", self.describe())
        if value not in self.options:
            raise SpecError(key, f"unknown value {show(value)}{suggest(value, self.options)}",
                            self.describe())
        return value


@dataclass(frozen=True)
class ChoiceOrCount:
    """One of some words, or a whole number >= minimum (gan.repeats: "per-seed" | "once" | a count)."""

    options: tuple[str, ...]
    minimum: int
    count_text: str

    def describe(self) -> str:
        return f"{' | '.join(self.options)} | an integer >= {self.minimum} ({self.count_text})"

    def __call__(self, key: str, value: Any) -> str | int:
        if isinstance(value, str) and value in self.options:
            return value
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise SpecError(key, f"{show(value)} is {type_name(value)}", self.describe())
        if isinstance(value, str):
            raise SpecError(key, f"unknown value {show(value)}{suggest(value, self.options)}", self.describe())
        if value < self.minimum:
            raise SpecError(key, f"{value} is too small", self.describe())
        return value


@dataclass(frozen=True)
class Size:
    """A real sample size: a positive integer (images in total, class-balanced) or "full"."""

    def describe(self) -> str:
        return f'an integer >= 1 or "{FULL}"'

    def __call__(self, key: str, value: Any) -> int | str:
        if value == FULL and isinstance(value, str):
            return FULL
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(key, f"{show(value)} is not a size", self.describe())
        if value < 1:
            raise SpecError(key, f"{value} is too small", self.describe())
        return value


@dataclass(frozen=True)
class ImageSize:
    """image_size: "native" (every image keeps its own, shared size), one side, or [height, width],
    each side from `minimum` to `maximum` pixels (what every model of the registries takes)."""

    minimum: int
    maximum: int

    def describe(self) -> str:
        return (f'"native" (all images share one size), a side from {self.minimum} to {self.maximum}, '
                f"or [height, width] in that range")

    def __call__(self, key: str, value: Any) -> str | tuple[int, int]:
        if value == "native" and isinstance(value, str):
            return "native"
        sides = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) != 2:
            raise SpecError(key, f"{show(value)} is not [height, width]", self.describe())
        for side in sides:
            if isinstance(side, bool) or not isinstance(side, int):
                raise SpecError(key, f"{show(value)} is not a size in pixels", self.describe())
            if side < self.minimum:
                raise SpecError(key, f"{side} is below {self.minimum} pixels, the smallest side every GAN and "
                                "classifier takes", self.describe())
            if side > self.maximum:
                raise SpecError(key, f"{side} is above {self.maximum} pixels, the largest side every GAN and "
                                "classifier takes", self.describe())
        return (sides[0], sides[-1])


@dataclass(frozen=True)
class ListOf:
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
                raise SpecError(key, f"{show(item)} appears twice", self.describe())
        return converted


@dataclass(frozen=True)
class OptionalRange:
    """Absent (None) or [lo, hi] with 0 <= lo < hi."""

    def describe(self) -> str:
        return "a list [lo, hi] of two numbers with 0 <= lo < hi, or leave the key out"

    def __call__(self, key: str, value: Any) -> tuple[float, float] | None:
        if value is None:
            return None
        if not isinstance(value, list) or len(value) != 2:
            raise SpecError(key, f"{show(value)} is not a pair", self.describe())
        lo, hi = (Float(0.0)(key, item) for item in value)
        if not lo < hi:
            raise SpecError(key, f"lo {lo:g} is not below hi {hi:g}", self.describe())
        return (lo, hi)


@dataclass(frozen=True)
class Axis:
    """A key that may be one value or a list of them; a list is an axis of the grid (an Optuna
    categorical in search mode). One value stays a scalar, a list becomes a tuple."""

    element: Callable[[str, Any], Any]

    def describe(self) -> str:
        return f"{self.element.describe()}, or a non-empty list of them without repeats (an axis of the grid)"

    def __call__(self, key: str, value: Any) -> Any:
        if not isinstance(value, list):
            return self.element(key, value)
        return ListOf(self.element)(key, value)


@dataclass(frozen=True)
class Fixed:
    """A key that says how a study runs, not what it measures: one value for the whole study."""

    element: Callable[[str, Any], Any]

    def describe(self) -> str:
        return self.element.describe()

    def __call__(self, key: str, value: Any) -> Any:
        if isinstance(value, list):
            raise SpecError(key, f"{show(value)} is a list, but this key cannot vary within a study "
                                 "(it changes how the study runs, not what it measures)", self.describe())
        return self.element(key, value)


@dataclass(frozen=True)
class CountOrAuto:
    """A whole number of images >= 0, or "auto" (resolved against the dataset when the study runs)."""

    auto_text: str

    def describe(self) -> str:
        return f'an integer >= 0, or "auto" ({self.auto_text})'

    def __call__(self, key: str, value: Any) -> int | str:
        if value == "auto":
            return "auto"
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(key, f"{show(value)} is {type_name(value)}, not an integer", self.describe())
        if value < 0:
            raise SpecError(key, f"{value} is negative", self.describe())
        return value
