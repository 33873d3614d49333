"""The reading commands: data fetch/info, models, predict, serve."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from digitnet.commands.common import (
    EXIT_USER_ERROR,
    DownloadProgress,
    Parser,
    UserError,
    add_data_dir,
    err,
    load_data,
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
    from digitnet.training.networks import ARCHITECTURES, build_model

    for name, architecture in ARCHITECTURES.items():
        params = build_model(name, seed=0).count_params()
        print(f"{name:<8} {params:>10,} params  {architecture.description}")
    return 0


def _model_and_images(args) -> tuple[Path | None, list[str]]:
    """`predict [MODEL] IMAGE...`: the first name is the model when it is one (a run, a .keras
    file, an ensemble), else every name is an image and the shipped default model reads them."""
    from digitnet.reading.model_source import split_model_and_images

    names = list(args.images)
    if args.model is not None:
        return args.model, names
    model, images, note = split_model_and_images(names)
    if note:
        err(f"note: {note}")
    return model, images


def cmd_predict(args) -> int:
    from digitnet.data.inputs import expand_inputs, read_inputs, write_model_input
    from digitnet.reading.model_source import ModelSource
    from digitnet.reading.predict import Predictor

    model, inputs = _model_and_images(args)
    if args.show_input:
        require_writable_folder(Path(args.show_input), "--show-input")
    predictor = Predictor(
        ModelSource.resolve(model), rule=args.rule, detector_dir=args.detector, engine=args.engine
    )
    if predictor.detector_problem:
        err(
            f"note: {predictor.detector_problem}; until then only blank and low-confidence "
            "inputs are flagged uncertain"
        )
    read = read_inputs(expand_inputs(inputs))
    if not read.names and not read.problems:  # only empty folders (or folders of other files)
        raise UserError(f"no image found in {', '.join(inputs)}; name image files or folders holding them")
    for problem in read.problems:
        err(f"digitnet: error: {problem}")
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


def cmd_serve(args) -> int:
    from digitnet.reading.model_source import ModelSource
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
