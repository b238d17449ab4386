"""The GAN cache's location: resolved, checked and recorded before the study folder exists.

The cache is handed to Ray workers, whose working directory is Ray's session folder: a relative path
would resolve there (GANs trained inside /tmp/ray/..., trials unable to find their pools). So it
becomes an absolute path (against the caller's working directory) or a URI here, once, and is proved
usable (a supported scheme, a folder, writable, reachable) before spec.toml or run.json is written: a
study folder whose run.json names an unusable cache could never be resumed.

run.json records the cache relative to the storage root when it lives under it (the default
`<storage>/gan-cache` does), so a storage root moved with `mv` resumes against the cache that moved
with it; `study resume --gan-cache` points a study at a cache that was moved on its own.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from trainables.files.storage import StorageError, Store, check_location, is_uri

CACHE_FOLDER = "gan-cache"
KEY = "--gan-cache"
_ALLOWED = "allowed: a writable folder (new, or one holding GAN keys) or an s3:// / gs:// URI"


def default_cache(storage: str) -> str:
    """One content-addressed GAN cache per storage root, shared by every study there."""
    return Store(storage).uri(CACHE_FOLDER)


def absolute(location: str) -> str:
    """A local path made absolute against the caller's working directory (`~` expanded); URIs as they are."""
    location = str(location)
    if "://" in location:   # a URI, or an unsupported scheme that check_location refuses (never a folder `ftp:`)
        return location
    return os.path.abspath(os.path.expanduser(location))


def resolve_cache(gan_cache: str | None, storage: str, recorded: str | None = None) -> str:
    """The cache a run uses: --gan-cache, else the one run.json recorded, else `<storage>/gan-cache`;
    always absolute. Checked (StorageError naming --gan-cache) before it is returned."""
    if not gan_cache and recorded and _under(recorded, Store(storage).uri()) is None:
        check_recorded_cache(recorded)
    cache = absolute(gan_cache) if gan_cache else (recorded or default_cache(storage))
    check_cache(cache)
    return cache


def check_cache(cache: str) -> None:
    """StorageError `--gan-cache: ...; allowed: ...` unless `cache` is a folder this process can write
    (made and removed again when missing: a refusal later must leave nothing behind)."""
    try:
        check_location(cache)
        store = Store.reachable(cache)
    except StorageError as err:
        raise StorageError(f"{KEY}: {err}") from None
    if store.is_local:
        path = Path(store.local_path())
        if path.exists() and not path.is_dir():
            raise StorageError(f"{KEY}: {cache} is a file, not a folder; {_ALLOWED}")
    check_writable_folder(store, KEY, _ALLOWED)


def check_writable_folder(store: Store, key: str, allowed: str) -> None:
    """StorageError `<key>: cannot write to ...` unless a file can be written below the store's root.
    The folders made to prove it are removed again, innermost first, while empty (another study
    starting in the same new root may already be using a parent)."""
    made = _first_missing_folder(store)
    try:
        store.makedirs()
        store.check_writable()
    except OSError as err:
        raise StorageError(f"{key}: cannot write to {store.uri()} ({err.strerror or err}); {allowed}") from None
    finally:
        if made is not None:
            _remove_empty_folders(store.local_path(), made)


def _first_missing_folder(store: Store) -> Path | None:
    """The outermost folder of a local path that does not exist yet (None: all exist, or remote)."""
    if not store.is_local:
        return None
    path, missing = store.local_path(), None
    while not os.path.lexists(path) and path != path.parent:
        path, missing = path.parent, path
    return missing


def _remove_empty_folders(folder: Path, outermost: Path) -> None:
    while True:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == outermost or folder == folder.parent:
            return
        folder = folder.parent


# ---------------------------------------------------------------- run.json's record of the cache
def storage_root_of(study: Store) -> str:
    """The storage root a study folder lives in (its parent), as a path or URI with its options."""
    if study.is_local:
        return str(study.local_path().parent)
    return study.scheme + posixpath.dirname(study.root) + study.query


def _under(cache: str, root: str) -> str | None:
    """`cache` relative to `root` when it lies below it (same scheme and options), else None."""
    cache_store, root_store = Store(cache), Store(root)
    if (cache_store.scheme, cache_store.query) != (root_store.scheme, root_store.query):
        return None
    relative = posixpath.relpath(cache_store.root, root_store.root)
    return None if relative == ".." or relative.startswith("../") or relative == "." else relative


def cache_for_record(cache: str, storage_root: str) -> str:
    """What run.json keeps: the cache relative to the storage root when it lives under it (it moves with
    the root), else its absolute path or URI."""
    return _under(cache, storage_root) or cache


def cache_from_record(recorded: str | None, storage_root: str) -> str | None:
    """The absolute cache a run.json entry names: a relative one is under the study's storage root as it
    is now. An absolute `<old root>/gan-cache` of a study recorded before relative entries existed, whose
    root has since moved (the old path is gone, the new root holds a gan-cache), is the moved cache."""
    if not recorded or not isinstance(recorded, str):
        return None
    if not is_uri(recorded) and not os.path.isabs(recorded):
        return Store(storage_root).uri(*Path(recorded).parts)
    moved = Store(storage_root).uri(CACHE_FOLDER)
    if (not is_uri(recorded) and posixpath.basename(recorded.rstrip("/")) == CACHE_FOLDER
            and not os.path.exists(recorded) and Store(storage_root).is_local and os.path.isdir(moved)):
        print(f"[study] the GAN cache run.json names, {recorded}, is gone; the storage root moved: using {moved}",
              flush=True)
        return moved
    return recorded


def check_recorded_cache(cache: str) -> None:
    """A cache outside the storage root that run.json names and that is no longer there: refused rather
    than created empty (every GAN of the study would silently train again, outside the study's root)."""
    if not is_uri(cache) and not os.path.exists(cache):
        raise StorageError(f"{KEY}: {cache}, the GAN cache this study ran with, is gone; allowed: "
                           f"`--gan-cache WHERE-IT-IS-NOW` to resume against a moved cache, or `--gan-cache {cache}` "
                           "to train its GANs again there")
