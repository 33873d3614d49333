"""How well digitnet reads handwriting it never trained on, and how honest its doubt is.

    python benchmarks/handwriting.py --tutorial RUN_DIR [--reading MODEL] [--count 2000]
                                     [--writers 3] [--per-form 100] [--plot PNG]
                                     [--forms-plot PNG] [--table MD]

Models: the tutorial's network (a run of `make train`), the reading model (default: the one shipped
in the package) and the reading model fine-tuned on one held-out writer. Sets, none seen in training
or in choosing any threshold:
- MNIST test (10,000);
- digits from the HELD-OUT handwriting fonts (digitnet.data.synthetic, split "heldout");
- MNIST test digits re-rendered as phone photos of paper (digitnet.data.synthetic.photo_digits);
- non-digits of the HELD-OUT negative families (digitnet.data.negatives.HELDOUT_KINDS) and blank pages;
- digits by HELD-OUT synthetic writers (digitnet.data.writer; benchmarks/writers.py's sets and
  seeds): every allograph, --per-form digits each (the digit x form table), and --count digits in
  the forms the writers prefer, read against the writer's pen width and horizontal stretch
  (--forms-plot draws those two curves).
For each: accuracy, share flagged uncertain, accuracy on the unflagged, the share of right answers
flagged and of wrong answers caught (flagged); the same for each held-out
font on its own (PER_FONT digits of each digit: where the held-out fonts' errors lie, and what they
are read as); the selective-accuracy table (calibrated confidence alone) and its curve;
fine-tuning: each of the first N held-out fonts is "a writer": fine-tune on 5 examples a digit,
score 20 others a digit, and MNIST test, before and after.
The tutorial network has no calibration (threshold 0.5) and borrows the reading model's detector.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import writers as writer_bench  # noqa: E402  (benchmarks/writers.py: the held-out synthetic writers)
from machine import describe_machine  # noqa: E402

SEED = 20261130  # no training or calibration step uses it
TARGETS = {
    "heldout_font_accuracy": 0.97,
    "unflagged_accuracy": 0.995,
    "digit_flag_rate": 0.05,
    "non_digit_flag_rate": 0.99,
    "mnist_test": 0.994,
    "finetune_mnist_cost": 0.001,
}
FLAG_RATES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
PER_FONT = 30  # digits of each digit, each held-out font on its own
CONFUSIONS_SHOWN = 4  # a font's most frequent misreadings reported


def digit_sets(data, count: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from digitnet.data.synthetic import photo_digits, render_digits

    fonts, font_labels = render_digits(count, split="heldout", seed=SEED)
    rng = np.random.default_rng(SEED)
    chosen = rng.choice(len(data.test), count, replace=False)
    test_u8 = np.round(data.test.images[chosen, ..., 0] * 255).astype(np.uint8)
    return {
        "mnist_test": (data.test.images[..., 0], data.test.labels),
        "heldout_fonts": (fonts, font_labels),
        "mnist_photos": (photo_digits(test_u8, seed=SEED), data.test.labels[chosen]),
    }


def non_digit_sets(data, count: int) -> dict[str, np.ndarray]:
    from PIL import Image

    from digitnet.data.negatives import HELDOUT_KINDS, negative_images
    from digitnet.data.preprocess import to_mnist

    rng = np.random.default_rng(SEED + 1)
    test_u8 = np.round(data.test.images[..., 0] * 255).astype(np.uint8)
    sets = {kind: negative_images(kind, count, rng, digits_u8=test_u8) for kind in HELDOUT_KINDS}
    sets["blank"] = np.stack(
        [
            to_mnist(Image.new("L", (side, side), int(rng.integers(0, 256))))
            for side in rng.integers(28, 300, count)
        ]
    )
    return sets


def score_digits(predictor, images: np.ndarray, labels: np.ndarray) -> dict:
    from digitnet.reading.calibration import flagged_accuracy, selective_accuracy

    predictions = predictor.predict(images[..., np.newaxis])
    digits = np.array([p.digit for p in predictions])
    confidence = np.array([p.probability for p in predictions])
    flags = np.array([p.uncertain for p in predictions])
    correct = digits == labels
    return {
        **writer_bench.rounded(flagged_accuracy(confidence, correct, flags)),
        "selective": [
            writer_bench.rounded(row) for row in selective_accuracy(confidence, correct, FLAG_RATES)
        ],
    }


def font_sets(per_digit: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each held-out font's digits on their own, from a seed of its own."""
    from digitnet.data.synthetic import font_files, writer_digits

    return {
        font.name: writer_digits(font, per_digit, seed=SEED + 1000 + index)
        for index, font in enumerate(font_files("heldout"))
    }


def score_font(predictor, images: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, flags and the most frequent misreadings ("8 as 0": count) of one font's digits."""
    from digitnet.reading.calibration import flagged_accuracy

    predictions = predictor.predict(images[..., np.newaxis])
    digits = np.array([-1 if p.digit is None else p.digit for p in predictions])
    flags = np.array([p.uncertain for p in predictions])
    confidence = np.array([p.probability for p in predictions])
    correct = digits == labels
    pairs, counts = np.unique(
        np.stack([labels[~correct], digits[~correct]], axis=1), axis=0, return_counts=True
    )
    order = np.argsort(-counts, kind="stable")[:CONFUSIONS_SHOWN]
    return {
        **writer_bench.rounded(flagged_accuracy(confidence, correct, flags)),
        "read_as": {
            f"{pairs[i][0]} as {'none' if pairs[i][1] < 0 else pairs[i][1]}": int(counts[i]) for i in order
        },
    }


def score_non_digits(predictor, images: np.ndarray) -> float:
    return round(float(np.mean([p.uncertain for p in predictor.predict(images[..., np.newaxis])])), 4)


def score_model(predictor, digits: dict, non_digits: dict, fonts: dict, writer_sets: dict) -> dict:
    started = time.perf_counter()
    result = {
        "digits": {name: score_digits(predictor, *pair) for name, pair in digits.items()},
        "synthetic_writers": writer_bench.score_writers(predictor, writer_sets),
        "heldout_fonts_by_font": {name: score_font(predictor, *pair) for name, pair in fonts.items()},
        "non_digits_flagged": {
            name: score_non_digits(predictor, images) for name, images in non_digits.items()
        },
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def finetune_writers(reading_path: Path | None, data, writers: int) -> list[dict]:
    from digitnet.data.synthetic import font_files, writer_digits
    from digitnet.jobs.finetune import Examples, finetune
    from digitnet.jobs.keras_models import keras_probability_model
    from digitnet.reading.model_source import ModelSource
    from digitnet.training.metrics import accuracy

    source = ModelSource.default() if reading_path is None else ModelSource.from_path(reading_path)
    rows = []
    for index, font in enumerate(font_files("heldout")[:writers]):
        shots, shot_labels = writer_digits(font, 5, seed=SEED + index)
        rest, rest_labels = writer_digits(font, 20, seed=SEED + 100 + index)
        before = keras_probability_model(source).predict(rest[..., np.newaxis])[0]
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "tuned"
            examples = Examples(
                shots[..., np.newaxis], shot_labels, [f"{font.stem}_{i}" for i in range(len(shots))]
            )
            # holdout=0: scored on its own 20 others a digit below, not on finetune's held-out share
            result = finetune(source.model_file, examples, out, mnist=data, seed=0, holdout=0)
            after = keras_probability_model(out).predict(rest[..., np.newaxis])[0]
        rows.append(
            {
                "writer": font.name,
                "examples": int(len(shots)),
                "scored": int(len(rest)),
                "writer_accuracy_before": round(accuracy(before, rest_labels), 4),
                "writer_accuracy_after": round(accuracy(after, rest_labels), 4),
                "mnist_test_before": round(result.mnist_test_accuracy_before, 4),
                "mnist_test_after": round(result.mnist_test_accuracy_after, 4),
                "seconds": round(result.seconds, 1),
            }
        )
    return rows


def markdown_table(models: dict) -> str:
    lines = [
        "| model | MNIST test | held-out fonts | MNIST as photos | flagged (fonts) | "
        "accuracy unflagged (fonts) | "
        + " | ".join(f"{kind} flagged" for kind in next(iter(models.values()))["non_digits_flagged"])
        + " |"
    ]
    lines.append("|" + "---|" * (6 + len(next(iter(models.values()))["non_digits_flagged"])))
    for name, result in models.items():
        d = result["digits"]
        cells = [
            name,
            f"{d['mnist_test']['accuracy']:.2%}",
            f"{d['heldout_fonts']['accuracy']:.2%}",
            f"{d['mnist_photos']['accuracy']:.2%}",
            f"{d['heldout_fonts']['flagged_share']:.1%}",
            f"{d['heldout_fonts']['accuracy_unflagged']:.2%}",
        ]
        cells += [f"{share:.1%}" for share in result["non_digits_flagged"].values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


DIGIT_SET_NAMES = {
    "mnist_test": "MNIST test",
    "heldout_fonts": "held-out fonts",
    "mnist_photos": "MNIST as photos",
}
WRITER_SET_NAMES = {
    "heldout_writers": "held-out writers, the forms they prefer",
    "all_forms": "held-out writers, every form equally",
}


def doubt_rows(result: dict) -> dict[str, dict]:
    """A model's scores of each digit set, by the doubt table's names for them."""
    rows = {label: result["digits"][key] for key, label in DIGIT_SET_NAMES.items()}
    return rows | {label: result["synthetic_writers"][key] for key, label in WRITER_SET_NAMES.items()}


def doubt_table(models: dict) -> str:
    """Each digit set: each model's share of right answers flagged and of wrong answers caught."""
    names = list(models)
    lines = [
        "| digits | "
        + " | ".join(f"{name}: right answers flagged | wrong answers caught" for name in names)
        + " |"
    ]
    lines.append("|" + "---|" * (1 + 2 * len(names)))
    for label in doubt_rows(models[names[0]]):
        cells = [label]
        for name in names:
            row = doubt_rows(models[name])[label]
            cells += [percent(row["right_flagged"]), percent(row["wrong_caught"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.1%}"


def font_table(models: dict) -> str:
    """Each held-out font: each model's accuracy, and the reading model's commonest misreadings."""
    names = list(models)
    lines = [
        "| held-out font | "
        + " | ".join(f"{name}: accuracy (flagged)" for name in names)
        + f" | {names[-1]} reads |"
    ]
    lines.append("|" + "---|" * (len(names) + 2))
    for font in next(iter(models.values()))["heldout_fonts_by_font"]:
        scores = [models[name]["heldout_fonts_by_font"][font] for name in names]
        misread = ", ".join(f"{pair} ×{count}" for pair, count in scores[-1]["read_as"].items())
        cells = [font] + [f"{s['accuracy']:.1%} ({s['flagged_share']:.1%})" for s in scores]
        lines.append("| " + " | ".join([*cells, misread or "—"]) + " |")
    return "\n".join(lines) + "\n"


def score_models(args, data, reading) -> dict:
    """The tutorial network (with the reading model's detector) and the reading model, every set."""
    from digitnet.jobs.keras_models import convert_for_reading
    from digitnet.reading.predict import Predictor

    digits, non_digits = digit_sets(data, args.count), non_digit_sets(data, args.count // 4)
    fonts = font_sets(PER_FONT)
    writer_sets = writer_bench.heldout_writer_sets(args.per_form, args.count)
    convert_for_reading(reading)  # runs made before runs carried LiteRT files
    convert_for_reading(args.tutorial, reading.detector_dir)
    predictors = {
        "tutorial network": Predictor(args.tutorial, detector_dir=reading.detector_dir),
        "reading model": Predictor(reading),
    }
    return {
        name: score_model(predictor, digits, non_digits, fonts, writer_sets)
        for name, predictor in predictors.items()
    }


def write_plots(models: dict, args) -> None:
    if args.forms_plot:
        writer_bench.plot_curves(writers_of(models), args.forms_plot)
    if args.plot:
        from digitnet.jobs.plots import plot_selective_accuracy

        plot_selective_accuracy(
            {
                f"{model}, {name}": result["digits"][name]["selective"]
                for model, result in models.items()
                for name in ("mnist_test", "heldout_fonts")
            },
            args.plot,
        )


def writers_of(models: dict) -> dict:
    return {name: result["synthetic_writers"] for name, result in models.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tutorial", type=Path, required=True, help="a run of the tutorial recipe")
    parser.add_argument("--reading", type=Path, help="default: the shipped reading model")
    parser.add_argument("--count", type=int, default=2000, help="images in each rendered set")
    parser.add_argument("--writers", type=int, default=3, help="held-out fonts fine-tuned on")
    parser.add_argument("--per-form", type=int, default=100, help="held-out writers' digits a form")
    parser.add_argument("--plot", type=Path, help="write the selective-accuracy curves here (PNG)")
    parser.add_argument("--forms-plot", type=Path, help="accuracy against pen width and stretch (PNG)")
    parser.add_argument("--table", type=Path, help="write the README's table here (Markdown)")
    args = parser.parse_args()

    from digitnet.data.mnist import load_mnist
    from digitnet.reading.model_source import ModelSource
    from digitnet.util.fileio import atomic_write_text

    data = load_mnist()
    reading = ModelSource.default() if args.reading is None else ModelSource.from_path(args.reading)
    models = score_models(args, data, reading)
    writers = finetune_writers(args.reading, data, args.writers) if args.writers else []
    tables = (
        markdown_table(models),
        doubt_table(models),
        font_table(models),
        writer_bench.form_table(writers_of(models)),
    )
    table = "\n".join(tables)
    write_plots(models, args)
    if args.table:
        atomic_write_text(args.table, table)
    print(
        json.dumps(
            {
                "benchmark": "handwriting",
                "machine": describe_machine(),
                "tutorial": str(args.tutorial),
                "reading": str(reading.path),
                "count": args.count,
                "per_form": args.per_form,
                "targets": TARGETS,
                "models": models,
                "finetune": writers,
                "table": table,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
