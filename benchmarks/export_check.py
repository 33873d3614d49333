"""Export a model to every format and compare each artifact's logits with Keras on the MNIST test set.

    python benchmarks/export_check.py runs/seed-0     # a run directory or a model.keras
    python benchmarks/export_check.py                 # trains the seed network 1 epoch first

Prints one JSON object: per format, export seconds, artifact bytes, the largest absolute logit
difference from the Keras model, how many of the 10,000 predictions differ, and test accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

OUT_NAMES = {"saved_model": "saved_model", "litert": "model.tflite", "onnx": "model.onnx"}


def artifact_bytes(path: Path) -> int:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files)


def check_format(model_path: Path, fmt: str, out_root: Path, images, labels, expected) -> dict:
    import numpy as np

    from digitnet.jobs.export import RUNNERS, export_model

    started = time.perf_counter()
    out = export_model(model_path, fmt, out_root / OUT_NAMES[fmt])
    export_seconds = time.perf_counter() - started
    logits = np.asarray(RUNNERS[fmt](out, images))
    predicted = logits.argmax(axis=1)
    return {
        "format": fmt,
        "export_seconds": round(export_seconds, 2),
        "artifact_bytes": artifact_bytes(out),
        "max_abs_logit_difference": float(np.max(np.abs(logits - expected))),
        "predictions_differing": int(np.sum(predicted != expected.argmax(axis=1))),
        "test_accuracy": float(np.mean(predicted == labels)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, help="run directory or model.keras")
    args = parser.parse_args()

    import numpy as np

    from digitnet.data.mnist import load_mnist
    from digitnet.jobs.export import FORMATS
    from digitnet.jobs.keras_models import load_model
    from digitnet.training.inference import make_logits_fn
    from digitnet.util.batches import predict_logits

    data = load_mnist()
    with tempfile.TemporaryDirectory() as temp:
        model_path = args.model
        if model_path is None:
            from digitnet.training.config import TrainConfig
            from digitnet.training.loop import train

            model_path = Path(temp) / "run"
            train(TrainConfig(epochs=1, seed=0), model_path, data)
        expected = predict_logits(make_logits_fn(load_model(model_path)), data.test.images)
        rows = [
            check_format(
                model_path, fmt, Path(temp), data.test.images, np.asarray(data.test.labels), expected
            )
            for fmt in FORMATS
        ]
    print(
        json.dumps(
            {
                "machine": describe_machine(),
                "model": str(args.model or "seed, 1 epoch"),
                "images": len(data.test.images),
                "keras_test_accuracy": float(np.mean(expected.argmax(axis=1) == data.test.labels)),
                "formats": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
