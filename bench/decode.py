"""decode: a user's image folder decoded once into uint8 tensors vs torchvision's
ImageFolder + DataLoader(num_workers=2), in the same run; and torchvision.io vs a PIL loop per file.

The folder: COUNT real MNIST digits (mnist-5k), RGB, half JPEG and half PNG, sides 40-80 pixels, ten
class folders, written once into a temp dir. Both sides read every file and produce 32x32 uint8
tensors of every image: ours through trainables.data.layout (the header scan) and the thread pool of
trainables.data.decode (decode_file, resize antialiased), the baseline through
ImageFolder(transform=Resize((32, 32)) + PILToTensor) and a DataLoader(batch 256, num_workers=2)
concatenated. Neither side touches the dataset cache. ratio = baseline seconds / our seconds.

Then one thread, no pool: decode_file through torchvision.io (what we use for JPEG/PNG/WebP) vs PIL
(trainables.data.decode._with_pil) on the same files: ratio = PIL seconds / torchvision seconds.

Run: .venv/bin/python bench/decode.py [--count 4000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench import _timing  # noqa: E402
from trainables.data import datasets as data  # noqa: E402
from trainables.data import decode  # noqa: E402
from trainables.data.folders import _scan_folder  # noqa: E402
from trainables.data.headers import DecodeOptions  # noqa: E402


def write_folder(root: Path, count: int) -> None:
    from PIL import Image

    train, _ = data.load_dataset("mnist-5k")
    rng = random.Random(0)
    for i in range(count):
        image = Image.fromarray(train.images[i % len(train), 0].numpy()).convert("RGB")
        image = image.resize((rng.randint(40, 80), rng.randint(40, 80)), Image.BILINEAR)
        folder = root / str(int(train.labels[i % len(train)]))
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{i}.{'jpg' if i % 2 else 'png'}", **({"quality": 90} if i % 2 else {}))


def ours(root: Path) -> torch.Tensor:
    layout = _scan_folder(str(root), DecodeOptions((32, 32)))
    images, _ = decode.decode_pairs(layout.splits["all"], layout, say=lambda _: None)
    return images


def baseline(root: Path) -> torch.Tensor:
    from torchvision import datasets, transforms

    dataset = datasets.ImageFolder(str(root), transform=transforms.Compose(
        [transforms.Resize((32, 32)), transforms.PILToTensor()]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=256, num_workers=2)
    return torch.cat([images for images, _ in loader])


def per_file(files: list[Path], use_pil: bool) -> None:
    for file in files:
        if use_pil:
            decode._with_pil(file, "RGB")
        else:
            decode._with_torchvision(file, "RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        write_folder(root, args.count)
        print(f"decode: {args.count} images (JPEG + PNG, 40-80 px) -> 32x32, {decode._workers()} decode "
              f"thread(s) vs DataLoader num_workers=2", flush=True)
        assert ours(root).shape == baseline(root).shape
        timings = _timing.compare(lambda: ours(root), lambda: baseline(root), repeats=3)
        _timing.report_timings("folder_decode_vs_imagefolder_dataloader", timings, f"{args.count} images")
        print(f"throughput: ours {args.count / timings.ours_median:,.0f} images/s, "
              f"baseline {args.count / timings.baseline_median:,.0f} images/s", flush=True)
        files = sorted(root.rglob("*.*"))[:1000]
        for kind in ("jpg", "png"):
            chosen = [f for f in files if f.suffix == f".{kind}"]
            timings = _timing.compare(lambda c=chosen: per_file(c, False), lambda c=chosen: per_file(c, True), repeats=3)
            _timing.report_timings(f"torchvision_io_vs_pil_{kind}", timings, f"{len(chosen)} files, one thread")


if __name__ == "__main__":
    main()
