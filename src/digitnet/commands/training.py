"""The training commands: summary, train, evaluate, augment-preview, detector train, export, finetune."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from digitnet import layout
from digitnet.commands.common import (
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    Parser,
    UserError,
    add_data_dir,
    err,
    load_data,
    require_positive,
    require_writable_file,
    require_writable_folder,
)
from digitnet.training.flags import add_config_flags
from digitnet.util.shutdown import sigterm_as_keyboard_interrupt


def _print_summary(model) -> None:
    from digitnet.training.networks import summarize

    layers = summarize(model)
    print(f"network {model.name}:")
    for layer in layers:
        shape = "(" + ", ".join("None" if d is None else str(d) for d in layer.output_shape) + ")"
        print(f"  {layer.name:<14} {layer.kind:<13} {shape:<22} {layer.parameters:>10,} params")
    print(f"  {'total':<14} {'':<13} {'':<22} {sum(layer.parameters for layer in layers):>10,} params")


def cmd_summary(args) -> int:
    from digitnet.training.networks import build_model

    _print_summary(build_model(args.arch, seed=0))
    return 0


def _note_unused_augment_flags(args, config) -> None:
    """Ranges given without augmentation would be ignored in silence; say so."""
    from digitnet.training.flags import given_flags

    given = [flag for flag in given_flags(args, "augment") if flag != "--augment"]
    if given and not config.augment:
        err(
            f"note: training without augmentation; ignoring {', '.join(given)} "
            "(add --augment, or use a recipe that augments)"
        )


class _ProgressBar:
    """One line redrawn in place on a terminal; a line per epoch elsewhere (logs, CI)."""

    def __init__(self, stream=None):
        # sys.stderr as it is now, not as it was at import (a test's captured stream may be closed)
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty()

    def update(self, progress) -> None:
        if not self.interactive:
            return
        width = 24
        done = int(width * progress.iteration / progress.total_iterations)
        bar = "#" * done + "." * (width - done)
        self.stream.write(
            f"\repoch {progress.epoch}/{progress.epochs} [{bar}] iteration "
            f"{progress.iteration}/{progress.total_iterations} loss {progress.loss:.4f} "
            f"batch acc {progress.batch_accuracy:.3f} {progress.examples_per_second:,.0f} ex/s "
        )
        self.stream.flush()

    def epoch(self, row: dict) -> None:
        if self.interactive:
            self.stream.write("\r\033[K")
        self.stream.write(
            f"epoch {int(row['epoch'])}: iteration {int(row['iteration'])}, "
            f"batch loss {row['batch_loss']:.4f}, validation accuracy {row['validation_accuracy']:.4f}, "
            f"train accuracy {row['train_accuracy']:.4f} (fixed training subset), "
            f"{row['elapsed_seconds']:.1f} s\n"
        )
        self.stream.flush()


@sigterm_as_keyboard_interrupt()  # `kill`, or a dying ensemble coordinator: a checkpoint, as Ctrl+C
def cmd_train(args) -> int:
    from digitnet.training import loop, runs

    config = _check_resume(args) if args.resume is not None else _check_new_run(args)
    data = load_data(args)
    bar = _ProgressBar()
    callbacks = {"on_progress": bar.update, "on_epoch": bar.epoch, "on_note": err}
    try:
        if args.resume is not None:
            result = loop.resume(args.resume, data, **callbacks)
        else:
            run_dir = args.out or runs.default_run_dir(config.arch)
            added = config.synthetic_count(len(data.train)) + config.writer_count(len(data.train))
            _announce_run(config, run_dir, len(data.train) + added)  # an epoch's images
            result = loop.train(config, run_dir, data, **callbacks)
    except loop.TrainingInterrupted as interrupted:
        err(f"\n{interrupted}")
        return EXIT_INTERRUPTED
    print(f"test accuracy: {result.test_accuracy:.4f}")
    print(f"train accuracy: {result.full_train_accuracy:.4f}")
    print(f"validation accuracy: {result.validation_accuracy:.4f}")
    print(f"iterations: {result.iterations} in {result.train_seconds:.1f} s")
    print(f"model: {Path(result.run_dir) / layout.MODEL_FILE}")
    return 0


def _check_resume(args):
    """--resume: say which flags the run's own config overrides; fail fast, before loading data."""
    from digitnet.training import runs
    from digitnet.training.flags import given_flags

    given = given_flags(args)
    if args.out is not None:
        given.append("--out")
    if given:
        err(f"note: --resume continues with the run's saved config; ignoring {', '.join(given)}")
    return runs.read_run_config(args.resume)


def _check_new_run(args):
    """A new run's config, checked (hyperparameters, network) before any data is loaded."""
    from digitnet.training.flags import config_from_args
    from digitnet.training.networks import check_arch
    from digitnet.training.runs import check_new_run_dir

    config = config_from_args(args)
    config.validate()
    if args.out is not None:
        check_new_run_dir(args.out)
    _note_unused_augment_flags(args, config)
    check_arch(config.arch)
    return config


def _announce_run(config, run_dir: Path, train_size: int) -> None:
    from digitnet.training.networks import build_model

    _print_summary(build_model(config.arch, dropout=config.dropout, seed=config.seed))
    epochs = config.resolved_epochs(train_size)
    steps = config.steps_per_epoch(train_size)
    err(
        f"training {config.arch} for {epochs} epochs x {steps} iterations = "
        f"{epochs * steps} iterations (batch {config.batch_size}, Adam lr "
        f"{config.learning_rate:g} {config.schedule}"
        f"{', augmented' if config.augment else ''}); run directory {run_dir}"
    )


def cmd_evaluate(args) -> int:
    from digitnet.jobs.evaluate import evaluate_model
    from digitnet.reading.model_source import ModelSource

    require_positive(args.batch_size, "--batch-size")
    if args.plots:
        require_writable_folder(Path(args.plots), "--plots")
    source = ModelSource.resolve(args.path)  # a wrong PATH fails before data is loaded
    is_ensemble = source.kind == "ensemble"
    data = load_data(args)
    result = evaluate_model(source, data, rule=args.rule, batch_size=args.batch_size)
    test, train_eval = result.test, result.train
    plots = (
        _write_evaluation_plots(
            args, source, test, result.test_predicted, result.test_probabilities, data.test
        )
        if args.plots
        else []
    )
    if args.json:
        print(
            json.dumps(
                {
                    "model": str(args.path),
                    "ensemble_rule": args.rule if is_ensemble else None,
                    "test": test.to_dict(),
                    "train": train_eval.to_dict(),
                    "plots": [str(p) for p in plots],
                },
                indent=2,
            )
        )
        return 0
    if is_ensemble:
        print(f"ensemble of {result.members} members, rule: {args.rule}")
    print(f"test accuracy:  {test.accuracy:.4f} ({test.count} images)")
    print(f"train accuracy: {train_eval.accuracy:.4f} ({train_eval.count} images)")
    print("per-class test accuracy:")
    print("  " + "  ".join(f"{digit}: {value:.4f}" for digit, value in enumerate(test.per_class_accuracy)))
    print("test confusion matrix (rows: true digit, columns: predicted):")
    print("     " + "".join(f"{digit:>6}" for digit in range(10)))
    for digit, row in enumerate(test.confusion):
        print(f"  {digit}  " + "".join(f"{count:>6}" for count in row))
    for path in plots:
        print(f"wrote {path}")
    return 0


def _write_evaluation_plots(args, source, test, predicted, probabilities, test_split) -> list[Path]:
    from digitnet.jobs import plots
    from digitnet.training import runs

    out = Path(args.plots)
    confidence = probabilities[range(len(predicted)), predicted]
    written = [
        plots.plot_confusion_matrix(test.confusion, out / "confusion_matrix.png"),
        plots.plot_misclassified(
            test_split.images, test_split.labels, predicted, confidence, out / "misclassified.png"
        ),
    ]
    history = runs.read_metrics(source.directory) if source.kind == "run" else []
    if history:
        written.append(plots.plot_learning_curves(history, out / "learning_curves.png"))
    return written


def cmd_augment_preview(args) -> int:
    from digitnet.jobs.plots import plot_augment_preview
    from digitnet.training.augment import preview_grid
    from digitnet.training.flags import config_from_args

    config = config_from_args(args, augment=True)  # the range flags on the defaults
    try:
        ranges, style = config.affine_ranges(), config.style_ranges()
    except ValueError as error:
        raise UserError(str(error)) from error
    require_writable_file(Path(args.out), "--out")
    data = load_data(args)
    grid = preview_grid(data.train.images[: args.count], args.seed, ranges, copies=args.copies, style=style)
    title = (
        "Training digits (left) and random affine versions"
        if style.is_identity()
        else "Training digits (left) and random affine and style versions"
    )
    print(f"wrote {plot_augment_preview(grid, args.out, args.copies, title=title)}")
    return 0


def cmd_detector_train(args) -> int:
    from digitnet.data.negatives import load_fashion
    from digitnet.jobs import detector_train
    from digitnet.reading import detector

    data = load_data(args)
    fashion = load_fashion("train")  # missing Fashion-MNIST fails before the long part
    err(f"rendering negatives and training the not-a-digit detector ({detector.TRAINING_TIME})")
    out = args.out or detector.default_detector_dir()
    threshold = detector_train.train_on_mnist(
        data, fashion, out, negatives=args.negatives, epochs=args.epochs, seed=args.seed
    )
    print(f"detector saved in {out} (threshold {threshold:.3f})")
    return 0


def cmd_export(args) -> int:
    from digitnet.jobs.export import export_model

    out = export_model(args.model, args.format, args.out)
    print(f"exported {args.format} to {out}")
    return 0


@sigterm_as_keyboard_interrupt()  # `kill` ends it as Ctrl+C does: nothing half-written, exit 130
def cmd_finetune(args) -> int:
    from digitnet.jobs import finetune as ft
    from digitnet.reading.model_source import ModelSource

    ft.check_settings(args.seed, args.steps, args.holdout)
    ft.check_out_dir(args.out)  # every cheap check before MNIST and the model load
    source = ModelSource.resolve(args.model)
    _ = source.model_file  # an ensemble has no single network to fine-tune: say so now
    ft.side_files(source)  # a symbolic link in the model's folder is refused now, not after training
    try:
        examples = ft.load_examples(args.examples)
    except ft.ExamplesError as error:
        for problem in error.shown():  # the first few and a count, however many there are
            err(f"digitnet: error: {problem}")
        if len(error.problems) > 1:
            err(f"digitnet: {len(error.problems):,} problems in {args.examples}; nothing was written")
        return EXIT_USER_ERROR
    counts = examples.per_digit()
    print(
        f"examples: {len(examples)} ("
        + ", ".join(f"{digit}: {count}" for digit, count in enumerate(counts))
        + ")"
    )
    data = load_data(args)
    held_out = len(ft.heldout_split(examples.labels, args.holdout, args.seed)[1])
    if held_out:
        err(f"fine-tuning a copy on all but {held_out} held-out examples (to score it on them), then on all")

    def progress(step: int, steps: int, loss: float) -> None:
        if step % 50 == 0 or step == steps:
            err(f"  step {step}/{steps}: loss {loss:.4f}")

    started = time.perf_counter()
    result = ft.finetune(
        source,
        examples,
        args.out,
        mnist=data,
        seed=args.seed,
        steps=args.steps,
        check_mnist=not args.no_mnist_check,
        holdout=args.holdout,
        on_progress=progress,
    )
    _print_finetune_accuracy(result)
    if result.mnist_test_accuracy_before is not None:
        print(
            f"MNIST test accuracy: {result.mnist_test_accuracy_before:.4f} -> "
            f"{result.mnist_test_accuracy_after:.4f}"
        )
    print(
        f"time: {result.steps} steps in {result.seconds:.1f} s "
        f"({time.perf_counter() - started:.1f} s with loading and measuring)"
    )
    print(f"model: {result.out_dir} (use it with `digitnet predict {result.out_dir} IMAGE...`)")
    return 0


def _print_finetune_accuracy(result) -> None:
    """Accuracy on the examples it trained on and on held-out ones, the doubt re-check, the calibration."""
    print(
        "accuracy on the examples it trained on: "
        f"{result.writer_accuracy_before:.4f} -> {result.writer_accuracy_after:.4f}"
    )
    check = result.held_out
    if check is None:
        print(f"accuracy on held-out examples: {result.held_out_reason}")
    else:
        print(
            f"accuracy on held-out examples: {check.accuracy_before:.4f} -> {check.accuracy_after:.4f} "
            f"({check.examples} examples it did not train on, scored by a copy tuned on the other "
            f"{check.trained_on})"
        )
        doubt = check.doubt
        flagged = f"flags {doubt['right_flagged_count']} of {doubt['right']} right answers"
        caught = (
            f"catches {doubt['wrong_caught_count']} of {doubt['wrong']} wrong ones"
            if doubt["wrong"]
            else "no wrong answer to catch"
        )
        print(f"doubt on held-out examples: {flagged}, {caught}")
    print(f"calibration: {result.calibration_reason}")


def add_summary_command(commands) -> None:
    summary = commands.add_parser("summary", help="each layer's output shape and parameters")
    summary.add_argument("--arch", default="seed", help="network (see `digitnet models`); default seed")
    summary.set_defaults(handler=cmd_summary)


def add_train_command(commands) -> None:
    train = commands.add_parser("train", help="train a network (default: the tutorial's recipe)")
    add_config_flags(train)
    train.add_argument("--out", type=Path, help="run directory; default runs/<arch>-<timestamp>")
    train.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue an interrupted run from its last complete checkpoint",
    )
    add_data_dir(train)
    train.set_defaults(handler=cmd_train)


def add_evaluate_command(commands) -> None:
    from digitnet.reading.ensemble_rules import RULES

    evaluate = commands.add_parser("evaluate", help="test and train accuracy, per class, confusion matrix")
    evaluate.add_argument(
        "path",
        type=Path,
        metavar="PATH",
        help="a run directory, a model.keras file, an ensemble directory or `default` (the shipped model)",
    )
    evaluate.add_argument(
        "--rule",
        default="mean",
        choices=list(RULES),
        help="how an ensemble's members combine; default mean probability",
    )
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.add_argument("--batch-size", type=int, default=1000, help="images per evaluation batch")
    evaluate.add_argument(
        "--plots",
        type=Path,
        metavar="DIR",
        help="write confusion_matrix.png, misclassified.png and, for a run, learning_curves.png into DIR",
    )
    add_data_dir(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)


def add_export_command(commands) -> None:
    from digitnet.jobs.export import FORMATS

    export = commands.add_parser("export", help="export a model as TF SavedModel, LiteRT or ONNX")
    export.add_argument(
        "model",
        type=Path,
        metavar="MODEL",
        help="a run directory, a model.keras file or `default` (the shipped model)",
    )
    export.add_argument("--format", required=True, choices=list(FORMATS))
    export.add_argument(
        "--out",
        type=Path,
        required=True,
        help="where to write (a folder for saved_model, a file otherwise); never overwritten",
    )
    export.set_defaults(handler=cmd_export)


def add_finetune_command(commands) -> None:
    from digitnet.jobs.finetune_check import HOLDOUT_FRACTION, MIN_FOR_HOLDOUT
    from digitnet.training.config import FINETUNE

    finetune = commands.add_parser(
        "finetune", help="adapt a model to one writer from a folder of their labelled digits"
    )
    finetune.add_argument(
        "examples",
        type=Path,
        metavar="EXAMPLES",
        help="folder of one writer's digit images, labelled by name (anything_7.png) "
        "or by a labels.csv of file,label rows; at least 10",
    )
    finetune.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the new model's directory (a run-like folder); never overwritten",
    )
    finetune.add_argument(
        "--model",
        type=Path,
        default=None,
        help="the model to start from: a run directory or a model.keras file; "
        "default the reading model shipped with digitnet",
    )
    finetune.add_argument("--seed", type=int, default=0, help="random seed; default 0")
    finetune.add_argument(
        "--steps",
        type=int,
        default=FINETUNE.steps,
        help=f"Adam steps, each on {FINETUNE.writer_batch} of your examples and {FINETUNE.replay_batch} "
        f"MNIST images; default {FINETUNE.steps}",
    )
    finetune.add_argument(
        "--holdout",
        type=float,
        default=HOLDOUT_FRACTION,
        metavar="FRACTION",
        help=f"share of each digit's examples (with {MIN_FOR_HOLDOUT} or more) held out: a copy tuned on "
        "the rest is scored on them, and the doubt re-checked; the model written is tuned on all. "
        f"0 skips the check (half the time); default {HOLDOUT_FRACTION}",
    )
    finetune.add_argument(
        "--no-mnist-check",
        action="store_true",
        help="skip measuring MNIST test accuracy before and after (MNIST is "
        "still loaded: its training images are replayed)",
    )
    add_data_dir(finetune)
    finetune.set_defaults(handler=cmd_finetune)


def add_detector_commands(commands) -> None:
    from digitnet.training.config import DETECTOR

    detector = commands.add_parser("detector", help="the not-a-digit detector")
    detector_commands = detector.add_subparsers(dest="detector_command", required=True, parser_class=Parser)
    detector_train = detector_commands.add_parser(
        "train", help="train it on MNIST against Fashion-MNIST, noise, scribbles and digit pairs"
    )
    detector_train.add_argument("--out", type=Path, help="where to save it; default the cache")
    detector_train.add_argument(
        "--negatives",
        type=int,
        default=DETECTOR.negatives,
        help=f"negative examples rendered; default {DETECTOR.negatives}",
    )
    detector_train.add_argument(
        "--epochs", type=int, default=DETECTOR.epochs, help=f"default {DETECTOR.epochs}"
    )
    detector_train.add_argument("--seed", type=int, default=0, help="default 0")
    add_data_dir(detector_train)
    detector_train.set_defaults(handler=cmd_detector_train)


def add_augment_preview_command(commands) -> None:
    preview = commands.add_parser(
        "augment-preview", help="a grid of training digits beside augmented versions"
    )
    preview.add_argument(
        "--out",
        type=Path,
        default=Path("augment_preview.png"),
        help="PNG to write; default augment_preview.png",
    )
    preview.add_argument("--count", type=int, default=10, help="training digits shown; default 10")
    preview.add_argument("--copies", type=int, default=6, help="augmented versions of each; default 6")
    preview.add_argument("--seed", type=int, default=0, help="random seed; default 0")
    add_config_flags(preview, groups=("augment",), skip=("augment",))
    add_data_dir(preview)
    preview.set_defaults(handler=cmd_augment_preview)
