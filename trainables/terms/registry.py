"""A registry: the names a study file may pick from (datasets, GAN architectures, classifiers) and
the one check of a name against them, used by the study's schema before anything runs and by the
training code that looks the name up. Light on purpose: no torch here."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(word: str, options: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a close match among `options`, else ''."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Registry(dict):
    """name -> entry. `kind` names an entry in messages ("GAN", "classifier"); `also` is an allowed form
    beyond the names (datasets: folder:PATH)."""

    def __init__(self, kind: str, entries: dict, also: str = ""):
        super().__init__(entries)
        self.kind, self.also = kind, also

    def allowed(self) -> str:
        return " | ".join([*sorted(self), *([self.also] if self.also else [])])

    def problem(self, name: str) -> str | None:
        """None for a registered name, else what is wrong with it (a close match when there is one)."""
        return None if name in self else f"unknown {self.kind} {name!r}{suggest(name, self)}"

    def check(self, name: str, error: type[Exception] = ValueError) -> None:
        """Raise `error` with one line naming the problem and what is allowed."""
        problem = self.problem(name)
        if problem is not None:
            raise error(f"{problem}; allowed: {self.allowed()}")
