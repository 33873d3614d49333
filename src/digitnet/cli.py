"""The `digitnet` command: builds the parser from digitnet.commands (a module per part of the system:
reading, training, jobs) and runs the chosen command.

Heavy libraries (TensorFlow, Keras) are imported inside the commands that need them,
so `--help` and `data` commands answer at once. User mistakes (any DigitnetError) exit
with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from digitnet.commands.common import EXIT_INTERRUPTED, EXIT_USER_ERROR, Parser, err, import_tensorflow_quietly
from digitnet.commands.jobs import (
    add_ensemble_commands,
    add_sweep_command,
    cmd_ensemble_evaluate,
    cmd_ensemble_train,
    cmd_sweep,
)
from digitnet.commands.reading import (
    add_data_commands,
    add_models_command,
    add_predict_command,
    add_serve_command,
    cmd_models,
    cmd_predict,
    cmd_serve,
)
from digitnet.commands.training import (
    add_augment_preview_command,
    add_detector_commands,
    add_evaluate_command,
    add_export_command,
    add_finetune_command,
    add_summary_command,
    add_train_command,
    cmd_augment_preview,
    cmd_detector_train,
    cmd_evaluate,
    cmd_export,
    cmd_finetune,
    cmd_summary,
    cmd_train,
)
from digitnet.errors import DigitnetError


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="digitnet", description="A convolutional network that reads handwritten digits.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add_command in (
        add_data_commands,
        add_summary_command,
        add_models_command,
        add_train_command,
        add_evaluate_command,
        add_predict_command,
        add_serve_command,
        add_export_command,
        add_finetune_command,
        add_detector_commands,
        add_augment_preview_command,
        add_ensemble_commands,
        add_sweep_command,
    ):
        add_command(commands)
    return parser


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
            import_tensorflow_quietly()
        return args.handler(args)
    except KeyboardInterrupt:
        err("digitnet: interrupted")
        return EXIT_INTERRUPTED
    except DigitnetError as error:
        err(f"digitnet: error: {error}")
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
