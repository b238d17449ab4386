"""Locks on shared storage: one per GAN key in the cache, so that two studies needing the same GAN
train it once (`hold` waits for the holder), and one per study folder, so that a second run or resume
of a running study is refused (`hold_or_refuse`).

On a local (or shared POSIX) cache the lock is `fcntl.flock` on `<cache>/.locks/<key>.lock`: the
kernel releases it when its holder dies, so a crashed study never leaves a stale lock behind. The
holder writes its host and pid into the file, so a waiting study can say whom it waits for.

On s3:// the lock is an object written with S3's conditional writes and kept by a lease
(trainables.files.object_lock): the same two behaviours, a dead holder's lock free once its lease lapses.
Other object stores (gs://, ...) have no lock here yet: two studies started at the same moment may
both train a key there (the second one's files replace the first one's, which are the same GAN).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterator

from trainables.files.storage import Store

LOCK_FOLDER = ".locks"


class LockBusy(RuntimeError):
    """Another live process holds the lock; str() names it (host, pid)."""


@contextlib.contextmanager
def _locked(store: Store, path_parts: tuple[str, ...], on_busy: Callable[[str], None]) -> Iterator[None]:
    """flock `<store>/<path_parts>` for the block. When another process holds it, on_busy(holder) runs
    first: it raises to refuse, or returns to wait for the lock."""
    if store.scheme == "s3://":
        from trainables.files import object_lock

        with object_lock.hold(store.scheme, store.root, store.query, "/".join(path_parts), on_busy):
            yield
        return
    if not store.is_local:
        yield
        return
    path = store.local_path(*path_parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            on_busy(_describe(handle.read()))
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _refuse(holder: str) -> None:
    raise LockBusy(holder)


def hold_or_refuse(store: Store, name: str) -> contextlib.AbstractContextManager[None]:
    """Hold `<store>/<name>` for the block, or raise LockBusy naming the holder at once. A lock left by
    a dead process is free (the kernel dropped its flock), so it is simply taken over."""
    return _locked(store, (name,), _refuse)


def hold(cache: Store, key: str, on_wait: Callable[[str], None] = print) -> contextlib.AbstractContextManager[None]:
    """Hold the key's lock for the block; when another process holds it, call on_wait(holder) once
    and block until it is released."""
    return _locked(cache, (LOCK_FOLDER, f"{key}.lock"), on_wait)


def _describe(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"host {holder['host']}, pid {holder['pid']}"
    except (ValueError, KeyError, TypeError):
        return "another process"
