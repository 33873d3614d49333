"""How well a reading model reads held-out synthetic writers (digitnet.data.writer), form by form.

    python benchmarks/writers.py [--model NAME=PATH ...] [--per-form 100] [--count 2000]
                                 [--plot PNG] [--out JSON]

Models: the reading model shipped in the package ("shipped"), and any run directory or .keras
file given as NAME=PATH (one without its own detector reads with the shipped one, as every model
does). Sets, none seen in training or in
choosing any threshold of the shipped model:
- every allograph of digitnet.data.writer.ALLOGRAPHS, PER_FORM digits each, each by another HELD-OUT
  writer (the digit x form table);
- COUNT digits by held-out writers in the forms they prefer (the natural mix);
- COUNT digits from the held-out handwriting fonts (digitnet.synthetic, as handwriting.py);
- for choosing between models, validation sets only: MNIST's validation split, COUNT digits from
  the TRAINING fonts and COUNT by TRAINING-split writers, both from VALIDATION_SEED, which no
  training run uses (the writers are other draws than any run's; MNIST test is left to
  benchmarks/accuracy.py: nothing here chooses on it).
For each set and each form: accuracy, the share of right answers flagged uncertain (Predictor's
`uncertain`) and the share of wrong answers flagged (caught). On the natural mix, accuracy
against the writer's pen width (of the digit's height) and horizontal stretch, and per medium;
--plot draws those two curves. Also the share flagged of COUNT/4 images of each writing-like
negative family (negatives.WRITING_KINDS: letters in the training fonts, stroke fragments, touching
and crossed-out digits, marks): the shipped detector's training families, other draws of them, not
a held-out measure. Prints JSON (and writes it to --out).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402
from report import emit_json  # noqa: E402

SEED = 20261202  # no training or calibration step uses it
VALIDATION_SEED = 9_001  # digitnet.model_build.VALIDATION_FONT_SEED: calibration's font digits
PEN_WIDTH_BINS = (0.0, 0.025, 0.05, 0.08, 0.11, 0.15, 0.2, 1.0)  # of the digit's height
WIDTH_FACTOR_BINS = (0.0, 0.8, 1.0, 1.25, 1.6, 2.2, 10.0)  # horizontal stretch


DOUBT_KEYS = ("count", "accuracy", "right_flagged", "wrong_caught", "accuracy_unflagged")


def doubt(correct: np.ndarray, flags: np.ndarray) -> dict:
    """Accuracy, right answers flagged, wrong answers caught (flagged), over one set: calibration.
    flagged_accuracy's figures, rounded."""
    from digitnet.reading.calibration import flagged_accuracy

    row = flagged_accuracy(np.zeros(len(correct)), correct, flags)
    return rounded({key: row[key] for key in DOUBT_KEYS})


def rounded(row: dict) -> dict:
    """Floats to 4 places; NaN (a share of none, e.g. wrong answers caught where none is wrong) to None."""
    return {k: (None if v != v else round(v, 4)) if isinstance(v, float) else v for k, v in row.items()}


def read(predictor, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predictions = predictor.predict(images.reshape(-1, 28, 28, 1))
    return np.array([p.digit for p in predictions]), np.array([p.uncertain for p in predictions])


def by_form(written, digits: np.ndarray, flags: np.ndarray) -> dict:
    rows = {}
    for name in dict.fromkeys(written.forms):
        chosen = written.forms == name
        row = doubt(digits[chosen] == written.labels[chosen], flags[chosen])
        wrong = digits[chosen][digits[chosen] != written.labels[chosen]]
        row["read_as"] = {str(d): int(n) for d, n in enumerate(np.bincount(wrong, minlength=10)) if n}
        rows[str(name)] = row
    return rows


def binned(values: np.ndarray, correct: np.ndarray, edges: tuple) -> list[dict]:
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        chosen = (values >= low) & (values < high)
        if chosen.any():
            rows.append(
                {
                    "from": low,
                    "to": high,
                    "mean": round(float(values[chosen].mean()), 4),
                    "count": int(chosen.sum()),
                    "accuracy": round(float(correct[chosen].mean()), 4),
                }
            )
    return rows


def score_writers(predictor, sets: dict) -> dict:
    """The held-out writers' sets (heldout_writer_sets) read: form by form, the natural mix, and
    the natural mix by medium, pen width and horizontal stretch."""
    forms, natural = sets["forms"], sets["natural"]
    form_digits, form_flags = read(predictor, forms.images)
    natural_digits, natural_flags = read(predictor, natural.images)
    correct = natural_digits == natural.labels
    return {
        "forms": by_form(forms, form_digits, form_flags),
        "all_forms": doubt(form_digits == forms.labels, form_flags),
        "heldout_writers": doubt(correct, natural_flags),
        "by_medium": {
            str(m): doubt(correct[natural.media == m], natural_flags[natural.media == m])
            for m in sorted(set(natural.media))
        },
        "by_pen_width": binned(natural.pen_widths, correct, PEN_WIDTH_BINS),
        "by_width_factor": binned(natural.width_factors, correct, WIDTH_FACTOR_BINS),
    }


def score(predictor, sets: dict) -> dict:
    started = time.perf_counter()
    result = score_writers(predictor, sets)
    for name in ("heldout_fonts", "mnist_validation", "train_fonts_validation", "train_writers_validation"):
        images, labels = sets[name]
        digits, flags = read(predictor, images)
        result[name] = doubt(digits == labels, flags)
    result["writing_non_digits_flagged"] = {
        kind: round(float(read(predictor, images)[1].mean()), 4) for kind, images in sets["writing"].items()
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def form_table(models: dict) -> str:
    """Markdown: one row a digit, each form's accuracy per model."""
    lines = ["| digit | form | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
    first = next(iter(models.values()))["forms"]
    for name in first:
        digit, form = name.split(" ", 1)
        cells = [f"{result['forms'][name]['accuracy']:.1%}" for result in models.values()]
        lines.append(f"| {digit} | {form} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(models: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    figure = Figure(figsize=(10, 4), layout="constrained")
    for axes, key, label in zip(
        figure.subplots(1, 2),
        ("by_pen_width", "by_width_factor"),  # each point: a bin's mean value and its accuracy
        ("pen width, of the digit's height (MNIST's is about 0.125)", "horizontal stretch (1 = as designed)"),
    ):
        for name, result in models.items():
            rows = result[key]
            axes.plot([r["mean"] for r in rows], [r["accuracy"] for r in rows], marker="o", label=name)
        axes.set_xscale("log")
        axes.xaxis.set_minor_formatter(NullFormatter())
        lowest = min(r["accuracy"] for result in models.values() for r in result[key])
        axes.set_ylim(min(0.8, lowest - 0.02), 1.0)  # no model's point off the chart
        axes.set_xlabel(label)
        axes.set_ylabel("accuracy, held-out writers")
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle("Reading held-out synthetic writers against stroke width and aspect ratio")
    from digitnet.jobs.plots import _save

    _save(figure, path)


def validation_sets(data, count: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(images, labels) of the sets models are chosen on: MNIST's validation split, `count`
    training-font digits and `count` digits by training-split writers, both from VALIDATION_SEED."""
    from digitnet.data.synthetic import render_digits
    from digitnet.data.writer import writer_digits

    return {
        "mnist_validation": (data.validation.images, data.validation.labels),
        "train_fonts_validation": render_digits(count, split="train", seed=VALIDATION_SEED),
        "train_writers_validation": writer_digits(count, "train", seed=VALIDATION_SEED)[:2],
    }


def heldout_writer_sets(per_form: int, count: int) -> dict:
    """`per_form` digits of every allograph, each by another held-out writer ("forms"), and
    `count` digits by held-out writers in the forms they prefer ("natural")."""
    from digitnet.data.writer import ALLOGRAPHS, write_digits

    names = [a.name for a in ALLOGRAPHS]
    return {
        "forms": write_digits(per_form * len(names), "heldout", seed=SEED, forms=names),
        "natural": write_digits(count, "heldout", seed=SEED + 1),
    }


def build_sets(per_form: int, count: int) -> dict:
    from digitnet.data.mnist import load_mnist
    from digitnet.data.synthetic import render_digits

    data = load_mnist()
    fonts, font_labels = render_digits(count, split="heldout", seed=SEED)
    return {
        **heldout_writer_sets(per_form, count),
        "heldout_fonts": (fonts, font_labels),
        **validation_sets(data, count),
        "writing": writing_non_digits(count // 4),
    }


def writing_non_digits(count: int) -> dict:
    """COUNT of each writing-like TRAINING negative family (digitnet.data.negatives.WRITING_KINDS):
    the shipped detector trains on other draws of them; training families, not a held-out measure."""
    from digitnet.data.negatives import WRITING_KINDS, negative_images

    rng = np.random.default_rng(SEED + 2)
    return {kind: negative_images(kind, count, rng) for kind in WRITING_KINDS}


def predictors(specs: list[str]) -> dict:
    from digitnet.reading.model_source import ModelSource
    from digitnet.reading.predict import Predictor

    models = {"shipped": Predictor(ModelSource.default())}
    for spec in specs:
        name, _, path = spec.partition("=")
        source = ModelSource.from_path(Path(path))
        if importlib.util.find_spec("tensorflow") is not None:  # a run without its LiteRT file
            from digitnet.jobs.keras_models import convert_for_reading

            convert_for_reading(source)
        models[name] = Predictor(source)  # no detector of its own: the shipped one (reading.detector)
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="NAME=PATH, a run or .keras file")
    parser.add_argument("--per-form", type=int, default=100, help="digits of each allograph")
    parser.add_argument("--count", type=int, default=2000, help="digits in the natural mix and font sets")
    parser.add_argument("--plot", type=Path, help="accuracy against pen width and stretch (PNG)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()

    started = time.perf_counter()
    sets = build_sets(args.per_form, args.count)
    rendered = round(time.perf_counter() - started, 1)
    models = {name: score(predictor, sets) for name, predictor in predictors(args.model).items()}
    if args.plot:
        plot_curves(models, args.plot)
    payload = {
        "benchmark": "writers",
        "machine": describe_machine(),
        "seed": SEED,
        "per_form": args.per_form,
        "count": args.count,
        "render_seconds": rendered,
        "models": models,
        "form_table": form_table(models),
    }
    emit_json(payload, args.out)


if __name__ == "__main__":
    main()
