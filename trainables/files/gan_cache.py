"""A GAN key's folder in the cache, as files: meta.json, pool.pt's integrity, and what "complete" means.

No torch here: the study driver asks these questions (plan, status, resume) without loading a model.
A key's folder holds `checkpoint_epochNNNN/` folders, `samples_epochNNN.png`, `losses.csv`,
`real_samples.png`, `pool.pt` and `meta.json`, written last: its presence with status ok or diverged
is what "complete" means.
"""

from __future__ import annotations

import hashlib
import json

from trainables.files.storage import Store, json_safe

META_FILE, POOL_FILE = "meta.json", "pool.pt"
COMPLETE_STATUSES = ("ok", "diverged")


def sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def write_meta(store: Store, meta: dict) -> dict:
    """meta.json as strict JSON (NaN scores become null); returns what was written."""
    meta = json_safe(meta)
    store.write_text(json.dumps(meta, indent=2), META_FILE)
    return meta


def gan_dir(cache_root: str, key: str) -> str:
    """`<cache_root>/<key>` (a path or URI): where a key's checkpoints, pool, grids and meta.json live."""
    return Store(cache_root).uri(key)


def key_store(cache_root: str, key: str) -> Store:
    """The key's folder in the cache."""
    return Store(cache_root).sub(key)


def read_meta(cache_root: str, key: str) -> dict:
    return json.loads(key_store(cache_root, key).read_text(META_FILE))


def is_complete(cache_root: str, key: str) -> bool:
    """meta.json says ok or diverged, and for ok the pool's size and sha256 match the meta."""
    return completion_problem(cache_root, key) is None


def completion_problem(cache_root: str, key: str) -> str | None:
    """None when the key is complete; else why not, in words a user can act on ("not trained yet",
    "pool.pt is 812 bytes but meta.json says 30613", ...)."""
    store = key_store(cache_root, key)
    if not store.exists(META_FILE):
        return "not trained yet"
    meta, problem = _read_checked(store)
    if problem is not None:
        return problem
    if meta.get("status") not in COMPLETE_STATUSES:
        return f"the last run ended with status {meta.get('status')!r} ({meta.get('reason', 'no reason')})"
    return None


def damage(cache_root: str, key: str) -> str | None:
    """What is wrong with the key's written outputs, or None: an unreadable meta.json, or for an ok GAN
    a pool that is missing, truncated or altered (caught by the size and sha256 meta.json records)."""
    return _read_checked(key_store(cache_root, key))[1]


def _read_checked(store: Store) -> tuple[dict | None, str | None]:
    """(meta.json, None), or (None or the meta, what is damaged): meta.json read once, then the pool
    checked against it."""
    try:
        meta = json.loads(store.read_text(META_FILE))
    except (ValueError, UnicodeDecodeError) as err:
        return None, f"{META_FILE} is unreadable ({err})"
    if not isinstance(meta, dict):
        return None, f"{META_FILE} is a JSON {type(meta).__name__}, not an object"
    if meta.get("status") != "ok":
        return meta, None   # a diverged GAN has no pool; a failed one is retrained, not damaged
    pool = meta.get("pool") or {}
    if not store.exists(POOL_FILE):
        return meta, f"{POOL_FILE} is missing"
    size = store.size(POOL_FILE)
    if size != pool.get("bytes"):
        return meta, f"{POOL_FILE} is {size} bytes but {META_FILE} says {pool.get('bytes')} (truncated or replaced)"
    if sha256(store.read_bytes(POOL_FILE)) != pool.get("sha256"):
        return meta, f"{POOL_FILE} does not match the sha256 in {META_FILE} (corrupted or replaced)"
    return meta, None


def set_aside_outputs(cache_root: str, key: str) -> list[str]:
    """Rename a damaged key's meta.json and pool.pt to `.damaged` (kept, never read again), so its
    retraining writes fresh ones; returns the new names."""
    store = key_store(cache_root, key)
    return [store.set_aside(name) for name in (META_FILE, POOL_FILE) if store.exists(name)]
