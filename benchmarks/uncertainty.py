"""How often `digitnet predict` says "uncertain", on digits and on things that are not digits.

    python benchmarks/uncertainty.py MODEL [--detector DIR] [--count 1000]

Every input goes the way a user's image goes: rendered to pixels, preprocessed
(digitnet.data.preprocess), then the Predictor (classifier + not-a-digit detector). None of
these test inputs were seen when training the detector: it trains on MNIST's training
split, Fashion-MNIST's training split and negatives drawn with other seeds. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

TARGETS = {
    "mnist_test": ("<=", 0.01),
    "fashion_test": (">=", 0.95),
    "blank": (">=", 0.99),
    "noise": (">=", 0.99),
    "scribble": (">=", 0.99),
    "two_digits": (">=", 0.80),
}
BENCHMARK_SEED = 20261126  # not a seed the detector's training uses


def blank_pages(count: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    from digitnet.data.preprocess import to_mnist

    pages = []
    for _ in range(count):
        side = int(rng.integers(28, 300))
        pages.append(to_mnist(Image.new("L", (side, side), int(rng.integers(0, 256)))))
    return np.stack(pages)


def preprocessed(images_u8: np.ndarray) -> np.ndarray:
    from PIL import Image

    from digitnet.data.preprocess import to_mnist

    return np.stack([to_mnist(Image.fromarray(image, mode="L")) for image in images_u8])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--detector", type=Path, help="default: the cache's")
    parser.add_argument("--count", type=int, default=1000, help="images of each synthetic kind")
    args = parser.parse_args()

    from digitnet.data.mnist import load_mnist
    from digitnet.data.negatives import load_fashion, negative_images
    from digitnet.reading.predict import Predictor

    data = load_mnist()
    predictor = Predictor(args.model, detector_dir=args.detector)
    rng = np.random.default_rng(BENCHMARK_SEED)
    test_u8 = np.round(data.test.images[..., 0] * 255).astype(np.uint8)
    sets = {
        "mnist_test": preprocessed(test_u8),
        "fashion_test": preprocessed(load_fashion("test")),
        "blank": blank_pages(args.count, rng),
        "noise": negative_images("noise", args.count, rng),
        "scribble": negative_images("scribble", args.count, rng),
        "two_digits": negative_images("two_digits", args.count, rng, digits_u8=test_u8),
    }
    results = {}
    for name, images in sets.items():
        started = time.perf_counter()
        predictions = predictor.predict(images[..., np.newaxis])
        flagged = float(np.mean([p.uncertain for p in predictions]))
        comparison, target = TARGETS[name]
        met = flagged <= target if comparison == "<=" else flagged >= target
        results[name] = {
            "images": len(images),
            "flagged": round(flagged, 4),
            "target": f"{comparison} {target}",
            "met": met,
            "seconds": round(time.perf_counter() - started, 1),
        }
    kept = [p for p in predictor.predict(sets["mnist_test"][..., np.newaxis])]
    accuracy_unflagged = float(
        np.mean([p.digit == label for p, label in zip(kept, data.test.labels) if not p.uncertain])
    )
    print(
        json.dumps(
            {
                "benchmark": "uncertainty",
                "machine": describe_machine(),
                "model": str(args.model),
                "detector": predictor.detector is not None,
                "results": results,
                "mnist_test_accuracy_on_unflagged": round(accuracy_unflagged, 4),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
