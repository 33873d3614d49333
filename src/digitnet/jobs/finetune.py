"""Adapt a trained model to one writer: a few labelled digits of theirs, MNIST replayed so nothing
is forgotten.

The examples folder holds one writer's digit images, labelled one of two ways:
  - by name: `anything_7.png` is a 7 (the digit after the LAST underscore of the file's stem);
  - by a `labels.csv` in the folder: `file,label` rows (an optional header row), which then
    labels every image in the folder; an image it does not list is a mistake, not skipped.
Images are read exactly as `digitnet predict` reads them (preprocess.image_to_mnist). Every
non-hidden file in the folder must be a usable example; sub-folders are not looked into.
At least MIN_EXAMPLES examples in all are needed; digits with none are kept by the replay alone.

The method, chosen to adapt from 3-20 examples a digit in seconds on two CPU cores without forgetting
MNIST: a fixed number of Adam steps at a small learning rate, each on a batch that is half the
writer's examples (randomly rotated, shifted and zoomed, so a handful of images do not become a
handful of memorised pixel patterns) and half "replay" MNIST training images (so what the network
already knew keeps being asked of it). BatchNormalization statistics stay frozen (inference mode):
estimates from a few dozen examples would be worse than MNIST's. The steps are the training loop's
compiled step (digitnet.training.loop.CompiledSteps) with replay batches. Everything random is seeded: the
same examples, model and seed give the same weights. Measured (seed network after 3 epochs, a
"broad pen" writer: MNIST test digits thickened by a 3x3 max filter, default settings): with 5
examples a digit, held-out writer accuracy 90.2% -> 90.1-91.2% over 3 seeds; with 10, 90.1% ->
91.7-92.4%; with 20, 90.0% -> 93.4%; MNIST test accuracy moved by at most 0.15 point; 3-9 s.

Accuracy on the examples it trained on says little; `finetune` also scores a copy tuned on the rest
on a held-out share of the examples, re-checks the doubt on them and refits the temperature only when
they are enough (digitnet.jobs.finetune_check).

The result is written as a run-like directory (see write_model_dir) that `predict`, `serve` and
`export` accept. Nothing here prints; mistakes raise ExamplesError or FinetuneError.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from digitnet.data.inputs import IMAGE_SUFFIXES
from digitnet.errors import DigitnetError
from digitnet.jobs.finetune_check import (
    HOLDOUT_FRACTION,
    HeldOutCheck,
    calibration_choice,
    doubt_figures,
    heldout_split,
    no_holdout_reason,
)
from digitnet.layout import CALIBRATION_FILE, CONFIG_FILE, MODEL_FILE
from digitnet.layout import write_litert_beside as write_flatbuffer_beside
from digitnet.training.config import FINETUNE
from digitnet.training.inference import write_litert_beside
from digitnet.util.fileio import atomic_save_keras, atomic_write_text, file_sha256, publish_directory

if TYPE_CHECKING:  # imported where used: the CLI's parser imports this module for its defaults
    from digitnet.reading.model_source import ModelSource

LABELS_FILE = "labels.csv"
FINETUNE_FILE = "finetune.json"
COPIED_FROM_SOURCE = ("calibration.json", "detector")  # beside the source model; copied when present
# The files those consist of: only these are copied, each a regular file inside the model's folder
# (never a symbolic link: a tampered folder must not smuggle /etc/shadow into a fine-tuned model).
# The detector's network: its LiteRT file, bound to its .keras file when it has one (the shipped
# model's package has none; the LiteRT file then reads alone).
DETECTOR_LITERT, DETECTOR_KERAS = Path("detector/detector.tflite"), Path("detector/detector.keras")
SIDE_FILES = (
    CONFIG_FILE,
    "calibration.json",
    "detector/detector.json",
    str(DETECTOR_KERAS),
    str(DETECTOR_LITERT),
)
MAX_SIDE_FILE_BYTES = 64 * 2**20  # a detector.keras is ~1 MB, the JSON files a few kB
EXAMPLE_SUFFIXES = IMAGE_SUFFIXES  # what `predict` reads from a folder
MIN_EXAMPLES = 10  # fewer gives too little to adapt to; one a digit is the natural smallest set
MAX_LABELS_BYTES = 4 * 2**20  # labels.csv: ~100,000 rows, ten times the most /collect keeps
PROBLEMS_SHOWN = 20  # a folder with thousands of problems: the first few, then how many in all

MAX_STEPS = 100_000  # ~40 min on two cores: far past where more steps help a few dozen examples
MAX_SEED = 2**32 - 1  # what NumPy's and Keras's seeding accept
REFIT_FLAG_RATE = 0.02  # a refit's share flagged when the source had no calibration (the shipped one's)
MAX_HOLDOUT = 0.5  # past half, the checking copy learns from fewer examples than it is scored on


class ExamplesError(DigitnetError, ValueError):
    """The examples folder cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.shown()))

    def shown(self) -> list[str]:
        """The first PROBLEMS_SHOWN problems, and a line counting the rest if there are more."""
        more = len(self.problems) - PROBLEMS_SHOWN
        return self.problems[:PROBLEMS_SHOWN] + ([f"... and {more:,} more"] if more > 0 else [])


class FinetuneError(DigitnetError):
    """Fine-tuning cannot be done as asked (no model, --out taken); one line saying how to fix it."""


@dataclass(frozen=True, eq=False)
class Examples:
    images: np.ndarray  # float32 (N, 28, 28, 1) in [0, 1], ink bright on black
    labels: np.ndarray  # int32 (N,)
    names: tuple[str, ...]  # file names inside the folder, in the order of the images

    def __len__(self) -> int:
        return len(self.labels)

    def per_digit(self) -> list[int]:
        return np.bincount(self.labels, minlength=10).tolist()

    def subset(self, indices: np.ndarray) -> Examples:
        return Examples(self.images[indices], self.labels[indices], tuple(self.names[i] for i in indices))


@dataclass(frozen=True)
class FinetuneResult:
    examples: int
    examples_per_digit: list[int]
    steps: int
    seed: int
    seconds: float  # the fine-tuning steps alone, not loading or measuring
    writer_accuracy_before: float  # on the examples it trained on, unaugmented
    writer_accuracy_after: float
    mnist_test_accuracy_before: float | None  # None unless measured on MNIST's test split
    mnist_test_accuracy_after: float | None
    out_dir: Path
    held_out: HeldOutCheck | None = None  # on examples it did not train on (finetune_check)
    held_out_reason: str | None = None  # why held_out is None
    calibration_refitted: bool = False
    calibration_reason: str = ""


# ---------------------------------------------------------------- reading the examples


def label_from_name(name: str) -> int | str:
    """The digit after the last underscore of the stem, or a line saying what is wrong with the name."""
    stem = Path(name).stem
    if "_" not in stem:
        return (
            f"{name}: no label in the name; name it like <anything>_7.png "
            f"(the digit after the last '_') or list it in {LABELS_FILE}"
        )
    return parse_label(stem.rsplit("_", 1)[1], f"{name}: the label after the last '_'")


def parse_label(text: str, where: str) -> int | str:
    """0-9 from its text, or a line saying that it is not a digit."""
    text = text.strip()
    if len(text) == 1 and text in "0123456789":
        return int(text)
    return f"{where} is {text!r}, not a digit 0-9"


def read_labels_csv(folder: Path) -> tuple[dict[str, int], list[str], set[str]]:
    """(file name -> label, problems, every name a row mentions) from FOLDER/labels.csv.

    A first row whose label is not a digit and whose file does not exist is a header.
    """
    path = folder / LABELS_FILE
    try:
        if path.stat().st_size > MAX_LABELS_BYTES:
            too_big = f"{path} is over {MAX_LABELS_BYTES // 2**20} MB; list only this folder's images"
            return {}, [too_big], set()
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        return {}, [f"{path} cannot be read ({error}); save it as UTF-8 text with file,label rows"], set()
    labels, first_line, problems = {}, {}, []
    for number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if number == 1 and _is_header(cells, folder):
            continue
        where = f"{LABELS_FILE} line {number}"
        if len(cells) != 2 or not cells[0]:
            problems.append(f"{where}: expected `file,label`, got {','.join(row)[:80]!r}")
            continue
        name, label = cells[0], parse_label(cells[1], f"{where}: the label of {cells[0]}")
        if name in first_line:
            problems.append(
                f"{where}: {name} is listed again (first on line {first_line[name]}); list each file once"
            )
        elif not is_plain_name(name):
            problems.append(
                f"{where}: {name[:80]!r} is not a file name in {folder}; list only the names of "
                "files in the examples folder (no folders, no paths)"
            )
        elif not _is_file(folder / name):
            problems.append(f"{where}: {name} does not exist in {folder}; fix the name or remove the row")
        elif isinstance(label, str):
            problems.append(label)
        else:
            labels[name] = label
        first_line.setdefault(name, number)
    return labels, problems, set(first_line)


def is_plain_name(name: str) -> bool:
    """True for a file name alone: no folder part, no "..", nothing that leads out of EXAMPLES."""
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name and "\0" not in name


def _is_header(cells: list[str], folder: Path) -> bool:
    if len(cells) != 2 or not isinstance(parse_label(cells[1], ""), str):
        return False
    return not (is_plain_name(cells[0]) and _is_file(folder / cells[0]))


def _is_file(path: Path) -> bool:
    """Path.is_file, but False for a name the system refuses (too long, say) instead of an OSError."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def example_files(folder: Path) -> tuple[list[str], list[str]]:
    """(image file names, problems): every non-hidden file but labels.csv must be an image."""
    names, problems = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name == LABELS_FILE or not path.is_file():
            continue
        if path.suffix.lower() in EXAMPLE_SUFFIXES:
            names.append(path.name)
        else:
            problems.append(
                f"{path.name}: not an image file (suffix {path.suffix or 'none'!r}); "
                "the examples folder holds only digit images and labels.csv"
            )
    return names, problems


def load_examples(folder: Path) -> Examples:
    """One writer's labelled examples; ExamplesError listing every problem (one a line) if any."""
    from digitnet.data.preprocess import ImageError, has_no_ink, image_to_mnist

    folder = Path(folder)
    if not folder.is_dir():
        raise ExamplesError([f"{folder} is not a folder; pass the folder of one writer's digit images"])
    names, problems = example_files(folder)
    if (folder / LABELS_FILE).is_file():
        labelled, csv_problems, mentioned = read_labels_csv(folder)
        problems += csv_problems
        problems += [
            f"{name}: not listed in {LABELS_FILE}; add a row `{name},<digit>` or remove the file"
            for name in names
            if name not in mentioned
        ]
    else:
        labelled = {}
        for name in names:
            label = label_from_name(name)
            if isinstance(label, str):
                problems.append(label)
            else:
                labelled[name] = label
    images, labels, kept = [], [], []
    for name, label in sorted(labelled.items()):
        try:
            image = image_to_mnist(folder / name, name=name)
        except ImageError as error:
            problems.append(str(error))
            continue
        if has_no_ink(image):
            problems.append(f"{name}: no ink found (blank after preprocessing); remove it or retake it")
            continue
        images.append(image)
        labels.append(label)
        kept.append(name)
    if problems:
        raise ExamplesError(problems)
    if len(kept) < MIN_EXAMPLES:
        raise ExamplesError(
            [
                f"{folder} holds {len(kept)} labelled example(s); at least {MIN_EXAMPLES} "
                "are needed (ideally 3-20 of each digit)"
            ]
        )
    return Examples(
        np.stack(images)[..., np.newaxis].astype(np.float32), np.asarray(labels, np.int32), tuple(kept)
    )


# ---------------------------------------------------------------- the output directory


def check_settings(seed: int, steps: int, holdout: float = HOLDOUT_FRACTION) -> None:
    """FinetuneError (one line) for a seed, step count or held-out share that cannot work, before
    anything is loaded."""
    if not 0 <= holdout <= MAX_HOLDOUT:
        raise FinetuneError(f"--holdout must be from 0 (none) to {MAX_HOLDOUT}, got {holdout}")
    if not 0 <= seed <= MAX_SEED:
        raise FinetuneError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {seed}")
    if not 1 <= steps <= MAX_STEPS:
        raise FinetuneError(f"--steps must be from 1 to {MAX_STEPS:,}, got {steps}")


def check_out_dir(out_dir: Path) -> None:
    """Refuse an --out that holds something: a fine-tuned model never overwrites anything."""
    out_dir = Path(out_dir)
    if out_dir.is_symlink():  # the model is renamed into place: a link there cannot be replaced
        raise FinetuneError(f"{out_dir} is a symbolic link; name a new folder for --out")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FinetuneError(f"{out_dir} exists and is not an empty folder; choose another --out")


def side_files(source: ModelSource) -> list[str]:
    """The SIDE_FILES present beside the source model (paths relative to its folder), checked:
    FinetuneError for a symbolic link, a non-file or an oversized file, before anything is trained."""
    run_dir = source.directory
    if run_dir is None:
        return []
    present = []
    for name in SIDE_FILES:
        for path in _parts_of(Path(run_dir), name):
            if path.is_symlink():
                raise FinetuneError(
                    f"{path} is a symbolic link; a model's folder must hold its own files "
                    "(copy the real file there), nothing was written"
                )
        path = Path(run_dir) / name
        if not path.exists():
            continue
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SIDE_FILE_BYTES:
            raise FinetuneError(
                f"{path} is not a regular file of at most {MAX_SIDE_FILE_BYTES // 2**20} MB; "
                "the source model's folder looks damaged: pass a model made by digitnet"
            )
        present.append(name)
    return present


def _parts_of(folder: Path, name: str) -> list[Path]:
    """folder/detector and folder/detector/detector.json for name "detector/detector.json"."""
    parts = Path(name).parts
    return [folder.joinpath(*parts[: end + 1]) for end in range(len(parts))]


def _copy_regular_file(source: Path, target: Path) -> None:
    """Copy one file, refusing (FinetuneError) a link swapped in since side_files checked it."""
    try:
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        raise FinetuneError(f"cannot copy {source} ({error.strerror}); nothing was written") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise FinetuneError(f"{source} is not a regular file; nothing was written")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as copy:
            shutil.copyfileobj(handle, copy)


def _bind_detector_litert(staging: Path) -> None:
    """The detector's LiteRT file copied from the source, bound (by a record of both SHA-256s) to
    the detector.keras copied beside it, when there is one: so the tuned model's detector reads
    without TensorFlow. Without one (the shipped model's detector) the LiteRT file reads alone."""
    keras_file, litert = staging / DETECTOR_KERAS, staging / DETECTOR_LITERT
    if keras_file.is_file() and litert.is_file():
        write_flatbuffer_beside(keras_file, litert.read_bytes())


def staging_prefix(out_dir: Path, pid: int) -> str:
    """The hidden sibling a fine-tuned model is built in: .OUT.partial-<pid>-<random>."""
    return f".{Path(out_dir).name}.partial-{pid}-"


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove staging folders beside `out_dir` left by a finetune killed while saving: those whose
    process (the PID in the name) is gone. A live process's staging folder is left alone."""
    removed = []
    prefix = f".{Path(out_dir).name}.partial-"
    for path in Path(out_dir).parent.glob(f"{glob.escape(prefix)}*"):
        pid_text = path.name[len(prefix) :].split("-", 1)[0]
        if path.is_symlink() or not path.is_dir() or not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def write_model_dir(model, out_dir: Path, source: ModelSource, record: dict, calibration=None) -> None:
    """out_dir/ model.keras, finetune.json, and the source's config.json, calibration.json and
    detector/ when its folder has them; built in a hidden sibling and renamed into place whole.
    calibration: a refitted digitnet.reading.calibration.Calibration, written instead of the source's."""
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out_dir)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=staging_prefix(out_dir, os.getpid())))
    try:
        atomic_save_keras(model, staging / MODEL_FILE)
        write_litert_beside(model, staging / MODEL_FILE)  # so the tuned model reads without TensorFlow
        atomic_write_text(staging / FINETUNE_FILE, json.dumps(record, indent=2) + "\n")
        for name in side_files(source):  # the files a model consists of, links refused
            _copy_regular_file(Path(source.directory) / name, staging / name)
        _bind_detector_litert(staging)
        if calibration is not None:
            from digitnet.reading.calibration import save_calibration

            save_calibration(calibration, staging / CALIBRATION_FILE)
        publish_directory(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# ---------------------------------------------------------------- fine-tuning


def batch_indices(examples: int, replay: int, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, writer_batch) example indices and (steps, replay_batch) replay indices, drawn with
    replacement from a seeded generator: the same seed gives the same batches."""
    rng = np.random.default_rng(seed)
    writer = rng.integers(0, examples, (steps, FINETUNE.writer_batch))
    mixed = rng.integers(0, max(replay, 1), (steps, FINETUNE.replay_batch))
    return writer, mixed


def frozen_batch_norm(model) -> list:
    """Puts every BatchNormalization layer in inference mode (Keras 3: a frozen BN layer uses its
    moving statistics even when called with training=True); returns them, to unfreeze before saving."""
    import keras

    layers = [
        layer
        for layer in all_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]
    for layer in layers:
        layer.trainable = False
    return layers


def all_layers(layer) -> list:
    """The layer and every layer nested inside it (a model may hold models)."""
    return [layer, *(inner for child in getattr(layer, "layers", []) for inner in all_layers(child))]


def accuracy_of(model, images: np.ndarray, labels: np.ndarray) -> float:
    from digitnet.training.inference import make_logits_fn
    from digitnet.training.metrics import accuracy
    from digitnet.util.batches import predict_logits

    return accuracy(predict_logits(make_logits_fn(model), images).argmax(axis=1), labels)


def _compiled_steps(model, examples: Examples, replay, seed: int):
    """The training loop's compiled step with fine-tuning's settings: Adam at FINETUNE's rate, the
    writer's images augmented as the MNIST recipe does (10 degrees, 10% shift and zoom) and followed
    by replayed MNIST images (none when `replay` is None: the writer's alone)."""
    import keras

    from digitnet.data.mnist import Split
    from digitnet.training.augment import AffineRanges
    from digitnet.training.loop import CompiledSteps

    return CompiledSteps(
        model,
        keras.optimizers.Adam(learning_rate=FINETUNE.learning_rate),
        Split(examples.images, examples.labels),
        FINETUNE.writer_batch,
        augment=AffineRanges(),
        seed=seed,
        label_smoothing=FINETUNE.label_smoothing,
        replay=replay,
        replay_batch=FINETUNE.replay_batch,
    )


def _run_steps(model, examples: Examples, replay, steps: int, seed: int, on_progress) -> float:
    """The fine-tuning steps, batch-norm statistics frozen meanwhile; returns the seconds they took.

    replay: a digitnet.data.mnist.Split whose images are mixed into every batch, or None.
    """
    frozen = frozen_batch_norm(model)
    train_step = _compiled_steps(model, examples, replay, seed)
    writer_idx, replay_idx = batch_indices(len(examples), len(replay) if replay else 0, steps, seed)
    writer_order, replay_order = writer_idx.ravel().astype(np.int32), replay_idx.ravel().astype(np.int32)
    started = time.perf_counter()
    for step in range(steps):
        loss, _ = train_step(writer_order, step, 1, replay_order)  # one step a call: its own loss
        if on_progress is not None and ((step + 1) % 10 == 0 or step + 1 == steps):
            on_progress(step + 1, steps, loss)
    seconds = time.perf_counter() - started
    for layer in frozen:
        layer.trainable = True  # saved as it came: frozen only while fine-tuning
    return seconds


def finetune(
    model_path: Path | ModelSource | None,
    examples: Examples,
    out_dir: Path,
    *,
    mnist=None,
    seed: int = 0,
    steps: int = FINETUNE.steps,
    check_mnist: bool = True,
    holdout: float = HOLDOUT_FRACTION,
    on_progress: Callable[[int, int, float], None] | None = None,
) -> FinetuneResult:
    """Fine-tune the model at `model_path` (None: the shipped reading model) on `examples` and write
    it to `out_dir` (see module doc).

    mnist: a digitnet.data.mnist.Mnist; its training split is replayed and, with check_mnist, its test
    split measured before and after. Without it the model sees the writer's examples alone, which
    is only sensible for tiny tests. holdout: the share of each digit's examples a copy tuned on the
    rest is scored on (finetune_check); 0 skips that check. on_progress(step, steps, loss) is called
    every 10 steps of each fine-tuning.
    """
    import keras

    from digitnet.jobs.keras_models import load_model
    from digitnet.reading.calibration import load_calibration

    source = _checked_source(model_path, out_dir, seed, steps, holdout)
    calibration = load_calibration(source.calibration_file)
    replay = mnist.train if mnist is not None else None
    check, refitted = _held_out_check(
        source, examples, calibration, replay, steps, seed, holdout, on_progress
    )

    keras.utils.set_random_seed(seed)  # dropout masks; the batches come from batch_indices
    model = load_model(source)
    measure = mnist is not None and check_mnist
    writer_before = accuracy_of(model, examples.images, examples.labels)
    mnist_before = _mnist_accuracy(model, mnist if measure else None)

    seconds = _run_steps(model, examples, replay, steps, seed, on_progress)

    result = FinetuneResult(
        examples=len(examples),
        examples_per_digit=examples.per_digit(),
        steps=steps,
        seed=seed,
        seconds=seconds,
        writer_accuracy_before=writer_before,
        writer_accuracy_after=accuracy_of(model, examples.images, examples.labels),
        mnist_test_accuracy_before=mnist_before,
        mnist_test_accuracy_after=_mnist_accuracy(model, mnist if measure else None),
        out_dir=Path(out_dir),
        **_held_out_fields(check, refitted, examples, holdout),
    )
    record = _record(result, source.model_file, examples, holdout)
    write_model_dir(model, out_dir, source, record, calibration=refitted)
    return result


def _checked_source(model_path, out_dir: Path, seed: int, steps: int, holdout: float) -> ModelSource:
    """The source model, after every check that needs no training: settings, --out, and a tampered
    source folder refused before the work, not after."""
    from digitnet.reading.model_source import ModelSource

    check_settings(seed, steps, holdout)
    check_out_dir(out_dir)
    source = ModelSource.resolve(model_path)
    side_files(source)
    return source


def _mnist_accuracy(model, mnist) -> float | None:
    """MNIST test accuracy, or None when there is no MNIST to measure on."""
    return None if mnist is None else accuracy_of(model, mnist.test.images, mnist.test.labels)


def _held_out_fields(check, refitted, examples: Examples, holdout: float) -> dict:
    """FinetuneResult's fields on the held-out check and the calibration it kept or refitted."""
    return {
        "held_out": check,
        "held_out_reason": None if check else no_holdout_reason(examples.per_digit(), holdout),
        "calibration_refitted": refitted is not None,
        "calibration_reason": (
            check.calibration_reason
            if check
            else "the source's calibration is kept: no held-out examples to check it on"
        ),
    }


def _held_out_check(source, examples: Examples, calibration, replay, steps, seed, holdout, on_progress):
    """(HeldOutCheck, refitted Calibration or None): a copy of the source tuned on the examples not
    held out, scored on the held-out ones; (None, None) when none can be held out."""
    import keras

    from digitnet.jobs.keras_models import load_model

    training, held = heldout_split(examples.labels, holdout, seed)
    if len(held) == 0:
        return None, None
    rest, held_out = examples.subset(training), examples.subset(held)
    keras.utils.set_random_seed(seed)
    from digitnet.reading.uncertainty import doubt_reasons

    model = load_model(source)
    accuracy_before = _read_accuracy(model, held_out, calibration)
    seconds = _run_steps(model, rest, replay, steps, seed, on_progress)
    logits_fn = _logits_fn(model)
    logits = logits_fn(held_out.images)
    answers, scores = _read(logits_fn, logits, held_out.images, calibration)
    correct = answers == held_out.labels
    detector = _reading_detector(source)
    doubt = doubt_figures(
        doubt_reasons(scores, held_out.images, detector, calibration.confidence_threshold), correct
    )
    refit, reason = calibration_choice(len(held_out), doubt["wrong"])
    refitted = _refit_calibration(logits_fn, logits, held_out, calibration) if refit else None
    check = HeldOutCheck(
        examples=len(held_out),
        examples_per_digit=held_out.per_digit(),
        trained_on=len(rest),
        accuracy_before=accuracy_before,
        accuracy_after=float(correct.mean()),
        doubt=doubt,
        calibration_refitted=refit,
        calibration_reason=reason,
        temperature_before=calibration.temperature,
        temperature_after=(refitted or calibration).temperature,
        seconds=seconds,
    )
    return check, refitted


def _logits_fn(model):
    from digitnet.training.inference import make_logits_fn
    from digitnet.util.batches import predict_logits

    compiled = make_logits_fn(model)
    return lambda images: np.asarray(predict_logits(compiled, images))


def _reading_detector(source):
    """The detector the tuned model will read with (it carries the source's, else reading's
    fallback order picks one); None when it cannot be used: the check then goes without it."""
    from digitnet.reading.detector import find_detector

    try:
        return find_detector(source)
    except DigitnetError:
        return None


def _averaged(logits_fn, logits, images, temperature: float) -> np.ndarray:
    """(N, 10) the probabilities at `temperature`, averaged over each image and its one-pixel shifts."""
    from digitnet.reading.calibration import scaled_probabilities
    from digitnet.reading.uncertainty import shift_averaged

    probabilities = scaled_probabilities(logits, temperature)
    return shift_averaged(
        lambda copies: scaled_probabilities(logits_fn(copies), temperature), images, probabilities
    )


def _read(logits_fn, logits, images, calibration) -> tuple[np.ndarray, np.ndarray]:
    """Each image's answer and its doubt score as reading computes them (calibration.read_answers)."""
    from digitnet.reading.calibration import read_answers, scaled_probabilities

    probabilities = scaled_probabilities(logits, calibration.temperature)
    answers, scores, _ = read_answers(
        probabilities.argmax(axis=1),
        probabilities,
        lambda: _averaged(logits_fn, logits, images, calibration.temperature),
        calibration,
    )
    return answers, scores


def _read_accuracy(model, examples: Examples, calibration) -> float:
    logits_fn = _logits_fn(model)
    answers, _ = _read(logits_fn, logits_fn(examples.images), examples.images, calibration)
    return float((answers == examples.labels).mean())


def _refit_calibration(logits_fn, logits, held_out: Examples, calibration):
    """A calibration fitted on the held-out answers (temperature, then the threshold that flags the
    source's share of them; test-time shifts when they separate right from wrong better). The
    source's choice of answers (shift_answers) is kept: a few examples cannot choose it again."""
    from digitnet.reading.calibration import fit_calibration

    flag_rate = calibration.flag_rate if calibration.flag_rate is not None else REFIT_FLAG_RATE
    return fit_calibration(
        logits,
        held_out.labels,
        flag_rate,
        f"{len(held_out)} held-out examples of this writer (digitnet finetune)",
        shift_averaged=lambda t: _averaged(logits_fn, logits, held_out.images, t),
        shift_answers=calibration.shift_answers,
    )


def _record(result: FinetuneResult, source: Path, examples: Examples, holdout: float) -> dict:
    """finetune.json: where the model came from and what fine-tuning did to it."""
    return {
        "source_model": str(source.resolve()),
        "source_sha256": file_sha256(source),
        "examples": result.examples,
        "examples_per_digit": {str(digit): count for digit, count in enumerate(result.examples_per_digit)},
        "example_files": list(examples.names),
        "steps": result.steps,
        "seed": result.seed,
        "learning_rate": FINETUNE.learning_rate,
        "writer_batch": FINETUNE.writer_batch,
        "replay_batch": FINETUNE.replay_batch,
        "label_smoothing": FINETUNE.label_smoothing,
        "seconds": round(result.seconds, 2),
        # On the examples it trained on (all of them): says little, kept for comparison.
        "writer_accuracy_before": result.writer_accuracy_before,
        "writer_accuracy_after": result.writer_accuracy_after,
        "holdout_fraction": holdout,
        # On examples it did not train on: a copy tuned on the rest, scored on these (finetune_check).
        "held_out": result.held_out.to_dict() if result.held_out else None,
        "held_out_reason": result.held_out_reason,
        "calibration_refitted": result.calibration_refitted,
        "calibration_reason": result.calibration_reason,
        "mnist_test_accuracy_before": result.mnist_test_accuracy_before,
        "mnist_test_accuracy_after": result.mnist_test_accuracy_after,
    }
