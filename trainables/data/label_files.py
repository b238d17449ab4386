"""`csv:PATH`: a label file of `path,label[,split]` rows, as many public datasets ship their labels.

Paths are relative to the label file's folder and must stay inside it; a header row
(`path,label[,split]`) is optional; split is `train` or `test` on every row or on none (then a seeded
stratified 80/20 hold-out, as for a folder). Classes are the training rows' labels, sorted. Refused,
naming the row: a path that leaves the folder (absolute, `..`, or a symlink out), a missing file, a
duplicate path, a test row whose label no training row has, a split other than train/test, a row
without a path or label, and a file that mixes rows with and without a split.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from trainables.data.errors import DataError
from trainables.data.folders import inside
from trainables.data.headers import DecodeOptions
from trainables.data.info import DatasetInfo, user_entry
from trainables.data.layout import ImageLayout, scan
from trainables.terms.choices import CSV_PREFIX

SPLITS = ("train", "test")
_HEADERS = (("path", "label"), ("path", "label", "split"))


def _rows(label_file: Path) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank row after an optional header."""
    try:
        text = label_file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"label file {label_file} is not UTF-8 text (byte {err.start}); save it as UTF-8 CSV") from None
    except OSError as err:
        raise DataError(f"cannot read label file {label_file}: {err.strerror or err}") from None
    rows = [(number, [cell.strip() for cell in cells])
            for number, cells in enumerate(csv.reader(text.splitlines()), start=1) if any(c.strip() for c in cells)]
    if rows and tuple(cell.lower() for cell in rows[0][1]) in _HEADERS:
        rows = rows[1:]
    if not rows:
        raise DataError(f"label file {label_file} has no rows; write one path,label[,split] row per image")
    return rows


def _relative(cell: str, where: str, folder: Path, real_folder: Path) -> Path:
    if not cell:
        raise DataError(f"{where}: the path is empty")
    if PurePosixPath(cell).is_absolute() or PureWindowsPath(cell).is_absolute() or PureWindowsPath(cell).drive:
        raise DataError(f"{where}: path {cell!r} is absolute; paths are relative to the label file's folder {folder}")
    if ".." in PurePosixPath(cell.replace("\\", "/")).parts:
        raise DataError(f"{where}: path {cell!r} leaves the label file's folder {folder}")
    file = folder / cell
    if not file.exists() and not file.is_symlink():
        raise DataError(f"{where}: file {file} does not exist")
    try:
        inside(file, real_folder)
    except DataError as err:
        raise DataError(f"{where}: {err}") from None
    if not file.is_file():
        raise DataError(f"{where}: {file} is not a file")
    return file


def _read_label_file(path_text: str, options: DecodeOptions) -> ImageLayout:
    label_file = Path(path_text).expanduser()
    if not label_file.is_file():
        raise DataError(f"label file {label_file} does not exist; use csv:/path/to/labels.csv with rows of "
                        "path,label[,split]")
    folder = label_file.parent
    real_folder = folder.resolve()
    rows = _rows(label_file)
    with_split = len(rows[0][1]) == 3
    entries, seen = [], {}
    for number, cells in rows:
        where = f"{label_file} row {number}"
        if len(cells) != (3 if with_split else 2):
            raise DataError(f"{where}: {len(cells)} columns, expected {'path,label,split' if with_split else 'path,label'} "
                            "(every row has a split, or none does)")
        path_cell, label = cells[0], cells[1]
        if not label:
            raise DataError(f"{where}: the label is empty")
        split = cells[2].lower() if with_split else "all"
        if with_split and split not in SPLITS:
            raise DataError(f"{where}: split {cells[2]!r} is not train or test")
        file = _relative(path_cell, where, folder, real_folder)
        real = file.resolve()
        if real in seen:
            raise DataError(f"{where}: {path_cell!r} repeats row {seen[real]} (each image once)")
        seen[real] = number
        entries.append((number, file, label, split))
    train_split = "train" if with_split else "all"
    classes = tuple(sorted({label for _, _, label, split in entries if split == train_split}))
    if not classes:
        raise DataError(f"label file {label_file} has no training rows")
    if len(classes) < 2:
        raise DataError(f"label file {label_file} has a single class ({classes[0]!r}); a classifier needs at least two")
    index = {name: i for i, name in enumerate(classes)}
    splits: dict[str, list[tuple[Path, int]]] = {s: [] for s in (SPLITS if with_split else ("all",))}
    for number, file, label, split in entries:
        if label not in index:
            raise DataError(f"{label_file} row {number}: label {label!r} has no training rows (known labels: "
                            f"{', '.join(classes)})")
        splits[split].append((file, index[label]))
    identity = f"{label_file.resolve()}|{hashlib.sha256(label_file.read_bytes()).hexdigest()}"
    return scan(folder, classes, splits, options, identity, f"csv:{label_file.resolve()}")


def csv_info(name: str, options: DecodeOptions | None = None) -> DatasetInfo:
    """The registry entry of `csv:PATH`: the label file checked row by row, headers scanned, decoded on load."""
    layout = _read_label_file(name[len(CSV_PREFIX):], options or DecodeOptions())
    return user_entry(name, layout, f"user label file {name[len(CSV_PREFIX):]} (path,label[,split] rows)", "csv")
