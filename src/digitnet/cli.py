"""The `digitnet` command: argument parsing and printing only.

Heavy libraries (TensorFlow, Keras) are imported inside the commands that need them,
so `--help` and `data` commands answer at once. User mistakes (any DigitnetError) exit
with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

from digitnet.errors import DigitnetError
from digitnet.shutdown import sigterm_as_keyboard_interrupt

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UserError(DigitnetError):
    """A mistake in the command line itself; shown as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + error
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _require_positive(value: int, flag: str) -> None:
    if value <= 0:
        raise UserError(f"{flag} must be a positive whole number, got {value}")


def _require_non_negative(value: float, flag: str) -> None:
    if not value >= 0:
        raise UserError(f"{flag} must be 0 or more, got {value}")


def _require_writable_folder(folder: Path, flag: str) -> None:
    """FOLDER exists (made if need be) and takes a new file: checked before any long work."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UserError(
            f"{flag} {folder}: cannot write there ({reason}); pass a folder you can write to"
        ) from None


def _require_writable_file(path: Path, flag: str) -> None:
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; pass a file name")
    _require_writable_folder(path.parent, flag)


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up chatter (CUDA probing, CPU features) hidden.

    That chatter is written to file descriptor 2 before any log setting applies, so the
    descriptor itself is pointed at /dev/null for the import; a failing import still raises.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe happens here, not at import
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# ---------------------------------------------------------------- data


def _load_data(args):
    from digitnet.data import load_mnist

    return load_mnist(args.data_dir, report=_err, progress=_DownloadProgress())


class _DownloadProgress:
    def __init__(self):
        self._last = 0.0

    def __call__(self, name: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if now - self._last < 0.5 and not finished:
            return
        self._last = now
        size = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        _err(f"  {name}: {size}")


def cmd_data_fetch(args) -> int:
    from digitnet.data import ensure_mnist

    location = ensure_mnist(args.data_dir, report=_err, progress=_DownloadProgress())
    print(f"MNIST ready in {location.directory} (source: {location.source})")
    return 0


def cmd_data_info(args) -> int:
    from digitnet.data import class_counts

    data = _load_data(args)
    splits = {"train": data.train, "validation": data.validation, "test": data.test}
    info = {
        "directory": str(data.location.directory),
        "source": data.location.source,
        "splits": {
            name: {"size": len(split), "class_counts": class_counts(split.labels)}
            for name, split in splits.items()
        },
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"data: {info['directory']} (source: {info['source']})")
    print(f"{'split':<11}{'size':>7}  " + "".join(f"{digit:>6}" for digit in range(10)))
    for name, entry in info["splits"].items():
        print(f"{name:<11}{entry['size']:>7}  " + "".join(f"{c:>6}" for c in entry["class_counts"]))
    return 0


# ---------------------------------------------------------------- networks


def _print_summary(model) -> None:
    from digitnet.models import summarize

    layers = summarize(model)
    print(f"network {model.name}:")
    for layer in layers:
        shape = "(" + ", ".join("None" if d is None else str(d) for d in layer.output_shape) + ")"
        print(f"  {layer.name:<14} {layer.kind:<13} {shape:<22} {layer.parameters:>10,} params")
    print(f"  {'total':<14} {'':<13} {'':<22} {sum(layer.parameters for layer in layers):>10,} params")


def cmd_summary(args) -> int:
    from digitnet.models import build_model

    _print_summary(build_model(args.arch, seed=0))
    return 0


def cmd_models(args) -> int:
    from digitnet.models import ARCHITECTURES, build_model

    for name, architecture in ARCHITECTURES.items():
        params = build_model(name, seed=0).count_params()
        print(f"{name:<8} {params:>10,} params  {architecture.description}")
    return 0


# ---------------------------------------------------------------- training

HYPERPARAMETER_FLAGS = (
    "recipe",
    "arch",
    "iterations",
    "epochs",
    "batch_size",
    "lr",
    "schedule",
    "label_smoothing",
    "dropout",
    "seed",
    "augment",
    "rotate",
    "shift",
    "zoom",
    "shear",
    "elastic",
    "elastic_sigma",
    "stroke",
    "blur",
    "low_res",
    "ink",
    "occlude",
    "synthetic",
    "writer",
)
AUGMENT_FLAGS = {
    "rotate": "rotate_degrees",
    "shift": "shift_fraction",
    "zoom": "zoom_fraction",
    "shear": "shear_degrees",
}
STYLE_FLAGS = {
    "elastic": "elastic_alpha",
    "elastic_sigma": "elastic_sigma",
    "stroke": "stroke_pixels",
    "blur": "blur_sigma",
    "low_res": "low_res_probability",
    "ink": "ink_fraction",
    "occlude": "occlusion_fraction",
}


def config_from_args(args, **overrides):
    """The TrainConfig the flags ask for: the recipe (default tutorial) with the given flags on top.

    overrides: config fields set here instead of from `args` (ensemble members: arch=None, the
    recipe's network, since their --arch is a list).
    """
    from digitnet.config import recipe_config

    values = {
        "arch": args.arch,
        "goal_iterations": args.iterations,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "schedule": args.schedule,
        "label_smoothing": args.label_smoothing,
        "dropout": args.dropout,
        "seed": args.seed,
        "augment": args.augment,
        "synthetic_fraction": args.synthetic,
        "writer_fraction": getattr(args, "writer", None),
        **{field: getattr(args, flag) for flag, field in AUGMENT_FLAGS.items()},
        **{field: getattr(args, flag) for flag, field in STYLE_FLAGS.items()},
        **overrides,
    }
    return recipe_config(args.recipe or "tutorial", **values)


_config_from_args = config_from_args  # the name tests have used


def _note_unused_augment_flags(args, config) -> None:
    """Ranges given without augmentation would be ignored in silence; say so."""
    given = [
        f"--{flag.replace('_', '-')}"
        for flag in (*AUGMENT_FLAGS, *STYLE_FLAGS)
        if getattr(args, flag, None) is not None
    ]
    if given and not config.augment:
        _err(
            f"note: training without augmentation; ignoring {', '.join(given)} "
            "(add --augment, or use a recipe that augments)"
        )


class _ProgressBar:
    """One line redrawn in place on a terminal; a line per epoch elsewhere (logs, CI)."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.interactive = stream.isatty()

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
    from digitnet import runs, train

    config = _check_resume(args) if args.resume is not None else _check_new_run(args)
    data = _load_data(args)
    bar = _ProgressBar()
    callbacks = {"on_progress": bar.update, "on_epoch": bar.epoch, "on_note": _err}
    try:
        if args.resume is not None:
            result = train.resume(args.resume, data, **callbacks)
        else:
            run_dir = args.out or runs.default_run_dir(config.arch)
            added = config.synthetic_count(len(data.train)) + config.writer_count(len(data.train))
            _announce_run(config, run_dir, len(data.train) + added)
            result = train.train(config, run_dir, data, **callbacks)
    except train.TrainingInterrupted as interrupted:
        _err(f"\n{interrupted}")
        return EXIT_INTERRUPTED
    print(f"test accuracy: {result.test_accuracy:.4f}")
    print(f"train accuracy: {result.full_train_accuracy:.4f}")
    print(f"validation accuracy: {result.validation_accuracy:.4f}")
    print(f"iterations: {result.iterations} in {result.train_seconds:.1f} s")
    print(f"model: {Path(result.run_dir) / runs.MODEL_FILE}")
    return 0


def _check_resume(args):
    """--resume: say which flags the run's own config overrides; fail fast, before loading data."""
    from digitnet import runs

    given = [
        f"--{name.replace('_', '-')}" for name in HYPERPARAMETER_FLAGS if getattr(args, name) is not None
    ]
    if args.out is not None:
        given.append("--out")
    if given:
        _err(f"note: --resume continues with the run's saved config; ignoring {', '.join(given)}")
    return runs.read_run_config(args.resume)


def _check_new_run(args):
    """A new run's config, checked (hyperparameters, network) before any data is loaded."""
    from digitnet.models import check_arch
    from digitnet.runs import check_new_run_dir

    config = config_from_args(args)
    config.validate()
    if args.out is not None:
        check_new_run_dir(args.out)
    _note_unused_augment_flags(args, config)
    check_arch(config.arch)
    return config


def _announce_run(config, run_dir: Path, train_size: int) -> None:
    from digitnet.models import build_model

    _print_summary(build_model(config.arch, dropout=config.dropout, seed=config.seed))
    epochs = config.resolved_epochs(train_size)
    steps = config.steps_per_epoch(train_size)
    _err(
        f"training {config.arch} for {epochs} epochs x {steps} iterations = "
        f"{epochs * steps} iterations (batch {config.batch_size}, Adam lr "
        f"{config.learning_rate:g} {config.schedule}"
        f"{', augmented' if config.augment else ''}); run directory {run_dir}"
    )


# ---------------------------------------------------------------- evaluation


def cmd_evaluate(args) -> int:
    from digitnet.evaluate import evaluate_model
    from digitnet.model_source import ModelSource

    _require_positive(args.batch_size, "--batch-size")
    if args.plots:
        _require_writable_folder(Path(args.plots), "--plots")
    source = ModelSource.from_path(args.path)  # a wrong PATH fails before data is loaded
    is_ensemble = source.kind == "ensemble"
    data = _load_data(args)
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
    from digitnet import plots, runs

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
    from digitnet.augment import AffineRanges, StyleRanges, preview_grid
    from digitnet.plots import plot_augment_preview

    defaults = AffineRanges()
    ranges = AffineRanges(
        *(
            getattr(defaults, field) if getattr(args, flag) is None else getattr(args, flag)
            for flag, field in AUGMENT_FLAGS.items()
        )
    )
    style = StyleRanges(
        **{
            field: getattr(args, flag)
            for flag, field in STYLE_FLAGS.items()
            if getattr(args, flag) is not None
        }
    )
    try:
        ranges.validate()
        style.validate()
    except ValueError as error:
        raise UserError(str(error)) from error
    _require_writable_file(Path(args.out), "--out")
    data = _load_data(args)
    grid = preview_grid(data.train.images[: args.count], args.seed, ranges, copies=args.copies, style=style)
    title = (
        "Training digits (left) and random affine versions"
        if style.is_identity()
        else "Training digits (left) and random affine and style versions"
    )
    print(f"wrote {plot_augment_preview(grid, args.out, args.copies, title=title)}")
    return 0


# ---------------------------------------------------------------- predicting


def _model_and_images(args) -> tuple[Path | None, list[str]]:
    """`predict [MODEL] IMAGE...`: the first name is the model when it is one (a run, a .keras
    file, an ensemble), else every name is an image and the shipped default model reads them."""
    from digitnet.model_source import looks_like_model

    names = list(args.images)
    if args.model is not None:
        return args.model, names
    if looks_like_model(Path(names[0])):
        if len(names) == 1:
            raise UserError(f"{names[0]} is a model; name the images to read after it")
        return Path(names[0]), names[1:]
    return None, names


def cmd_predict(args) -> int:
    from digitnet.inputs import expand_inputs, read_inputs, write_model_input
    from digitnet.model_source import ModelSource
    from digitnet.predict import Predictor

    model, inputs = _model_and_images(args)
    if args.show_input:
        _require_writable_folder(Path(args.show_input), "--show-input")
    predictor = Predictor(
        ModelSource.resolve(model), rule=args.rule, detector_dir=args.detector, engine=args.engine
    )
    if predictor.detector_problem:
        _err(
            f"note: {predictor.detector_problem}; until then only blank and low-confidence "
            "inputs are flagged uncertain"
        )
    read = read_inputs(expand_inputs(inputs))
    for problem in read.problems:
        _err(f"digitnet: error: {problem}")
    for name, image, prediction in zip(read.names, read.images, predictor.predict(read.batch())):
        if args.show_input:
            write_model_input(image, Path(args.show_input), name)
        _print_prediction(name, prediction, args.json)
    return EXIT_USER_ERROR if read.problems else 0


def _print_prediction(name: str, prediction, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"file": name, **prediction.to_dict()}), flush=True)
        return
    top3 = ", ".join(f"{digit} {probability:.1%}" for digit, probability in prediction.top3)
    verdict = "  UNCERTAIN: not a digit, or one the model cannot tell" if prediction.uncertain else ""
    print(f"{name}: {prediction.digit} ({prediction.probability:.1%}; top 3: {top3}){verdict}", flush=True)


def cmd_detector_train(args) -> int:
    from digitnet import detector
    from digitnet.negatives import load_fashion

    data = _load_data(args)
    fashion = load_fashion("train")  # missing Fashion-MNIST fails before the long part
    _err(f"rendering negatives and training the not-a-digit detector ({detector.TRAINING_TIME})")
    out = args.out or detector.default_detector_dir()
    threshold = detector.train_on_mnist(
        data, fashion, out, negatives=args.negatives, epochs=args.epochs, seed=args.seed
    )
    print(f"detector saved in {out} (threshold {threshold:.3f})")
    return 0


def cmd_export(args) -> int:
    from digitnet.export import export_model

    out = export_model(args.model, args.format, args.out)
    print(f"exported {args.format} to {out}")
    return 0


def cmd_serve(args) -> int:
    from digitnet.model_source import ModelSource
    from digitnet.serve import run_server

    # A wrong MODEL (or a missing default) fails at once, before the port is taken.
    ModelSource.resolve(args.model)
    limits = {} if args.max_body_bytes is None else {"max_body_bytes": args.max_body_bytes}
    run_server(
        args.model,
        args.host,
        args.port,
        rule=args.rule,
        detector_dir=args.detector,
        engine=args.engine,
        collect_dir=args.collect,
        **limits,
    )
    return 0


# ---------------------------------------------------------------- fine-tuning to one writer


def cmd_finetune(args) -> int:
    from digitnet import finetune as ft
    from digitnet.model_source import ModelSource

    ft.check_out_dir(args.out)  # every cheap check before MNIST and the model load
    source = ModelSource.resolve(args.model)
    _ = source.model_file  # an ensemble has no single network to fine-tune: say so now
    try:
        examples = ft.load_examples(args.examples)
    except ft.ExamplesError as error:
        for problem in error.problems:
            _err(f"digitnet: error: {problem}")
        if len(error.problems) > 1:
            _err(f"digitnet: {len(error.problems)} problems in {args.examples}; nothing was written")
        return EXIT_USER_ERROR
    counts = examples.per_digit()
    print(
        f"examples: {len(examples)} ("
        + ", ".join(f"{digit}: {count}" for digit, count in enumerate(counts))
        + ")"
    )
    data = _load_data(args)

    def progress(step: int, steps: int, loss: float) -> None:
        if step % 50 == 0 or step == steps:
            _err(f"  step {step}/{steps}: loss {loss:.4f}")

    started = time.perf_counter()
    result = ft.finetune(
        source,
        examples,
        args.out,
        mnist=data,
        seed=args.seed,
        steps=args.steps,
        check_mnist=not args.no_mnist_check,
        on_progress=progress,
    )
    print(
        f"accuracy on the examples: {result.writer_accuracy_before:.4f} -> {result.writer_accuracy_after:.4f}"
    )
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


# ---------------------------------------------------------------- ensembles


def _train_flags(args) -> list[str]:
    """The hyperparameter flags given on this command line, to pass on to each member."""
    flags = []
    for name in (
        "recipe",
        "iterations",
        "epochs",
        "batch_size",
        "lr",
        "schedule",
        "label_smoothing",
        "dropout",
        "synthetic",
        "writer",
        *AUGMENT_FLAGS,
        *STYLE_FLAGS,
    ):
        value = getattr(args, name, None)
        if value is not None:
            flags += [f"--{name.replace('_', '-')}", str(value)]
    if getattr(args, "augment", None):
        flags.append("--augment")
    return flags


def member_config(member, train_args: tuple[str, ...]):
    """The TrainConfig `digitnet train` builds for a new ensemble member (ensemble_runs.member_command's
    flags), validated: a member trained elsewhere (on Ray) with it gets the same weights."""
    from digitnet.ensemble_runs import EnsembleError
    from digitnet.models import check_arch

    command = ["train", "--arch", member.arch, "--seed", str(member.seed), *train_args]
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # argparse's own message; ours is one line
            args = build_parser().parse_args(command)
    except SystemExit:
        raise EnsembleError(
            f"{member.name}: the manifest's train flags {' '.join(train_args)!r} are not valid "
            "`digitnet train` flags; train a new ensemble"
        ) from None
    config = config_from_args(args)
    config.validate()
    check_arch(config.arch)
    return config


@sigterm_as_keyboard_interrupt()  # members are then stopped as on Ctrl+C, each saving a checkpoint
def cmd_ensemble_train(args) -> int:
    from digitnet import ensemble_runs as er

    _require_non_negative(args.cpus_per_member, "--cpus-per-member")  # before anything is created
    _require_non_negative(args.gpus_per_member, "--gpus-per-member")
    if args.shared_dir is not None and args.ray is None:
        raise UserError("--shared-dir is for Ray members; add --ray (local members already resume in --out)")
    manifest, continued = er.open_ensemble(
        args.out,
        members=args.members,
        archs=args.arch,
        base_seed=args.seed or 0,
        config=config_from_args(args, arch=None),
        train_args=_train_flags(args),
    )
    if continued:
        _err(
            f"continuing the ensemble in {args.out} ({len(manifest.members)} members, "
            "its own manifest; other flags ignored)"
        )
    if args.data_dir is not None:
        _load_data(args)  # a bad --data-dir fails here once, not in every member
    failed = _train_ensemble_members(args, manifest)
    if failed:
        _err(
            f"members failed: {', '.join(failed)}; "
            f"{'see the Ray logs' if args.ray else f'see their .log files in {args.out}'}; "
            f"rerun `digitnet ensemble train --out {args.out}` to continue"
        )
        return 1
    print(f"ensemble ready in {args.out}: evaluate it with `digitnet ensemble evaluate {args.out}`")
    return 0


def _train_ensemble_members(args, manifest) -> list[str]:
    """The members not yet done, as local processes or (--ray) as Ray tasks; the names that failed."""
    from digitnet import ensemble_runs as er

    if args.ray is None:
        return er.train_members(args.out, manifest, jobs=args.jobs, data_dir=args.data_dir, report=_err)
    from digitnet import cluster

    return cluster.train_members_on_ray(
        args.out,
        manifest,
        args.ray,
        args.cpus_per_member,
        args.gpus_per_member,
        member_config=member_config,
        data_dir=args.data_dir,
        shared_dir=args.shared_dir,
        report=_err,
    )


def cmd_ensemble_evaluate(args) -> int:
    from digitnet.evaluate import evaluate_ensemble
    from digitnet.model_source import ModelSource

    source = ModelSource.ensemble(args.path)  # not a whole ensemble: fails before data is loaded
    data = _load_data(args)
    report = evaluate_ensemble(source, data.test)
    if args.json:
        print(json.dumps({"ensemble": str(args.path), **report}, indent=2))
        return 0
    for member in report["members"]:
        print(
            f"{member['name']} ({member['arch']}, seed {member['seed']}): "
            f"test accuracy {member['test_accuracy']:.4f}"
        )
    for rule, accuracy in report["rules"].items():
        print(f"ensemble, {rule}: test accuracy {accuracy:.4f}")
    return 0


def cmd_sweep(args) -> int:
    from digitnet import cluster, sweep

    _require_positive(args.trials, "--trials")
    _require_non_negative(args.cpus_per_trial, "--cpus-per-trial")
    specs = [sweep.parse_search(text) for text in args.search or []]
    base = config_from_args(args)
    sweep.check_specs(base, specs)  # every bad spec fails here, before Ray or data
    if args.out.exists() and any(args.out.iterdir()):
        raise UserError(f"{args.out} exists and is not empty; choose another --out")
    ray = cluster.import_ray()
    data = _load_data(args)
    started_here = cluster.connect(ray, args.ray)
    try:
        best = sweep.run_sweep(
            args.out, base, specs, trials=args.trials, data=data, cpus_per_trial=args.cpus_per_trial
        )
    finally:
        if started_here:
            ray.shutdown()
    print(f"best of {args.trials} trials: {json.dumps(best['params'])}")
    print(f"validation accuracy: {best['validation_accuracy']:.4f}")
    print(f"test accuracy (measured once, after selection): {best['test_accuracy']:.4f}")
    print(f"trials: {args.out / 'trials.csv'}; best: {args.out / 'best.json'}, {best['run_dir']}")
    return 0


# ---------------------------------------------------------------- parser


def _add_data_dir(parser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder holding the four MNIST IDX files (raw or .gz); "
        "default: $DIGITNET_DATA_DIR, then the cache, then download",
    )


def _add_recipe_flags(parser, arch: bool = True) -> None:
    """--recipe and the hyperparameters that override it."""
    from digitnet.config import RECIPES, SCHEDULES

    parser.add_argument(
        "--recipe",
        choices=list(RECIPES),
        help="a named starting config (tutorial: the tutorial's own; fast: 99.2%% in two epochs; "
        "strong: the lean network, one-cycle, label smoothing, augmentation; read: for people's "
        "handwriting, see the README); flags override it; default tutorial",
    )
    if arch:
        parser.add_argument("--arch", help="network (see `digitnet models`); default the recipe's")
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "--iterations", type=int, help="goal iterations, turned into whole epochs; default 20000 (18 epochs)"
    )
    length.add_argument("--epochs", type=int, help="whole epochs to train")
    parser.add_argument("--batch-size", type=int, help="images per step; default 50")
    parser.add_argument(
        "--lr", type=float, help="Adam learning rate (peak rate under one-cycle); default 1e-4"
    )
    parser.add_argument(
        "--schedule", choices=list(SCHEDULES), help="learning-rate schedule; default constant"
    )
    parser.add_argument(
        "--label-smoothing",
        type=float,
        metavar="EPS",
        help="move EPS of the target from the true class to all 10; default 0",
    )
    parser.add_argument("--dropout", type=float, help="fraction of units dropped; default 0.5")
    parser.add_argument(
        "--synthetic",
        type=float,
        metavar="FRACTION",
        help="share of the training set made of digits rendered from the training "
        "handwriting fonts (added to MNIST's); default 0 (the read recipe: 0.1)",
    )
    parser.add_argument(
        "--writer",
        type=float,
        metavar="FRACTION",
        help="share of the training set written by the training synthetic writers (digitnet.writer: "
        "flagged 1s, crossed 7s, g-like 9s ...), added to MNIST's; default 0",
    )


def _add_augment_flags(parser, switch: bool = True) -> None:
    from digitnet.augment import AffineRanges, StyleRanges

    defaults, style = AffineRanges(), StyleRanges()
    if switch:
        parser.add_argument(
            "--augment",
            action="store_true",
            default=None,
            help="random affine transforms of each training batch, and the style "
            "changes below (never of validation or test images)",
        )
    parser.add_argument(
        "--rotate",
        type=float,
        metavar="DEG",
        help=f"rotation range in degrees; default {defaults.rotate_degrees:g}",
    )
    parser.add_argument(
        "--shift",
        type=float,
        metavar="FRACTION",
        help=f"translation range, fraction of the side; default {defaults.shift_fraction:g}",
    )
    parser.add_argument(
        "--zoom",
        type=float,
        metavar="FRACTION",
        help=f"scale range, 1 +/- FRACTION; default {defaults.zoom_fraction:g}",
    )
    parser.add_argument(
        "--shear",
        type=float,
        metavar="DEG",
        help=f"shear range in degrees; default {defaults.shear_degrees:g}",
    )
    # Handwriting style (digitnet.style_augment); each is off at its default of 0.
    parser.add_argument(
        "--elastic",
        type=float,
        metavar="ALPHA",
        help="elastic wobble: RMS displacement in pixels (Simard et al.'s alpha 34 "
        f"at sigma 4 is 1.4); default {style.elastic_alpha:g} (off)",
    )
    parser.add_argument(
        "--elastic-sigma",
        type=float,
        metavar="SIGMA",
        help=f"smoothness of the wobble, Gaussian sigma in pixels; default {style.elastic_sigma:g}",
    )
    parser.add_argument(
        "--stroke",
        type=float,
        metavar="PX",
        help="stroke edges moved in or out by up to PX pixels (at most 2); "
        f"default {style.stroke_pixels:g} (off)",
    )
    parser.add_argument(
        "--blur",
        type=float,
        metavar="SIGMA",
        help=f"Gaussian blur of sigma up to SIGMA pixels; default {style.blur_sigma:g} (off)",
    )
    parser.add_argument(
        "--low-res",
        type=float,
        metavar="P",
        help="chance an image is shrunk to 10-20 pixels and grown back; "
        f"default {style.low_res_probability:g} (off)",
    )
    parser.add_argument(
        "--ink",
        type=float,
        metavar="FRACTION",
        help=f"ink faded by up to FRACTION, gamma in [1/(1+F), 1+F]; default {style.ink_fraction:g} (off)",
    )
    parser.add_argument(
        "--occlude",
        type=float,
        metavar="FRACTION",
        help="half the images lose a rectangle with sides up to FRACTION of the "
        f"image's; default {style.occlusion_fraction:g} (off)",
    )


def _add_predictor_flags(parser, model_positional: bool) -> None:
    """MODEL, --rule, --detector and --engine: what `predict` and `serve` need to build a Predictor."""
    model_help = (
        "a run directory, a model.keras file or an ensemble directory; default the "
        "reading model shipped with digitnet"
    )
    if model_positional:
        parser.add_argument("model", type=Path, metavar="MODEL", nargs="?", default=None, help=model_help)
    else:
        parser.add_argument("--model", type=Path, metavar="MODEL", help=model_help)
    parser.add_argument(
        "--rule",
        default="mean",
        choices=["mean", "most_confident", "vote"],
        help="how an ensemble's members combine; default mean probability",
    )
    parser.add_argument(
        "--detector",
        type=Path,
        metavar="DIR",
        help="the not-a-digit detector; default the model's own, else the one `digitnet detector train` made",
    )
    parser.add_argument(
        "--engine",
        default="auto",
        choices=["auto", "litert", "keras"],
        help="what runs the networks: LiteRT (fast; built from the model on first "
        "use and cached), Keras, or auto (LiteRT when installed); default auto",
    )


def _port_number(text: str) -> int:
    """--port: 0..65535 (0 picks a free port); argparse turns the error into one line, exit 2."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number; pass 0-65535") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number; pass 0-65535 (0 picks a free port)")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="digitnet", description="A convolutional network that reads handwritten digits.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add_command in (
        _add_data_commands,
        _add_summary_command,
        _add_models_command,
        _add_train_command,
        _add_evaluate_command,
        _add_predict_command,
        _add_serve_command,
        _add_export_command,
        _add_finetune_command,
        _add_detector_commands,
        _add_augment_preview_command,
        _add_ensemble_commands,
        _add_sweep_command,
    ):
        add_command(commands)
    return parser


def _add_data_commands(commands) -> None:
    data = commands.add_parser("data", help="fetch MNIST or show what is there")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    fetch = data_commands.add_parser("fetch", help="fetch and verify the four MNIST files into the cache")
    _add_data_dir(fetch)
    fetch.set_defaults(handler=cmd_data_fetch)
    info = data_commands.add_parser("info", help="where the data is, split sizes, digits per split")
    _add_data_dir(info)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=cmd_data_info)


def _add_summary_command(commands) -> None:
    summary = commands.add_parser("summary", help="each layer's output shape and parameters")
    summary.add_argument("--arch", default="seed", help="network (see `digitnet models`); default seed")
    summary.set_defaults(handler=cmd_summary)


def _add_models_command(commands) -> None:
    models = commands.add_parser("models", help="list the networks")
    models.set_defaults(handler=cmd_models)


def _add_train_command(commands) -> None:
    train = commands.add_parser("train", help="train a network (default: the tutorial's recipe)")
    _add_recipe_flags(train)
    train.add_argument("--seed", type=int, help="random seed (weights, dropout, shuffling); default 0")
    _add_augment_flags(train)
    train.add_argument("--out", type=Path, help="run directory; default runs/<arch>-<timestamp>")
    train.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue an interrupted run from its last complete checkpoint",
    )
    _add_data_dir(train)
    train.set_defaults(handler=cmd_train)


def _add_evaluate_command(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="test and train accuracy, per class, confusion matrix")
    evaluate.add_argument(
        "path", type=Path, metavar="PATH", help="a run directory, a model.keras file or an ensemble directory"
    )
    evaluate.add_argument(
        "--rule",
        default="mean",
        choices=["mean", "most_confident", "vote"],
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
    _add_data_dir(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)


def _add_predict_command(commands) -> None:
    predict = commands.add_parser(
        "predict",
        help="read digits from your own image files",
        usage="digitnet predict [MODEL] IMAGE... [options]",
        description="Read the digit in each image. MODEL (a run directory, a model.keras file or an "
        "ensemble directory) may come first; without it the reading model shipped with "
        "digitnet is used.",
    )
    _add_predictor_flags(predict, model_positional=False)
    predict.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="[MODEL] then image files, folders (every image inside), or - for standard input",
    )
    predict.add_argument("--json", action="store_true", help="one JSON object per image")
    predict.add_argument(
        "--show-input",
        type=Path,
        metavar="DIR",
        help="write the 28x28 image the model saw into DIR, for debugging",
    )
    predict.set_defaults(handler=cmd_predict)


def _add_serve_command(commands) -> None:
    serve = commands.add_parser(
        "serve", help="serve a model over HTTP: a draw-a-digit page, TF Serving and KServe v2 APIs"
    )
    _add_predictor_flags(serve, model_positional=True)
    serve.add_argument(
        "--host", default="127.0.0.1", help="127.0.0.1: this machine only (default); 0.0.0.0: every interface"
    )
    serve.add_argument("--port", type=_port_number, default=8000, help="default 8000; 0 picks a free port")
    serve.add_argument(
        "--collect",
        type=Path,
        metavar="DIR",
        help="let the page save drawings it got wrong, with the right digit, as "
        "DIR/<time>-<id>_<digit>.png (fine-tune on them with `digitnet finetune DIR`)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        metavar="BYTES",
        help="answer larger request bodies with 413; default 16 MiB (a phone photo, base64-encoded)",
    )
    serve.set_defaults(handler=cmd_serve)


def _add_export_command(commands) -> None:
    export = commands.add_parser("export", help="export a model as TF SavedModel, LiteRT or ONNX")
    export.add_argument("model", type=Path, metavar="MODEL", help="a run directory or a model.keras file")
    export.add_argument("--format", required=True, choices=["saved_model", "litert", "onnx"])
    export.add_argument(
        "--out",
        type=Path,
        required=True,
        help="where to write (a folder for saved_model, a file otherwise); never overwritten",
    )
    export.set_defaults(handler=cmd_export)


def _add_finetune_command(commands) -> None:
    from digitnet.finetune import DEFAULT_STEPS, REPLAY_BATCH, WRITER_BATCH

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
        default=DEFAULT_STEPS,
        help=f"Adam steps, each on {WRITER_BATCH} of your examples and {REPLAY_BATCH} "
        f"MNIST images; default {DEFAULT_STEPS}",
    )
    finetune.add_argument(
        "--no-mnist-check",
        action="store_true",
        help="skip measuring MNIST test accuracy before and after (MNIST is "
        "still loaded: its training images are replayed)",
    )
    _add_data_dir(finetune)
    finetune.set_defaults(handler=cmd_finetune)


def _add_detector_commands(commands) -> None:
    detector = commands.add_parser("detector", help="the not-a-digit detector")
    detector_commands = detector.add_subparsers(dest="detector_command", required=True, parser_class=_Parser)
    detector_train = detector_commands.add_parser(
        "train", help="train it on MNIST against Fashion-MNIST, noise, scribbles and digit pairs"
    )
    detector_train.add_argument("--out", type=Path, help="where to save it; default the cache")
    detector_train.add_argument(
        "--negatives", type=int, default=30_000, help="negative examples rendered; default 30000"
    )
    detector_train.add_argument("--epochs", type=int, default=3, help="default 3")
    detector_train.add_argument("--seed", type=int, default=0, help="default 0")
    _add_data_dir(detector_train)
    detector_train.set_defaults(handler=cmd_detector_train)


def _add_augment_preview_command(commands) -> None:
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
    _add_augment_flags(preview, switch=False)
    _add_data_dir(preview)
    preview.set_defaults(handler=cmd_augment_preview)


def _add_sweep_command(commands) -> None:
    sweep = commands.add_parser("sweep", help="search hyperparameters with Ray Tune (ASHA)")
    sweep.add_argument(
        "--out",
        type=Path,
        required=True,
        help="a new folder for trials.csv and best.json, or an interrupted sweep's folder to continue it",
    )
    sweep.add_argument(
        "--search",
        action="append",
        metavar="SPEC",
        help="FIELD=v1,v2,... (a choice) or FIELD=lo:hi[:log] (a range); repeat for more fields",
    )
    sweep.add_argument("--trials", type=int, default=4, help="trials drawn from the search; default 4")
    sweep.add_argument(
        "--ray", default="local", metavar="ADDRESS", help="local (default) or a Ray cluster's address"
    )
    sweep.add_argument("--cpus-per-trial", type=float, default=1, help="CPUs each trial reserves; default 1")
    sweep.add_argument("--seed", type=int, help="seed of every trial; default 0")
    _add_recipe_flags(sweep)
    _add_augment_flags(sweep)
    _add_data_dir(sweep)
    sweep.set_defaults(handler=cmd_sweep)


def _add_ensemble_commands(commands) -> None:
    ensemble = commands.add_parser("ensemble", help="several networks that predict together")
    ensemble_commands = ensemble.add_subparsers(dest="ensemble_command", required=True, parser_class=_Parser)
    ens_train = ensemble_commands.add_parser(
        "train", help="train N members with different seeds (continues an interrupted ensemble)"
    )
    ens_train.add_argument("--members", type=int, default=5, help="how many networks; default 5")
    ens_train.add_argument(
        "--arch",
        default=None,
        help="network, or a comma-separated list assigned in turn; default the recipe's (seed)",
    )
    ens_train.add_argument("--out", type=Path, required=True, help="the ensemble directory")
    ens_train.add_argument(
        "--jobs", type=int, default=1, help="members trained at once, sharing the cores; default 1"
    )
    ens_train.add_argument("--seed", type=int, help="first member's seed (others count up); default 0")
    ens_train.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="train the members as Ray tasks: on a Ray cluster started here (`--ray` or `--ray local`) "
        "or on the cluster at ADDRESS (e.g. ray://head:10001); needs `pip install 'digitnet[cluster]'`",
    )
    ens_train.add_argument(
        "--cpus-per-member", type=float, default=1, help="CPUs Ray reserves for each member; default 1"
    )
    ens_train.add_argument(
        "--gpus-per-member", type=float, default=0, help="GPUs Ray reserves for each member; default 0"
    )
    ens_train.add_argument(
        "--shared-dir",
        type=Path,
        metavar="DIR",
        help="with --ray: a folder every node mounts at the same path; members train (and checkpoint) "
        "in DIR/<ensemble name>/member-XX, so a retried member resumes instead of starting over",
    )
    _add_recipe_flags(ens_train, arch=False)
    _add_augment_flags(ens_train)
    _add_data_dir(ens_train)
    ens_train.set_defaults(handler=cmd_ensemble_train)
    ens_eval = ensemble_commands.add_parser(
        "evaluate", help="each member's test accuracy and the ensemble's under each rule"
    )
    ens_eval.add_argument("path", type=Path, metavar="DIR", help="an ensemble directory")
    ens_eval.add_argument("--json", action="store_true", help="print JSON")
    _add_data_dir(ens_eval)
    ens_eval.set_defaults(handler=cmd_ensemble_evaluate)


NEEDS_TENSORFLOW = (
    cmd_summary,
    cmd_models,
    cmd_train,
    cmd_evaluate,
    cmd_ensemble_train,
    cmd_ensemble_evaluate,
    cmd_sweep,
    cmd_augment_preview,
    cmd_predict,
    cmd_detector_train,
    cmd_export,
    cmd_serve,
    cmd_finetune,
)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.handler in NEEDS_TENSORFLOW:
            _import_tensorflow_quietly()
        return args.handler(args)
    except KeyboardInterrupt:
        _err("digitnet: interrupted")
        return EXIT_INTERRUPTED
    except DigitnetError as error:
        _err(f"digitnet: error: {error}")
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
