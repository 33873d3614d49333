"""TrainConfig's fields as command-line flags: the one mapping between the two.

Each field's metadata (digitnet.training.config.hyperparameter) names its flag, help and choices;
this module turns them into argparse options whose dest is the field's name, and a parsed
namespace back into a TrainConfig: a recipe or a config file, with the flags given on top.
`digitnet train`, `ensemble train` and `sweep` take their hyperparameter flags from here, and an
ensemble manifest written before members stored their configs is read through here too.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import sys
from pathlib import Path

from digitnet.training.config import RECIPES, ConfigError, TrainConfig, load_config, recipe_config

_ARGPARSE_TYPES = {"int": int, "int | None": int, "float": float, "str": str}
_METAVARS = {"int": "N", "int | None": "N", "float": "X", "str": "NAME"}


def config_fields(group: str | None = None) -> list[dataclasses.Field]:
    """TrainConfig's fields (those of one metadata group if given), in declaration order."""
    return [item for item in dataclasses.fields(TrainConfig) if group in (None, item.metadata["group"])]


def flag_of(item: dataclasses.Field) -> str:
    """The field's command-line option: its metadata's, or --field-name."""
    return item.metadata["flag"] or "--" + item.name.replace("_", "-")


def field_named(name: str) -> str | None:
    """The field a user means by `name`: a field's name or its flag, with or without dashes."""
    wanted = name.strip().lstrip("-").replace("_", "-")
    for item in config_fields():
        if wanted in (item.name.replace("_", "-"), flag_of(item)[2:]):
            return item.name
    return None


def _help(item: dataclasses.Field) -> str:
    """The field's help with its default (the tutorial recipe's; another recipe may set its own)."""
    default = item.default
    shown = f"{default:g}" if isinstance(default, float) else default
    text = (
        item.metadata["help"]
        if default is None or default is False
        else f"{item.metadata['help']}; default {shown}"
    )
    return text.replace("%", "%%")


def add_field_flag(parser, item: dataclasses.Field) -> None:
    """One field's flag. Unset flags stay None, so a recipe's or a config file's value stands."""
    kwargs = {"dest": item.name, "default": None, "help": _help(item)}
    if item.type == "bool":
        kwargs["action"] = "store_true"
    else:
        kwargs["type"] = _ARGPARSE_TYPES[item.type]
        if item.metadata["choices"]:
            kwargs["choices"] = list(item.metadata["choices"])
        if not item.metadata["choices"]:
            kwargs["metavar"] = item.metadata["metavar"] or _METAVARS[item.type]
    parser.add_argument(flag_of(item), **kwargs)


def add_config_flags(parser, *, skip: tuple[str, ...] = (), groups=("recipe", "length", "augment")) -> None:
    """--recipe, --config and a flag for every TrainConfig field (not those in `skip`)."""
    if "recipe" in groups:
        start = parser.add_mutually_exclusive_group()
        start.add_argument(
            "--recipe",
            choices=list(RECIPES),
            help="a named starting config (tutorial: the tutorial's own; fast: 99.2%% in two epochs; "
            "strong: the lean network, one-cycle, label smoothing, augmentation; read: for people's "
            "handwriting, see the README); flags override it; default tutorial",
        )
        start.add_argument(
            "--config",
            dest="config_file",
            metavar="FILE",
            help="start from the config in FILE (a run's config.json, or - to read it from stdin) "
            "instead of a recipe; flags override it",
        )
    length = parser.add_mutually_exclusive_group()  # iterations or epochs, never both
    for item in config_fields():
        if item.name in skip or item.metadata["group"] not in groups:
            continue
        add_field_flag(length if item.metadata["group"] == "length" else parser, item)


def given_flags(args, group: str | None = None) -> list[str]:
    """The hyperparameter flags set on this command line (those of one group if given)."""
    given = [flag_of(item) for item in config_fields(group) if getattr(args, item.name, None) is not None]
    if group is None:
        given = [f"--{name}" for name in ("recipe", "config") if _start(args, name) is not None] + given
    return given


def _start(args, name: str):
    return getattr(args, "config_file" if name == "config" else name, None)


def config_from_args(args, **overrides) -> TrainConfig:
    """The TrainConfig the flags ask for: --config FILE or the recipe (default tutorial), with the
    flags given on top; `overrides` are fields set here instead of from `args` (None: not set).
    Not validated: callers validate where a bad value should stop them."""
    values = {item.name: getattr(args, item.name, None) for item in config_fields()}
    values.update(overrides)
    config_file = getattr(args, "config_file", None)
    if config_file is None:
        return recipe_config(getattr(args, "recipe", None) or "tutorial", **values)
    base = _read_config_file(config_file)
    given = {name: value for name, value in values.items() if value is not None}
    if given.get("goal_iterations") is not None and given.get("epochs") is None:
        given["epochs"] = None  # --iterations given: it wins over the file's epochs
    return dataclasses.replace(base, **given)


def _read_config_file(name: str) -> TrainConfig:
    """The config in a config.json-shaped file ({"config": {...}}), or on stdin for "-"."""
    if name != "-":
        return load_config(Path(name))
    try:
        return TrainConfig.from_dict(json.loads(sys.stdin.read())["config"])
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"stdin: not a readable digitnet config ({error})") from error


def config_parser(prog: str = "digitnet train") -> argparse.ArgumentParser:
    """A parser of the hyperparameter flags alone (all of them)."""
    parser = argparse.ArgumentParser(prog=prog, add_help=False)
    add_config_flags(parser)
    return parser


def config_from_flags(flags: list[str] | tuple[str, ...]) -> TrainConfig:
    """The TrainConfig `digitnet train FLAGS` builds (hyperparameter flags only), validated; a
    ConfigError in one line if they are not such flags."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # argparse's own message; ours is one line
            args = config_parser().parse_args(list(flags))
    except SystemExit:
        raise ConfigError(f"{' '.join(flags)!r}: not valid `digitnet train` hyperparameter flags") from None
    config = config_from_args(args)
    config.validate()
    return config
