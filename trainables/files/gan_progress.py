"""A GAN key's live progress: `<cache>/<key>/progress.json`, the last finished epoch and its speed.

losses.csv is written at checkpoints only (with `checkpoint_every = 25` that is minutes apart), so the
driver's progress line read "? left" until the first one. Rank 0 writes this tiny file as epochs end,
at most once every INTERVAL_S (an object-store PUT per epoch of a fast GAN would be waste), and the
driver (study.progress) reads it. It is a hint for the console only: nothing else reads it.
"""

from __future__ import annotations

import json
import time

from trainables.files.storage import Store

PROGRESS_FILE = "progress.json"
INTERVAL_S = 2.0


class LiveEpochs:
    def __init__(self, epochs: int, interval_s: float = INTERVAL_S):
        self.epochs, self.interval_s, self.last = int(epochs), interval_s, float("-inf")

    def note(self, store: Store, epoch: int, images_per_second: float) -> None:
        """Say epoch `epoch` finished (written when the interval has passed, and always for the last one)."""
        now = time.monotonic()
        if now - self.last < self.interval_s and epoch < self.epochs:
            return
        self.last = now
        try:
            store.write_text(json.dumps({"epoch": int(epoch), "epochs": self.epochs,
                                         "images_per_second": float(images_per_second)}), PROGRESS_FILE)
        except OSError:
            pass   # a hint for the console; a failed write must never end a training run


def read(store: Store) -> tuple[int, float]:
    """(last finished epoch, its images/s) from progress.json; (0, 0.0) when there is none or it is torn."""
    try:
        found = json.loads(store.read_text(PROGRESS_FILE)) if store.exists(PROGRESS_FILE) else {}
        return int(found.get("epoch", 0)), float(found.get("images_per_second", 0.0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0, 0.0
