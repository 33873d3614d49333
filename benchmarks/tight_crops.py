"""How well digits cropped tight at their ink read: a form reader's box, a user's careful crop.

    python benchmarks/tight_crops.py [--count 1000] [--out JSON]

MNIST test digits (the first COUNT) are cut out at their ink plus MARGIN pixels, shrunk to a
SMALL-pixel scan (bilinear), blown up ten times (bicubic, so the strokes are soft and thick),
optionally blurred, written dark on white, then read as `digitnet predict` reads a file
(preprocess.to_mnist, then the shipped model). For each case: the share that came out with no ink
at all (read as blank) and the accuracy. The digits with a 3-pixel margin are the control. Prints
JSON (and writes it to --out).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402
from report import emit_json  # noqa: E402

MARGINS = (0, 1, 3)  # pixels of the 28x28 original left around the ink
SMALL_SIDES = (12, 20)  # the scan's side before it is blown up
BLUR_RADII = (0, 2, 6)  # Gaussian blur after blowing up, in pixels of the blown-up image
BLOW_UP = 10


def as_tight_crop(digit: np.ndarray, margin: int, small: int, blur: float):
    """The digit (28x28, ink bright) as a tight, blown-up, dark-on-white crop (a PIL image)."""
    from PIL import Image, ImageFilter

    rows, cols = np.nonzero(digit > 0.05)
    top, left = max(rows.min() - margin, 0), max(cols.min() - margin, 0)
    crop = digit[top : rows.max() + 1 + margin, left : cols.max() + 1 + margin]
    image = Image.fromarray(np.uint8(np.round((1.0 - crop) * 255)))
    image = image.resize((small, small), Image.Resampling.BILINEAR)
    image = image.resize((small * BLOW_UP, small * BLOW_UP), Image.Resampling.BICUBIC)
    return image.filter(ImageFilter.GaussianBlur(blur)) if blur else image


def measure(predictor, digits: np.ndarray, labels: np.ndarray, margin: int, small: int, blur: float) -> dict:
    from digitnet.data.preprocess import has_no_ink, to_mnist

    prepared = np.stack([to_mnist(as_tight_crop(digit, margin, small, blur)) for digit in digits])
    read = np.array([p.digit for p in predictor.predict(prepared[..., np.newaxis])])
    return {
        "margin": margin,
        "scan_side": small,
        "blur": blur,
        "no_ink": round(float(np.mean([has_no_ink(image) for image in prepared])), 4),
        "accuracy": round(float(np.mean(read == labels)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="MNIST test digits in each case")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()

    from digitnet.data.mnist import load_mnist
    from digitnet.reading.model_source import ModelSource
    from digitnet.reading.predict import Predictor

    test = load_mnist().test
    digits, labels = test.images[: args.count, :, :, 0], test.labels[: args.count]
    predictor = Predictor(ModelSource.default())
    started = time.perf_counter()
    cases = [
        measure(predictor, digits, labels, margin, small, blur)
        for margin, small, blur in itertools.product(MARGINS, SMALL_SIDES, BLUR_RADII)
    ]
    payload = {
        "benchmark": "tight_crops",
        "machine": describe_machine(),
        "count": len(digits),
        "model": "shipped",
        "cases": cases,
        "seconds": round(time.perf_counter() - started, 1),
    }
    emit_json(payload, args.out)


if __name__ == "__main__":
    main()
