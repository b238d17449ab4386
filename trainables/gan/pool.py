"""A GAN key's synthetic pool: drawn from the final checkpoint's generator, scored, grown on demand.

pool.pt is `{"images": uint8 (N, C, H, W), "labels": int64 (N,)}`. Its first images of
every class do not depend on its size (trainables.gan.engine.generate draws fixed blocks), so a study that needs
a larger R grows the pool from the checkpoint instead of retraining the GAN, and every trial that
takes the first R x n images gets the same ones. The quality scores are computed once, on the first
n images (R = 1), so they do not change when the pool grows.
"""

from __future__ import annotations

import io
import sys
import time
from dataclasses import replace as dataclasses_replace

import torch

from trainables.data import sampling
from trainables.data.images import ImageSet
from trainables.files import gan_cache
from trainables.files.gan_cache import META_FILE, POOL_FILE, sha256, write_meta
from trainables.files.storage import Store
from trainables.gan import checkpoints as gan_checkpoints
from trainables.gan import engine as gan_engine
from trainables.quality import scores as quality


def _images(payload: bytes, classes) -> ImageSet:
    images = torch.load(io.BytesIO(payload), weights_only=True)
    return ImageSet(images["images"], images["labels"], tuple(classes))


def load_pool(store: Store, classes: list[str]) -> ImageSet:
    return _images(store.read_bytes(POOL_FILE), classes)


def compute_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _generator(state: dict, spec: gan_engine.ModelSpec, device: torch.device) -> torch.nn.Module:
    generator, _ = gan_engine.build_models(spec)
    generator.load_state_dict(gan_checkpoints.generator_state(state))   # the EMA weights when kept
    return generator.to(device)


def _write_pool(store: Store, state: dict, spec: gan_engine.ModelSpec, per_class: int, seed: int,
                classes: tuple[str, ...], device: torch.device) -> tuple[ImageSet, dict]:
    started = time.perf_counter()
    pool = gan_engine.generate(_generator(state, spec, device), spec, per_class,
                               gan_engine.derive_seed(seed, "pool"), device, classes=classes)
    generate_seconds = time.perf_counter() - started
    buffer = io.BytesIO()
    torch.save({"images": pool.images, "labels": pool.labels}, buffer)
    payload = buffer.getvalue()
    store.write_bytes(payload, POOL_FILE)
    return pool, {"file": POOL_FILE, "bytes": len(payload), "sha256": sha256(payload), "images": len(pool),
                  "per_class": per_class, "generate_seconds": generate_seconds,
                  "checkpoint_epoch": int(state["epoch"])}


def _say(text: str) -> None:
    """One console line from a Train worker: straight to stdout, which Ray forwards to the driver (Ray
    Train's patched print would also log it to stderr, and the console would show it twice)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def key_outputs(state: dict | None, spec: gan_engine.ModelSpec, per_class: int, train: ImageSet,
                real: ImageSet, test: ImageSet, store: Store, scoring_cache: Store,
                validation: ImageSet | None = None) -> dict:
    """What a key's run leaves besides its checkpoints, made by the Train worker of rank 0 at the end of
    the run from the generator it holds (no second process, no checkpoint reload): the grid of the real
    images it learnt from, and for a GAN that trained to the end (`state`: its final checkpoint's
    state) pool.pt and the pool's quality scores, by the dataset's scoring network (trained into
    `scoring_cache` on first use). The quality gate (GAN-train and the real reference, equal budgets)
    is measured on `validation`, the key's validation images (the study's validation split, or the part
    carved out of its subset), never on `test`. meta.json fields, with
    the seconds this took."""
    from trainables.gan.grids import class_grid_png
    from trainables.quality import scoring

    started = time.perf_counter()
    store.write_bytes(class_grid_png(real.images, real.labels, real.num_classes, title="real images the GAN learnt "
                                     "from (one row per class)", class_names=real.classes), "real_samples.png")
    fields = {"classes": list(real.classes)}
    if state is not None:
        device = compute_device()
        pool, pool_meta = _write_pool(store, state, spec, per_class, spec.seed, real.classes, device)
        # After the pool: a key finishing while another trains the scoring network waits for it less.
        scorer = scoring.load_or_train(scoring_cache, train, test, device=device, say=_say)
        scored = sampling.take_balanced(pool, min(len(real), len(pool)))
        scores = quality.quality_scores(real, test, scored, scorer, seed=spec.seed, device=device,
                                        validation=validation)
        fields |= {"pool": pool_meta, "image_shape": list(real.shape), "scored_images": len(scored),
                   **scores}  # flat in meta.json: gan_train_acc, gan_test_acc, frechet_distance, ...
    return fields | {"outputs_seconds": time.perf_counter() - started}


def grow_pool(job, store: Store, meta: dict) -> dict:
    """Redraw pool.pt with job.pool_per_class images per class from the final checkpoint (the first
    images stay the same); returns the updated meta, written to meta.json."""
    epoch = int(meta["pool"]["checkpoint_epoch"])
    state = gan_checkpoints.read(store, gan_checkpoints.checkpoint_name(epoch))
    classes = tuple(meta["classes"])
    spec = job.model_spec(tuple(meta["image_shape"]), len(classes), meta["grouping"])
    _, pool_meta = _write_pool(store, state, spec, job.pool_per_class, job.seed, classes, compute_device())
    return write_meta(store, {**meta, "pool": pool_meta, "pool_per_class": job.pool_per_class})


# ---------------------------------------------------------------------------------------------
# Filtered pools (mix.filter = "confident"): none of the papers filter; this is our option.

MAX_DRAW_FACTOR = 20   # draw at most 20 images per kept one before giving up on a threshold


def filtered_name(threshold: float) -> str:
    return f"confident-{threshold:g}"


def filtered_file(threshold: float) -> str:
    return f"pool-{filtered_name(threshold)}.pt"


def _confidence(model: torch.nn.Module, pool: ImageSet, device: torch.device) -> torch.Tensor:
    """The real-trained classifier's probability of each image's own label."""
    from trainables.classifier import fit

    probabilities = torch.softmax(fit.predict(model, pool.images, device=device), dim=1)
    return probabilities[torch.arange(len(pool)), pool.labels.cpu()]


def ensure_filtered(job, store: Store, meta: dict, real: ImageSet, threshold: float) -> dict:
    """pool-confident-<t>.pt with job.pool_per_class images per class, each of which a classifier
    trained on the real subset assigns to its label with probability >= threshold. The raw pool grows
    (from the checkpoint, first images unchanged) until every class has enough, at most
    MAX_DRAW_FACTOR times the images kept; the kept images are the first that pass, so a filtered pool
    grows by prefix too. Returns the updated meta (written), whose `filtered_pools` entry records how
    many images were drawn per kept one, or an error naming how many were kept."""
    device = compute_device()
    model = quality.real_classifier(real, seed=job.seed, device=device)
    needed, classes = job.pool_per_class, real.num_classes
    while True:
        pool = load_pool(store, meta["classes"])
        keep = _confidence(model, pool, device) >= threshold
        kept = torch.bincount(pool.labels[keep], minlength=classes)
        drawn = meta["pool"]["per_class"]
        if int(kept.min()) >= needed or drawn >= MAX_DRAW_FACTOR * needed:
            break
        rate = max(float(kept.min()) / drawn, 1.0 / MAX_DRAW_FACTOR)
        grown = min(MAX_DRAW_FACTOR * needed, max(2 * drawn, int(needed / rate * 1.2) + 1))
        meta = grow_pool(dataclasses_replace(job, pool_per_class=grown), store, meta)
    entry = {"threshold": threshold, "needed": needed, "drawn_per_class": drawn, "kept_per_class": kept.tolist(),
             "drawn_per_kept": drawn * classes / max(int(kept.sum()), 1)}
    if int(kept.min()) < needed:
        worst = int(kept.argmin())
        entry |= {"status": "error", "reason": (
            f"mix.filter confident at {threshold:g} kept {int(kept.min())} of {drawn} drawn images of class "
            f"{meta['classes'][worst]!r}, but R x n needs {needed} per class; lower mix.filter_threshold or "
            "train the GAN longer")}
    else:
        index = sampling.first_per_class(pool.labels[keep], [needed] * classes)
        filtered = pool.select(torch.nonzero(keep).flatten()[index])
        buffer = io.BytesIO()
        torch.save({"images": filtered.images, "labels": filtered.labels}, buffer)
        payload = buffer.getvalue()
        store.write_bytes(payload, filtered_file(threshold))
        entry |= {"status": "ok", "file": filtered_file(threshold), "bytes": len(payload), "sha256": sha256(payload),
                  "per_class": needed}
    return write_meta(store, {**meta, "filtered_pools": {**meta.get("filtered_pools", {}),
                                                         filtered_name(threshold): entry}})


def needs_filtering(meta: dict, threshold: float, per_class: int) -> bool:
    """Whether the filtered pool of `threshold` must be (re)made for per_class images per class: it is
    missing, too small, or failed for another size (a failure for this size would fail again)."""
    entry = meta.get("filtered_pools", {}).get(filtered_name(threshold))
    if entry is None:
        return True
    return entry["needed"] < per_class if entry.get("status") == "ok" else entry["needed"] != per_class


def filtered_error(meta: dict, threshold: float) -> str | None:
    entry = meta.get("filtered_pools", {}).get(filtered_name(threshold))
    if entry is None:
        return "no filtered pool"
    return None if entry.get("status") == "ok" else entry.get("reason", "filtering failed")


def load_filtered(store: Store, meta: dict, threshold: float) -> ImageSet:
    entry = meta["filtered_pools"][filtered_name(threshold)]
    payload = store.read_bytes(entry["file"])
    if sha256(payload) != entry["sha256"]:
        raise ValueError(f"{entry['file']} does not match the sha256 in {META_FILE} (corrupted or replaced)")
    return _images(payload, meta["classes"])


def load_key_pool(cache_root: str, key: str) -> ImageSet:
    """The key's synthetic pool as an ImageSet (class names from meta.json)."""
    return load_pool(gan_cache.key_store(cache_root, key), gan_cache.read_meta(cache_root, key)["classes"])


def load_key_filtered_pool(cache_root: str, key: str, threshold: float) -> ImageSet:
    """The key's pool filtered at `threshold` (ValueError with the reason when filtering failed)."""
    meta = gan_cache.read_meta(cache_root, key)
    problem = filtered_error(meta, threshold)
    if problem:
        raise ValueError(problem)
    return load_filtered(gan_cache.key_store(cache_root, key), meta, threshold)
