"""One scoring network per dataset, trained once and cached beside the GANs.

Every GAN of a dataset is scored in the feature space of the same network, so the Frechet distance,
KID, GAN-test accuracy, coverage and recall compare across n, seeds, recipes and studies (before, each
GAN was scored by an MLP trained on its own real subset, and distances of two GANs measured different
things). The network is trained on the dataset's whole training split (as the study holds it: after
its validation split), at most MAX_TRAIN_IMAGES class-balanced images so that CIFAR-sized splits
still train in a minute on a CPU. It is a small CNN (cnn2 of trainables.classifier.models) for every dataset: convolutional
features see strokes and textures, which an MLP's do not, and one architecture for grey and RGB keeps
the rule in one place.

The cache folder is `<cache>/scoring/<key>/` with model.pt and meta.json; the key hashes the training
images, labels and class names with the network's recipe, so a changed dataset (a stale data cache, a
folder dataset edited in place) gets a new network instead of a silently wrong one. A lock per key
(trainables.files.cache_lock) makes concurrent GAN trials wait for one training instead of each training it.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

import torch
from torch import nn

from trainables.classifier import fit
from trainables.classifier.models import CLASSIFIERS
from trainables.data import sampling
from trainables.data.images import ImageSet
from trainables.files import cache_lock
from trainables.files.storage import Store

SCORING_FOLDER = "scoring"
SCORING_CLASSIFIER = "cnn2"
SCORING_EPOCHS = 5
SCORING_BATCH_SIZE = 128
SCORING_LR = 1e-3
SCORING_SEED = 0
MAX_TRAIN_IMAGES = 10_000
RECIPE_VERSION = 1  # bump when anything above changes what the network learns
MODEL_FILE, META_FILE = "model.pt", "meta.json"


@dataclass
class ScoringNet:
    """The trained network, its cache key and what it measured on the real test set."""

    model: nn.Module
    key: str
    meta: dict

    def describe(self) -> dict:
        """What every GAN's meta.json records about the network that scored it."""
        return {"scoring_key": self.key, "scoring_classifier": SCORING_CLASSIFIER,
                "scoring_test_acc": self.meta["test_acc"]}


def _fingerprint(images: ImageSet) -> str:
    digest = hashlib.sha256()
    digest.update(images.images.contiguous().numpy().tobytes())
    digest.update(images.labels.to(torch.int64).contiguous().numpy().tobytes())
    digest.update(json.dumps([list(images.shape), list(images.classes)]).encode())
    return digest.hexdigest()


def scoring_key(train: ImageSet) -> str:
    """`<channels>x<height>x<width>-<16 hex>`: the training images and the network's recipe."""
    recipe = json.dumps([SCORING_CLASSIFIER, SCORING_EPOCHS, SCORING_BATCH_SIZE, SCORING_LR, SCORING_SEED,
                         MAX_TRAIN_IMAGES, RECIPE_VERSION])
    digest = hashlib.sha256((_fingerprint(train) + recipe).encode()).hexdigest()[:16]
    return "x".join(map(str, train.shape)) + "-" + digest


def _build(train: ImageSet) -> nn.Module:
    with fit.seeded(SCORING_SEED):
        return CLASSIFIERS[SCORING_CLASSIFIER](*train.shape, train.num_classes)


def train_network(train: ImageSet, test: ImageSet, device: str | torch.device = "cpu") -> ScoringNet:
    """Train the scoring network in-process (no cache): what load_or_train stores, and what the
    benches use."""
    chosen = sampling.take_balanced(train, MAX_TRAIN_IMAGES) if len(train) > MAX_TRAIN_IMAGES else train
    model = _build(train)
    result = fit.train_classifier(model, chosen, test, epochs=SCORING_EPOCHS, batch_size=SCORING_BATCH_SIZE,
                                  lr=SCORING_LR, seed=SCORING_SEED, device=device)
    model.cpu().eval()
    meta = {"classifier": SCORING_CLASSIFIER, "epochs": SCORING_EPOCHS, "train_images": len(chosen),
            "test_acc": float(result.test_acc), "classes": list(train.classes), "image_shape": list(train.shape)}
    return ScoringNet(model, scoring_key(train), meta)


def load_or_train(cache: Store, train: ImageSet, test: ImageSet, device: str | torch.device = "cpu",
                  say=lambda text: print(text, flush=True)) -> ScoringNet:
    """The dataset's scoring network from `<cache>/scoring/<key>/`, trained and stored on first use."""
    key = scoring_key(train)
    store = cache.sub(SCORING_FOLDER, key)
    with cache_lock.hold(cache, f"{SCORING_FOLDER}-{key}",
                         on_wait=lambda holder: say(f"[study] scoring network {key}: being trained by {holder}")):
        stored = _read(store, train)
        if stored is not None:
            return ScoringNet(stored[0], key, stored[1])
        say(f"[study] scoring network {key}: training {SCORING_CLASSIFIER} on the real training split "
            f"(once per dataset; every GAN's scores use it)")
        net = train_network(train, test, device)
        buffer = io.BytesIO()
        torch.save(net.model.state_dict(), buffer)
        store.write_bytes(buffer.getvalue(), MODEL_FILE)
        store.write_text(json.dumps(net.meta, indent=2), META_FILE)  # last: marks the network complete
        return net


def _read(store: Store, train: ImageSet) -> tuple[nn.Module, dict] | None:
    """(model, meta) when the folder holds a complete network; None when absent or unreadable (a
    damaged file is retrained over, never used)."""
    if not store.exists(META_FILE) or not store.exists(MODEL_FILE):
        return None
    try:
        meta = json.loads(store.read_text(META_FILE))
        model = _build(train)
        model.load_state_dict(torch.load(io.BytesIO(store.read_bytes(MODEL_FILE)), map_location="cpu",
                                         weights_only=True))
    except (OSError, ValueError, RuntimeError, EOFError, KeyError):
        return None
    return model.eval(), meta
