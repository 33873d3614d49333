"""DigitnetError is the one base of every user-facing error; first_line never fails."""

import importlib

import pytest

from digitnet.errors import DigitnetError, first_line

# module, class, the base it had before DigitnetError (still caught by `except` clauses for it)
USER_ERRORS = [
    ("digitnet.reading.calibration", "CalibrationError", ValueError),
    ("digitnet.training.config", "ConfigError", ValueError),
    ("digitnet.data.mnist", "DataError", Exception),
    ("digitnet.reading.detector", "DetectorError", Exception),
    ("digitnet.reading.engine", "EngineError", Exception),
    ("digitnet.reading.ensemble_rules", "UnknownRuleError", KeyError),
    ("digitnet.reading.ensemble_dir", "EnsembleError", Exception),
    ("digitnet.jobs.export", "ExportError", Exception),
    ("digitnet.jobs.finetune", "ExamplesError", ValueError),
    ("digitnet.jobs.finetune", "FinetuneError", Exception),
    ("digitnet.reading.model_source", "ModelLoadError", Exception),
    ("digitnet.training.networks", "UnknownArchError", KeyError),
    ("digitnet.data.negatives", "NegativesError", Exception),
    ("digitnet.data.preprocess", "ImageError", ValueError),
    ("digitnet.training.runs", "RunError", Exception),
    ("digitnet.serve.errors", "ServeError", Exception),
    ("digitnet.data.synthetic", "SyntheticError", ValueError),
    ("digitnet.commands.common", "UserError", Exception),
]


@pytest.mark.parametrize("module, name, old_base", USER_ERRORS, ids=lambda v: v if isinstance(v, str) else "")
def test_every_user_facing_error_is_a_digitnet_error_and_keeps_its_old_base(module, name, old_base):
    error_class = getattr(importlib.import_module(module), name)
    assert issubclass(error_class, DigitnetError)
    assert issubclass(error_class, old_base)


def test_the_cli_shows_any_digitnet_error_as_one_line_with_status_2(monkeypatch, capsys):
    from digitnet import cli
    from digitnet.commands.common import EXIT_USER_ERROR
    from digitnet.data.synthetic import SyntheticError

    def fails(_args):
        raise SyntheticError("no handwriting fonts in /nowhere; install fonts-handwriting")

    monkeypatch.setattr(
        "digitnet.commands.reading.cmd_models", fails
    )  # the parser takes the handler from there
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
