"""The reading commands: data fetch/info, models, card, predict, serve."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from digitnet.commands.common import (
    EXIT_USER_ERROR,
    DownloadProgress,
    Parser,
    UserError,
    add_data_dir,
    err,
    import_tensorflow_quietly,
    load_data,
    progress_bar,
    require_writable_folder,
)


def cmd_data_fetch(args) -> int:
    from digitnet.data.mnist import ensure_mnist

    location = ensure_mnist(args.data_dir, report=err, progress=DownloadProgress())
    print(f"MNIST ready in {location.directory} (source: {location.source})")
    return 0


def cmd_data_info(args) -> int:
    from digitnet.data.mnist import class_counts

    data = load_data(args)
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


def cmd_models(args) -> int:
    from digitnet.training.catalog import DESCRIPTIONS, PARAMETERS  # a table: no TensorFlow

    for name, description in DESCRIPTIONS.items():
        print(f"{name:<8} {PARAMETERS[name]:>10,} params  {description}")
    return 0


def cmd_card(args) -> int:
    from digitnet.reading.card import card_files, card_lines, load_card

    card = load_card()
    files = card_files(card)
    if args.json:
        print(json.dumps({**card, "files": files}, indent=2, sort_keys=True))
    else:
        print("the reading model shipped with digitnet (`default`), from its card.json:")
        print("\n".join(card_lines(card, files)))
    differing = [entry["file"] for entry in files if not entry["matches"]]
    if differing:
        names = ", ".join(differing)
        err(f"digitnet: error: shipped file(s) not matching the card's SHA-256: {names}; reinstall digitnet")
        return EXIT_USER_ERROR
    return 0


def _model_and_images(args) -> tuple[Path | None, list[str]]:
    """`predict [MODEL] IMAGE...`: the first name is the model when it is one (a run, a .keras
    file, an ensemble), else every name is an image and the shipped default model reads them."""
    from digitnet.reading.model_source import DEFAULT_NAME, split_model_and_images

    names = list(args.images)
    if args.model is not None:
        return args.model, names
    if names[0] == DEFAULT_NAME and not Path(names[0]).exists():  # the shipped model, by name
        if len(names) == 1:
            raise UserError(f"{names[0]} is a model; name the images to read after it")
        return Path(names[0]), names[1:]
    model, images, note = split_model_and_images(names)
    if note:
        err(f"note: {note}")
    return model, images


PREDICT_BATCH = 100  # images read, predicted and printed at a time (6 shifted copies each: 700 a batch)


def cmd_predict(args) -> int:
    from digitnet.data.inputs import expand_inputs
    from digitnet.reading.model_source import ModelSource
    from digitnet.reading.predict import Predictor

    model, inputs = _model_and_images(args)
    if args.show_input:
        require_writable_folder(Path(args.show_input), "--show-input")
    source = ModelSource.resolve(model)
    convert_once(source, args.detector)
    predictor = Predictor(source, rule=args.rule, detector_dir=args.detector, engine=args.engine)
    if predictor.detector_problem:
        err(
            f"note: {predictor.detector_problem}; until then only blank and low-confidence "
            "inputs are flagged uncertain"
        )
    names = expand_inputs(inputs)
    bar = progress_bar(len(names))  # on a terminal, for a long job only
    try:
        problems = _predict_in_batches(predictor, names, args, bar)
    finally:
        if bar:  # also when interrupted: the terminal's line is left clean
            bar.clear()
    return EXIT_USER_ERROR if problems else 0


def _predict_in_batches(predictor, names: list[str], args, bar) -> int:
    """Read, predict and print PREDICT_BATCH inputs at a time; the number that could not be read."""
    from digitnet.data.inputs import read_inputs, write_model_input

    problems, shown = 0, set()
    for start in range(0, len(names), PREDICT_BATCH):  # the first answers print before the last read
        read = read_inputs(names[start : start + PREDICT_BATCH])
        predictions = predictor.predict(read.batch())
        if bar:
            bar.clear()
        for problem in read.problems:
            err(f"digitnet: error: {problem}")
        problems += len(read.problems)
        for name, image, prediction in zip(read.names, read.images, predictions):
            if args.show_input:
                write_model_input(image, Path(args.show_input), name, shown)
            _print_prediction(name, prediction, args.json)
        if bar:
            bar.show(min(start + PREDICT_BATCH, len(names)))
    return problems


def convert_once(source, detector_dir: Path | None) -> None:
    """Convert the model's (and detector's) .keras networks that have no LiteRT file yet into the
    compile cache, when the training extra is installed; without it, nothing: reading then says
    how to install it (or, for a detector, notes that it is not used)."""
    import importlib.util

    from digitnet.jobs.keras_models import convert_missing, networks_to_read

    missing = networks_to_read(source, detector_dir)
    if not missing or importlib.util.find_spec("tensorflow") is None:
        return
    if sys.stderr.isatty():  # seconds of TensorFlow: say why (scripts get only the answers)
        err(f"converting {', '.join(map(str, missing))} to LiteRT, once (it is cached)")
    import_tensorflow_quietly()
    convert_missing(missing)


PLAIN_ANSWERS = {"blank": "blank", "not-a-digit": "not a digit"}


def _print_prediction(name: str, prediction, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"file": name, **prediction.to_dict()}), flush=True)
        return
    if prediction.reason in PLAIN_ANSWERS:  # nothing to read: no digit is printed, not even a guess
        print(f"{name}: {PLAIN_ANSWERS[prediction.reason]}", flush=True)
        return
    top3 = ", ".join(f"{digit} {probability:.1%}" for digit, probability in prediction.top3)
    verdict = "  UNCERTAIN: a digit the model cannot tell" if prediction.uncertain else ""
    print(f"{name}: {prediction.digit} ({prediction.probability:.1%}; top 3: {top3}){verdict}", flush=True)


def cmd_serve(args) -> int:
    from digitnet.reading.model_source import ModelSource
    from digitnet.serve import run_server

    # A wrong MODEL (or a missing default) fails at once, before the port is taken.
    convert_once(ModelSource.resolve(args.model), args.detector)
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


def _add_predictor_flags(parser, model_positional: bool) -> None:
    """MODEL, --rule, --detector and --engine: what `predict` and `serve` need to build a Predictor."""
    from digitnet.reading.engine import ENGINES
    from digitnet.reading.ensemble_rules import RULES

    model_help = (
        "a run directory, a model.keras file, an ensemble directory, or `default`: the "
        "reading model shipped with digitnet (the default)"
    )
    if model_positional:
        parser.add_argument("model", type=Path, metavar="MODEL", nargs="?", default=None, help=model_help)
    else:
        parser.add_argument("--model", type=Path, metavar="MODEL", help=model_help)
    parser.add_argument(
        "--rule",
        default="mean",
        choices=list(RULES),
        help="how an ensemble's members combine; default mean probability",
    )
    parser.add_argument(
        "--detector",
        type=Path,
        metavar="DIR",
        help="the not-a-digit detector; default, first found: the model's own (its detector/), the one "
        "`digitnet detector train` cached, the one shipped with digitnet",
    )
    parser.add_argument(
        "--engine",
        default="auto",
        choices=list(ENGINES),
        help="what runs the networks: LiteRT, from the model's .tflite file (a .keras network without "
        "one is converted once, with the training extra, and cached); auto is LiteRT",
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


def add_data_commands(commands) -> None:
    data = commands.add_parser("data", help="fetch MNIST or show what is there")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=Parser)
    fetch = data_commands.add_parser("fetch", help="fetch and verify the four MNIST files into the cache")
    add_data_dir(fetch)
    fetch.set_defaults(handler=cmd_data_fetch)
    info = data_commands.add_parser("info", help="where the data is, split sizes, digits per split")
    add_data_dir(info)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=cmd_data_info)


def add_models_command(commands) -> None:
    models = commands.add_parser("models", help="list the networks")
    models.set_defaults(handler=cmd_models)


def add_card_command(commands) -> None:
    # A command of its own, not `models --card`: `models` lists the networks one can train, the
    # card describes one trained model, the one that reads when no MODEL is named.
    card = commands.add_parser(
        "card",
        help="the shipped reading model's card: accuracy, intended use, limits, files and SHA-256s",
        description="Print the card of the reading model shipped with digitnet and check every file "
        "it names against its SHA-256 (exit status 2 if one does not match).",
    )
    card.add_argument("--json", action="store_true", help="the card as JSON, with each file's check")
    card.set_defaults(handler=cmd_card)


def add_predict_command(commands) -> None:
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


def add_serve_command(commands) -> None:
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
