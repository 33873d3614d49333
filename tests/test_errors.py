"""DigitnetError is the one base of every user-facing error; first_line never fails."""

import importlib

import pytest

from digitnet.errors import DigitnetError, first_line

# module, class, the base it had before DigitnetError (still caught by `except` clauses for it)
USER_ERRORS = [
    ("digitnet.calibration", "CalibrationError", ValueError),
    ("digitnet.config", "ConfigError", ValueError),
    ("digitnet.data", "DataError", Exception),
    ("digitnet.detector", "DetectorError", Exception),
    ("digitnet.engine", "EngineError", Exception),
    ("digitnet.ensemble", "UnknownRuleError", KeyError),
    ("digitnet.ensemble_dir", "EnsembleError", Exception),
    ("digitnet.export", "ExportError", Exception),
    ("digitnet.finetune", "ExamplesError", ValueError),
    ("digitnet.finetune", "FinetuneError", Exception),
    ("digitnet.model_source", "ModelLoadError", Exception),
    ("digitnet.models", "UnknownArchError", KeyError),
    ("digitnet.negatives", "NegativesError", Exception),
    ("digitnet.preprocess", "ImageError", ValueError),
    ("digitnet.runs", "RunError", Exception),
    ("digitnet.serve.errors", "ServeError", Exception),
    ("digitnet.synthetic", "SyntheticError", ValueError),
    ("digitnet.cli", "UserError", Exception),
]


@pytest.mark.parametrize("module, name, old_base", USER_ERRORS, ids=lambda v: v if isinstance(v, str) else "")
def test_every_user_facing_error_is_a_digitnet_error_and_keeps_its_old_base(module, name, old_base):
    error_class = getattr(importlib.import_module(module), name)
    assert issubclass(error_class, DigitnetError)
    assert issubclass(error_class, old_base)


def test_the_cli_shows_any_digitnet_error_as_one_line_with_status_2(monkeypatch, capsys):
    from digitnet import cli
    from digitnet.synthetic import SyntheticError

    def fails(_args):
        raise SyntheticError("no handwriting fonts in /nowhere; install fonts-handwriting")

    monkeypatch.setattr(cli, "cmd_models", fails)  # build_parser looks the handler up by name
    assert cli.main(["models"]) == cli.EXIT_USER_ERROR
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
