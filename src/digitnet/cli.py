"""The `digitnet` command: builds the parser from digitnet.commands (a module per part of the system:
reading, training, jobs) and runs the chosen command.

Heavy libraries (TensorFlow, Keras) are imported inside the commands that need them; the reading
commands (predict, serve, models, card, data, --version) never import them, so they run on the plain
install (`pip install digitnet`). A command that needs the training extra and lacks it says so in
one line. User mistakes (any DigitnetError) exit with status 2 and one line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from digitnet.commands.common import (
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    Parser,
    err,
    import_tensorflow_quietly,
    require_training_extra,
)
from digitnet.commands.reading import (
    add_card_command,
    add_data_commands,
    add_models_command,
    add_predict_command,
    add_serve_command,
)
from digitnet.errors import DigitnetError

# The reading commands, by name: `digitnet predict …` builds only its own parser, so it never
# imports the training side (TrainConfig's fields make the train flags) just to parse its line.
READING_COMMANDS = {
    "data": add_data_commands,
    "models": add_models_command,
    "card": add_card_command,
    "predict": add_predict_command,
    "serve": add_serve_command,
}
# Every handler in these modules needs the training extra (TensorFlow, Keras); the reading
# commands (digitnet.commands.reading) run LiteRT files on the plain install.
TRAINING_COMMAND_MODULES = ("digitnet.commands.training", "digitnet.commands.jobs")


def _command_adders() -> list:
    """Every command's add_* function, in the order `digitnet --help` lists them."""
    from digitnet.commands.jobs import add_ensemble_commands, add_sweep_command
    from digitnet.commands.training import (
        add_augment_preview_command,
        add_detector_commands,
        add_evaluate_command,
        add_export_command,
        add_finetune_command,
        add_summary_command,
        add_train_command,
    )

    return [
        add_data_commands,
        add_summary_command,
        add_models_command,
        add_card_command,
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
    ]


class VersionAction(argparse.Action):
    """--version: the installed package's version, read from its metadata only when asked."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from digitnet.util.version import package_version

        parser.exit(0, f"digitnet {package_version()}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `command` one of READING_COMMANDS, only that command's (all that
    parsing its line needs: the top-level --help and --version are not commands)."""
    parser = Parser(prog="digitnet", description="A convolutional network that reads handwritten digits.")
    parser.add_argument("--version", action=VersionAction, help="print digitnet's version and exit")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    adders = [READING_COMMANDS[command]] if command in READING_COMMANDS else _command_adders()
    for add_command in adders:
        add_command(commands)
    return parser


def needs_training_extra(handler) -> bool:
    return handler.__module__ in TRAINING_COMMAND_MODULES


EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process ended by SIGPIPE


def _silence_stdout() -> None:
    # What is still buffered for the closed pipe would raise again when Python flushes at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        if needs_training_extra(args.handler):
            require_training_extra(f"digitnet {args.command}")
            import_tensorflow_quietly()
        return args.handler(args)
    except KeyboardInterrupt:
        err("digitnet: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `digitnet predict … | head -1`: the reader left; end quietly, as cat does
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except DigitnetError as error:
        err(f"digitnet: error: {error}")
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
