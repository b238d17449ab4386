"""A GAN key's synthetic pool: drawn from the final checkpoint's generator, scored, grown on demand.

pool.pt is `{"images": uint8 (N, C, H, W), "labels": int64 (N,)}` (DESIGN.md). Its first images of
every class do not depend on its size (gan_train.generate draws fixed blocks), so a study that needs
a larger R grows the pool from the checkpoint instead of retraining the GAN, and every trial that
takes the first R x n images gets the same ones. The quality scores are computed once, on the first
n images (R = 1), so they do not change when the pool grows.
"""

from __future__ import annotations

import hashlib
import io
import json
import time

import torch

from trainables import data, gan_train, quality
from trainables.storage import Store

META_FILE, POOL_FILE = "meta.json", "pool.pt"


def sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def load_pool(store: Store, classes: list[str]) -> data.ImageSet:
    payload = torch.load(io.BytesIO(store.read_bytes(POOL_FILE)), weights_only=True)
    return data.ImageSet(payload["images"], payload["labels"], tuple(classes))


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _generator(state: dict, spec: gan_train.GanSpec, device: torch.device) -> torch.nn.Module:
    generator, _ = gan_train.build_models(spec)
    generator.load_state_dict(state["generator"])
    return generator.to(device)


def _write_pool(store: Store, state: dict, spec: gan_train.GanSpec, per_class: int, seed: int,
                classes: tuple[str, ...], device: torch.device) -> tuple[data.ImageSet, dict]:
    started = time.perf_counter()
    pool = gan_train.generate(_generator(state, spec, device), spec, per_class,
                              gan_train.derive_seed(seed, "pool"), device, classes=classes)
    generate_seconds = time.perf_counter() - started
    buffer = io.BytesIO()
    torch.save({"images": pool.images, "labels": pool.labels}, buffer)
    payload = buffer.getvalue()
    store.write_bytes(payload, POOL_FILE)
    return pool, {"file": POOL_FILE, "bytes": len(payload), "sha256": sha256(payload), "images": len(pool),
                  "per_class": per_class, "generate_seconds": generate_seconds,
                  "checkpoint_epoch": int(state["epoch"])}


def write_pool_and_scores(job, checkpoint, real: data.ImageSet, test: data.ImageSet, grouping: str,
                          store: Store) -> dict:
    """pool.pt from the final checkpoint's generator, then the quality scores; meta.json fields."""
    device = _device()
    spec = gan_train.GanSpec(job.arch, job.conditioning, float(job.alpha), real.shape, real.num_classes,
                             grouping, job.seed)
    with checkpoint.as_directory() as directory:
        state = gan_train.read_state(directory)
    pool, pool_meta = _write_pool(store, state, spec, job.pool_per_class, job.seed, real.classes, device)
    scored = data.take_balanced(pool, min(len(real), len(pool)))
    scores = quality.quality_scores(real, test, scored, seed=job.seed, device=device)
    return {"pool": pool_meta, "image_shape": list(real.shape), "scored_images": len(scored),
            **scores}  # flat in meta.json: gan_train_acc, gan_test_acc, frechet_distance, ...


def grow_pool(job, store: Store, meta: dict) -> dict:
    """Redraw pool.pt with job.pool_per_class images per class from the final checkpoint (the first
    images stay the same); returns the updated meta, written to meta.json."""
    epoch = int(meta["pool"]["checkpoint_epoch"])
    state = torch.load(io.BytesIO(store.read_bytes(f"checkpoint_epoch{epoch:04d}", gan_train.STATE_FILE)),
                       map_location="cpu", weights_only=True)
    classes = tuple(meta["classes"])
    spec = gan_train.GanSpec(job.arch, job.conditioning, float(job.alpha), tuple(meta["image_shape"]),
                             len(classes), meta["grouping"], job.seed)
    _, pool_meta = _write_pool(store, state, spec, job.pool_per_class, job.seed, classes, _device())
    meta = {**meta, "pool": pool_meta, "pool_per_class": job.pool_per_class}
    store.write_text(json.dumps(meta, indent=2), META_FILE)
    return meta
