"""Table -> markdown, LaTeX and csv files. Hand-written so no optional pandas extras are needed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.load import write_csv_atomic, write_text_atomic


@dataclass(frozen=True)
class Table:
    name: str                   # file stem under report/tables/
    title: str                  # titled like the paper's table
    display: pd.DataFrame       # formatted strings: what a person reads (markdown, LaTeX)
    data: pd.DataFrame          # the numbers behind it (csv): ours, CI, n, gain, p, paper, diff
    notes: tuple[str, ...] = ()


def fmt_axis(value) -> str:
    """An axis value as a table shows it: 0.5 not 0.500000, blank (not "nan") for a GAN axis at R = 0."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def to_markdown(df: pd.DataFrame) -> str:
    cells = [[str(v) for v in row] for row in df.itertuples(index=False)]
    header = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines)


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}
_LATEX_UNICODE = {"±": r"$\pm$", "Δ": r"$\Delta$", "α": r"$\alpha$", "—": "--", "≤": r"$\le$", "−": "-"}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    for uni, tex in _LATEX_UNICODE.items():
        out = out.replace(uni, tex)
    return re.sub(r"\*\*(.+?)\*\*", r"\\textbf{\1}", out.replace(r"\*", "*"))


def to_latex(table: Table) -> str:
    df = table.display
    spec = "l" * len(df.columns)
    lines = [r"\begin{table}[ht]", r"\centering", rf"\caption{{{latex_escape(table.title)}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\hline",
             " & ".join(latex_escape(str(c)) for c in df.columns) + r" \\", r"\hline"]
    lines += [" & ".join(latex_escape(str(v)) for v in row) + r" \\" for row in df.itertuples(index=False)]
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def table_markdown(table: Table) -> str:
    parts = [f"**{table.title}**", "", to_markdown(table.display)]
    if table.notes:
        parts += [""] + [f"- {note}" for note in table.notes]
    return "\n".join(parts) + "\n"


def write_table(table: Table, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: out_dir / f"{table.name}.{ext}" for ext in ("md", "csv", "tex")}
    write_text_atomic(table_markdown(table), paths["md"])
    write_text_atomic(to_latex(table), paths["tex"])
    write_csv_atomic(table.data.round(6), paths["csv"])
    return paths
