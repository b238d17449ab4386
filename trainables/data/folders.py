"""`folder:PATH`: a user's labelled image folder (torchvision ImageFolder layout: one subfolder per
class, or train/ and test/ each with one subfolder per class), walked safely and handed to
trainables.data.layout to be scanned from headers and decoded once."""

from __future__ import annotations

import os
from pathlib import Path

from trainables.data.errors import DataError
from trainables.data.headers import DecodeOptions
from trainables.data.info import DatasetInfo, user_entry
from trainables.data.layout import IMAGE_SUFFIXES, ImageLayout, scan
from trainables.terms.choices import FOLDER_PREFIX


def inside(path: Path, root: Path) -> Path:
    """The real path of `path`; DataError naming it when it is a symlink that loops, dangles or leads
    out of `root` (a dataset must not read files the user did not put in it)."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as err:
        raise DataError(f"{path} is a broken or looping symlink ({err}); fix or remove it") from None
    if real != root and root not in real.parents:
        raise DataError(f"{path} is a symlink to {real}, outside the image folder {root}; copy the file in or "
                        "remove the link")
    return real


def _class_files(split_dir: Path, root: Path) -> dict[str, list[Path]]:
    """{class name: image files} for every subfolder of split_dir (recursive, like ImageFolder). Walks
    without following directory symlinks into loops; every symlink must stay inside `root`."""
    found = {}
    real_root = root.resolve()
    class_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    real_classes = {class_dir: inside(class_dir, real_root) for class_dir in class_dirs}
    for class_dir, real_class in real_classes.items():
        # A class folder that is a link to the image folder (`c -> .`), its split or another class would
        # make a class of copies of other classes' images: refused, never guessed around.
        others = [r for d, r in real_classes.items() if d != class_dir]
        if real_class in (real_root, split_dir.resolve()) or any(r == real_class or real_class in r.parents
                                                               for r in others):
            raise DataError(f"{class_dir} is a symlink to {real_class}, which holds other classes' images; "
                            "remove the link (each class folder must hold its own images)")
    for class_dir, real_class in real_classes.items():
        files, seen = [], set()
        for folder, dirs, names in os.walk(class_dir, followlinks=True):
            real_folder = inside(Path(folder), real_root)
            if real_folder != real_class and real_class not in real_folder.parents:
                raise DataError(f"{folder} is a symlink to {real_folder}, outside its class folder {class_dir}: "
                                "its images would count under another class too; remove the link")
            if real_folder in seen:          # a directory link back up the class's own tree: walk it once
                dirs[:] = []
                continue
            seen.add(real_folder)
            for name in names:
                file = Path(folder) / name
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    inside(file, real_root)
                    files.append(file)
        found[class_dir.name] = sorted(files)
    return found


def _scan_folder(path_text: str, options: DecodeOptions) -> ImageLayout:
    """Check the folder's layout, then every image header (not pixels)."""
    root = Path(path_text).expanduser()
    usage = "use folder:/path/to/images with one subfolder of images per class"
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; {usage}")
    has_split_dirs = (root / "train").is_dir() and (root / "test").is_dir()
    split_dirs = {"train": root / "train", "test": root / "test"} if has_split_dirs else {"all": root}
    per_split = {split: _class_files(directory, root) for split, directory in split_dirs.items()}
    first = per_split["train" if has_split_dirs else "all"]
    if not first:
        raise DataError(f"image folder {split_dirs.get('train', root)} has no class subfolders; {usage}")
    if len(first) < 2:
        raise DataError(f"image folder {root} has a single class ({next(iter(first))!r}); "
                        "a classifier needs at least two class subfolders")
    classes = tuple(first)
    for split, files in per_split.items():
        extra = sorted(set(files) - set(classes))
        if extra:
            raise DataError(f"{split_dirs[split]} has classes {extra} that train/ lacks; "
                            "give train/ and test/ the same class subfolders")
        for name, paths in files.items():
            if not paths and (split != "test"):
                raise DataError(f"class folder {split_dirs[split] / name} holds no images "
                                f"(looked for {', '.join(IMAGE_SUFFIXES)}); add images or remove it")
    splits = {split: [(file, label) for label, name in enumerate(classes) for file in files.get(name, [])]
              for split, files in per_split.items()}
    return scan(root, classes, splits, options, str(root.resolve()), f"folder:{root.resolve()}")


def folder_info(name: str, options: DecodeOptions | None = None) -> DatasetInfo:
    """The registry entry of `folder:PATH`: scanned from file headers, decoded on load."""
    layout = _scan_folder(name[len(FOLDER_PREFIX):], options or DecodeOptions())
    return user_entry(name, layout, f"user image folder {layout.root} (torchvision ImageFolder layout)", "folder")
