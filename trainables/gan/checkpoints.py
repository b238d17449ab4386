"""A GAN key's checkpoints in its cache folder: `<cache>/<key>/checkpoint_epochNNNN/state.pt`.

Rank 0 of the Train run writes them and every rank restores from the newest one, here and not
through Ray Train's checkpoint manager, because one Train run trains several keys one after the other
(trainables.runners.gan_worker), and Ray Train V2 keeps one checkpoint list per run under the run's own folder, with one
`num_to_keep` across it: it would prune one key's final checkpoint (the one its pool grows from) when
the next key checkpoints, and a study resumed after a crash bundles its unfinished keys into different
runs. Per key, in the key's folder, a checkpoint is found by whichever run trains the key next.

Each state.pt is written atomically (Store.write_bytes: temp file + rename, or one object put), so a
worker killed mid-write leaves the previous checkpoint usable; the newest KEEP are kept.
"""

from __future__ import annotations

import io
import re

import torch

from trainables.files.storage import Store

STATE_FILE = "state.pt"
KEEP = 2   # the newest two: the last one, and the one before it should the last be unreadable
_NAME = re.compile(r"checkpoint_epoch(\d+)")


def checkpoint_name(epoch: int) -> str:
    return f"checkpoint_epoch{epoch:04d}"


def is_checkpoint(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def checkpoints(store: Store) -> list[str]:
    """The key's checkpoint folders, oldest first (by epoch)."""
    if not store.exists():
        return []
    return sorted((name for name in store.listdir() if is_checkpoint(name)),
                  key=lambda name: int(_NAME.fullmatch(name).group(1)))


def read(store: Store, name: str, device: torch.device | str = "cpu") -> dict:
    return torch.load(io.BytesIO(store.read_bytes(name, STATE_FILE)), map_location=device, weights_only=True)


def latest(store: Store) -> str | None:
    """The newest checkpoint folder that holds a state.pt (a folder whose write was cut short holds
    only a temp file), or None when the key has none."""
    for name in reversed(checkpoints(store)):
        if store.exists(name, STATE_FILE):
            return name
    return None


def write(store: Store, state: dict) -> str:
    """Save `state` as the checkpoint of state["epoch"], then drop all but the newest KEEP."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    name = checkpoint_name(int(state["epoch"]))
    store.write_bytes(buffer.getvalue(), name, STATE_FILE)
    for old in checkpoints(store)[:-KEEP]:
        store.delete(old)
    return name


def discard_unusable(store: Store) -> str | None:
    """Make sure a rerun of the key does not restore from a checkpoint it cannot read.

    A truncated state.pt (a disk that filled up, a copy cut short, a file edited by hand) in the
    checkpoint `latest` picks would make every retry fail the same way; when it is unreadable, every
    checkpoint of the key is set aside (renamed `.damaged`, never read again), so the key trains from
    scratch. Returns what was wrong, or None when nothing was set aside."""
    name = latest(store)
    if name is None:
        return None
    try:
        read(store, name)
    except Exception as err:  # a truncated zip raises RuntimeError, an empty file EOFError
        reason = (str(err).splitlines() or [type(err).__name__])[0][:120]
        problem = f"checkpoint {name}/{STATE_FILE} is unreadable ({reason})"
        for old in checkpoints(store):
            store.set_aside(old)
        return problem
    return None


def final_problem(store: Store, epoch: int) -> str | None:
    """Why the checkpoint a pool is drawn from (its GAN's final one) cannot be used to grow or filter the
    pool, or None when it loads: checked before the work is handed to Ray, so a damaged one retrains
    the key instead of failing inside the GAN stage while the old, smaller pool reads as ready."""
    name = checkpoint_name(int(epoch))
    if not store.exists(name, STATE_FILE):
        return f"its final checkpoint {name}/{STATE_FILE} is missing"
    try:
        read(store, name)
    except Exception as err:  # a truncated zip raises RuntimeError, an empty file EOFError, garbage UnpicklingError
        reason = (str(err).splitlines() or [type(err).__name__])[0][:120]
        return f"its final checkpoint {name}/{STATE_FILE} is unreadable ({reason})"
    return None


def set_aside_all(store: Store) -> list[str]:
    """Rename every checkpoint of the key to `.damaged` (kept, never read again); returns the new names."""
    return [store.set_aside(name) for name in checkpoints(store)]


def generator_state(state: dict) -> dict:
    """The generator weights a checkpoint's pool and grids come from: the EMA ones when kept."""
    return state.get("generator_ema") or state["generator"]
