"""DigitnetError is the one base of every user-facing error; first_line never fails.

The error classes are found by walking the package, so a new one cannot be missed: each exception
class digitnet defines is a DigitnetError unless listed below with the reason it is not one.
"""

import importlib
import pkgutil

import pytest

import digitnet
from digitnet.errors import DigitnetError, first_line

# Exceptions that never reach a user as an error, and why.
NOT_USER_ERRORS = {
    "digitnet.data.mnist._Invalid": "a content problem; callers re-raise it as DataError with the file",
    "digitnet.jobs.cluster._Stop": "the Ray guard process's own SIGTERM, raised and caught in its loop",
    "digitnet.jobs.sweep.SweepInterrupted": "Ctrl+C, reported with exit status 130",
    "digitnet.training.loop.TrainingInterrupted": "Ctrl+C, reported with exit status 130",
    "digitnet.serve.errors.RequestError": "answered as an HTTP 4xx by the service",
    "digitnet.serve.limits._BodyTimedOut": "raised and handled inside the service's body limit",
}
# Bases some errors had before DigitnetError, still caught by `except` clauses written for them.
OLD_BASES = {
    "digitnet.data.preprocess.ImageError": ValueError,
    "digitnet.data.synthetic.SyntheticError": ValueError,
    "digitnet.jobs.finetune.ExamplesError": ValueError,
    "digitnet.reading.calibration.CalibrationError": ValueError,
    "digitnet.reading.ensemble_rules.UnknownRuleError": KeyError,
    "digitnet.training.config.ConfigError": ValueError,
    "digitnet.training.networks.UnknownArchError": KeyError,
    "digitnet.util.fileio.WriteError": OSError,
}


def _exceptions_defined_in_digitnet() -> dict[str, type]:
    found = {}
    for info in pkgutil.walk_packages(digitnet.__path__, "digitnet."):
        if info.name.rsplit(".", 1)[-1] == "__main__":  # running it is its only purpose
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found


EXCEPTIONS = _exceptions_defined_in_digitnet()


def test_the_walk_finds_the_errors_of_every_layer():
    assert len(EXCEPTIONS) > 20
    for name in ("digitnet.commands.common.UserError", "digitnet.serve.errors.ServeError"):
        assert name in EXCEPTIONS


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
def test_every_exception_digitnet_defines_is_a_digitnet_error_or_says_why_not(name):
    if name in NOT_USER_ERRORS:
        assert not issubclass(EXCEPTIONS[name], DigitnetError)
    else:
        assert issubclass(EXCEPTIONS[name], DigitnetError), f"{name}: a DigitnetError, or list why not"


@pytest.mark.parametrize("name", sorted(OLD_BASES))
def test_errors_keep_their_old_base(name):
    assert issubclass(EXCEPTIONS[name], OLD_BASES[name])


def test_the_lists_name_only_exceptions_that_exist():
    assert set(NOT_USER_ERRORS) | set(OLD_BASES) <= set(EXCEPTIONS)


def test_the_cli_shows_any_digitnet_error_as_one_line_with_status_2(monkeypatch, capsys):
    from digitnet import cli
    from digitnet.commands.common import EXIT_USER_ERROR
    from digitnet.data.synthetic import SyntheticError

    def fails(_args):
        raise SyntheticError("no handwriting fonts in /nowhere; install fonts-handwriting")

    # add_models_command looks the handler up by name when build_parser runs
    monkeypatch.setattr("digitnet.commands.reading.cmd_models", fails)
    assert cli.main(["models"]) == EXIT_USER_ERROR
    assert (
        capsys.readouterr().err
        == "digitnet: error: no handwriting fonts in /nowhere; install fonts-handwriting\n"
    )


@pytest.mark.parametrize(
    "message, expected",
    [
        ("", "no details"),
        ("   \n  ", "no details"),
        ("one line", "one line"),
        ("\n  first  \nsecond", "first"),
        ("x" * 500, "x" * 200),
    ],
)
def test_first_line(message, expected):
    assert first_line(ValueError(message)) == expected


def test_first_line_takes_a_limit_and_an_empty_answer():
    assert first_line("abcdef", limit=3) == "abc"
    assert first_line(RuntimeError(), empty="") == ""
