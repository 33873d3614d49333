"""The `digitnet` command: argument parsing and printing only.

Heavy libraries (TensorFlow, Keras) are imported inside the commands that need them,
so `--help` and `data` commands answer at once. User mistakes exit with status 2 and
one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Shown as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + error
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    info = {"directory": str(data.location.directory), "source": data.location.source,
            "splits": {name: {"size": len(split), "class_counts": class_counts(split.labels)}
                       for name, split in splits.items()}}
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
    print(f"  {'total':<14} {'':<13} {'':<22} {sum(l.parameters for l in layers):>10,} params")


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

HYPERPARAMETER_FLAGS = ("arch", "iterations", "epochs", "batch_size", "lr", "dropout", "seed")


def _config_from_args(args):
    from digitnet.config import TrainConfig

    values = {"arch": args.arch, "goal_iterations": args.iterations, "epochs": args.epochs,
              "batch_size": args.batch_size, "learning_rate": args.lr, "dropout": args.dropout,
              "seed": args.seed}
    return TrainConfig(**{key: value for key, value in values.items() if value is not None})


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
            f"batch acc {progress.batch_accuracy:.3f} {progress.examples_per_second:,.0f} ex/s ")
        self.stream.flush()

    def epoch(self, row: dict) -> None:
        if self.interactive:
            self.stream.write("\r\033[K")
        self.stream.write(
            f"epoch {int(row['epoch'])}: iteration {int(row['iteration'])}, "
            f"batch loss {row['batch_loss']:.4f}, validation accuracy {row['validation_accuracy']:.4f}, "
            f"train accuracy {row['train_accuracy']:.4f} (fixed 10,000-image subset), "
            f"{row['elapsed_seconds']:.1f} s\n")
        self.stream.flush()


def cmd_train(args) -> int:
    from digitnet import runs, train

    if args.resume is not None:
        given = [f"--{name.replace('_', '-')}" for name in HYPERPARAMETER_FLAGS
                 if getattr(args, name) is not None]
        if args.out is not None:
            given.append("--out")
        if given:
            _err(f"note: --resume continues with the run's saved config; ignoring {', '.join(given)}")
        runs.read_run_config(args.resume)  # fail fast, before loading data
    else:
        config = _config_from_args(args)
        config.validate()
        from digitnet.models import ARCHITECTURES, UnknownArchError
        if config.arch not in ARCHITECTURES:
            raise UnknownArchError(config.arch)
    data = _load_data(args)
    bar = _ProgressBar()
    callbacks = {"on_progress": bar.update, "on_epoch": bar.epoch, "on_note": _err}
    try:
        if args.resume is not None:
            result = train.resume(args.resume, data, **callbacks)
        else:
            run_dir = args.out or runs.default_run_dir(config.arch)
            _print_summary(__import__("digitnet.models", fromlist=["build_model"])
                           .build_model(config.arch, dropout=config.dropout, seed=config.seed))
            epochs = config.resolved_epochs(len(data.train))
            steps = config.steps_per_epoch(len(data.train))
            _err(f"training {config.arch} for {epochs} epochs x {steps} iterations = "
                 f"{epochs * steps} iterations (batch {config.batch_size}, Adam lr "
                 f"{config.learning_rate:g}); run directory {run_dir}")
            result = train.train(config, run_dir, data, **callbacks)
    except train.TrainingInterrupted as interrupted:
        _err(f"\n{interrupted}")
        return EXIT_INTERRUPTED
    print(f"test accuracy: {result.test_accuracy:.4f}")
    print(f"train accuracy: {result.train_accuracy:.4f}")
    print(f"validation accuracy: {result.validation_accuracy:.4f}")
    print(f"iterations: {result.iterations} in {result.train_seconds:.1f} s")
    print(f"model: {Path(result.run_dir) / runs.MODEL_FILE}")
    return 0


# ---------------------------------------------------------------- evaluation

def cmd_evaluate(args) -> int:
    from digitnet.evaluate import evaluate_split, make_logits_fn
    from digitnet.predict import load_model, resolve_model_path

    resolve_model_path(args.path)  # a wrong PATH fails before data is loaded
    data = _load_data(args)
    model = load_model(args.path)
    logits_fn = make_logits_fn(model)
    test = evaluate_split(logits_fn, data.test.images, data.test.labels, args.batch_size)
    train_eval = evaluate_split(logits_fn, data.train.images, data.train.labels, args.batch_size)
    if args.json:
        print(json.dumps({"model": str(resolve_model_path(args.path)), "test": test.to_dict(),
                          "train": train_eval.to_dict()}, indent=2))
        return 0
    print(f"test accuracy:  {test.accuracy:.4f} ({test.count} images)")
    print(f"train accuracy: {train_eval.accuracy:.4f} ({train_eval.count} images)")
    print("per-class test accuracy:")
    print("  " + "  ".join(f"{digit}: {value:.4f}" for digit, value in
                           enumerate(test.per_class_accuracy)))
    print("test confusion matrix (rows: true digit, columns: predicted):")
    print("     " + "".join(f"{digit:>6}" for digit in range(10)))
    for digit, row in enumerate(test.confusion):
        print(f"  {digit}  " + "".join(f"{count:>6}" for count in row))
    return 0


# ---------------------------------------------------------------- parser

def _add_data_dir(parser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding the four MNIST IDX files (raw or .gz); "
                             "default: $DIGITNET_DATA_DIR, then the cache, then download")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="digitnet", description="A convolutional network that reads handwritten digits.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = commands.add_parser("data", help="fetch MNIST or show what is there")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    fetch = data_commands.add_parser("fetch", help="fetch and verify the four MNIST files into the cache")
    _add_data_dir(fetch)
    fetch.set_defaults(handler=cmd_data_fetch)
    info = data_commands.add_parser("info", help="where the data is, split sizes, digits per split")
    _add_data_dir(info)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=cmd_data_info)

    summary = commands.add_parser("summary", help="each layer's output shape and parameters")
    summary.add_argument("--arch", default="seed", help="network (see `digitnet models`); default seed")
    summary.set_defaults(handler=cmd_summary)

    models = commands.add_parser("models", help="list the networks")
    models.set_defaults(handler=cmd_models)

    train = commands.add_parser("train", help="train a network (default: the tutorial's recipe)")
    train.add_argument("--arch", help="network (see `digitnet models`); default seed")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--iterations", type=int,
                        help="goal iterations, turned into whole epochs; default 20000 (18 epochs)")
    length.add_argument("--epochs", type=int, help="whole epochs to train")
    train.add_argument("--batch-size", type=int, help="images per step; default 50")
    train.add_argument("--lr", type=float, help="Adam learning rate; default 1e-4")
    train.add_argument("--dropout", type=float, help="fraction of units dropped; default 0.5")
    train.add_argument("--seed", type=int, help="random seed (weights, dropout, shuffling); default 0")
    train.add_argument("--out", type=Path, help="run directory; default runs/<arch>-<timestamp>")
    train.add_argument("--resume", type=Path, metavar="DIR",
                       help="continue an interrupted run from its last complete checkpoint")
    _add_data_dir(train)
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("evaluate", help="test and train accuracy, per class, confusion matrix")
    evaluate.add_argument("path", type=Path, metavar="PATH", help="a run directory or a model.keras file")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.add_argument("--batch-size", type=int, default=1000, help="images per evaluation batch")
    _add_data_dir(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)
    return parser


NEEDS_TENSORFLOW = (cmd_summary, cmd_models, cmd_train, cmd_evaluate)


def _user_errors() -> tuple[type[BaseException], ...]:
    from digitnet.config import ConfigError
    from digitnet.data import DataError
    from digitnet.predict import ModelLoadError
    from digitnet.runs import RunError

    errors = [UserError, ConfigError, DataError, ModelLoadError, RunError]
    if "digitnet.models" in sys.modules:  # never import Keras just to catch its errors
        errors.append(sys.modules["digitnet.models"].UnknownArchError)
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.handler in NEEDS_TENSORFLOW:
            _import_tensorflow_quietly()
        return args.handler(args)
    except KeyboardInterrupt:
        _err("digitnet: interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:
        if isinstance(error, _user_errors()):
            _err(f"digitnet: error: {error}")
            return EXIT_USER_ERROR
        raise


if __name__ == "__main__":
    sys.exit(main())
