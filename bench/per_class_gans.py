"""per_class_gans: the K=10 per-class GANs of one key trained together (vmap) vs one after another.

Both sides are gan_train's own groups run by the loop body of train_loop_per_worker
(`bench._gan_loop`): `VmapGroup` (the 10 parameter sets stacked, one torch.func.vmap call per layer)
vs `LoopGroup` (an nn.ModuleList, each member called in turn), same seed, same real subset
(mnist-5k, 500 images = 50 per class, the quick preset's smaller size), batch 64, same epochs, in
one process. Per-class abadi at alpha 1 is the comparison with the target (>= 1.1x); alpha 0.25
(a small generator, where per-call overhead matters most) is printed beside it for the choice of
gan_stage.AUTO_GROUPING.

Run: .venv/bin/python bench/per_class_gans.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _timing  # noqa: E402
from bench._gan_loop import make_loop  # noqa: E402
from trainables import data  # noqa: E402

SIZE, SEED, BATCH_SIZE = 500, 0, 64
EPOCHS_PER_REPEAT, REPEATS = 2, 5
CASES = (("per_class_gans", 1.0), ("per_class_gans_alpha0.25", 0.25))


def main() -> None:
    threads = _timing.configure_threads()
    train, _ = data.load_dataset("mnist-5k")
    real = data.subset(train, SIZE, SEED)
    for name, alpha in CASES:
        vmapped = make_loop(real, conditioning="per-class", grouping="vmap", alpha=alpha, seed=SEED,
                            batch_size=BATCH_SIZE)
        looped = make_loop(real, conditioning="per-class", grouping="loop", alpha=alpha, seed=SEED,
                           batch_size=BATCH_SIZE)
        timings = _timing.compare(lambda v=vmapped: [v.run_epoch() for _ in range(EPOCHS_PER_REPEAT)],
                                  lambda lp=looped: [lp.run_epoch() for _ in range(EPOCHS_PER_REPEAT)],
                                  repeats=REPEATS)
        # Same seed, same draws: the two paths must train the same GANs, or the race is meaningless.
        d_v, g_v = vmapped.run_epoch()
        d_l, g_l = looped.run_epoch()
        print(f"{name}: 10 per-class abadi GANs, alpha {alpha}, {SIZE} images ({SIZE // 10} per class), "
              f"batch {BATCH_SIZE}, {EPOCHS_PER_REPEAT} epochs per repeat, torch threads {threads}; "
              f"after {vmapped.epoch} epochs d/g loss vmap {d_v:.4f}/{g_v:.4f}, loop {d_l:.4f}/{g_l:.4f}; "
              f"ours = vmap, baseline = loop")
        _timing.report_timings(name, timings, f"{EPOCHS_PER_REPEAT} epochs")


if __name__ == "__main__":
    main()
