"""The command line: every --help answers, user mistakes are one line and exit status 2."""

import json
import subprocess
import sys

import pytest

from digitnet.cli import build_parser, main

COMMANDS = [
    [],
    ["data"],
    ["data", "fetch"],
    ["data", "info"],
    ["summary"],
    ["models"],
    ["train"],
    ["evaluate"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "digitnet")
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(command + ["--help"])
    assert exited.value.code == 0
    assert "usage: digitnet" in capsys.readouterr().out


def _run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "digitnet", *args], capture_output=True, text=True, timeout=120, env=env
    )


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_arch_is_a_user_error():
    _assert_one_line_error(_run("summary", "--arch", "resnet9000"), "unknown architecture", "seed")


def test_bad_flag_value_is_one_line():
    _assert_one_line_error(_run("train", "--epochs", "many"), "invalid int value")


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    _assert_one_line_error(_run("train", "--resume", str(tmp_path)), "not a digitnet run")


def test_evaluate_of_something_that_is_not_a_model(tmp_path):
    junk = tmp_path / "model.keras"
    junk.write_text("not a zip")
    _assert_one_line_error(_run("evaluate", str(junk)), "not a Keras model")
    _assert_one_line_error(_run("evaluate", str(tmp_path / "nothing")), "does not exist")


def test_data_dir_without_mnist_files(tmp_path):
    result = _run("data", "info", "--data-dir", str(tmp_path))
    _assert_one_line_error(result, str(tmp_path))


def test_invalid_hyperparameter_is_a_user_error(capsys):
    assert main(["train", "--dropout", "1.5", "--data-dir", "/nonexistent"]) == 2
    assert "dropout" in capsys.readouterr().err


def test_summary_prints_the_tutorials_shapes(capsys):
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    for shape in (
        "(None, 14, 14, 32)",
        "(None, 7, 7, 32)",
        "(None, 4, 4, 64)",
        "(None, 2, 2, 64)",
        "(None, 256)",
        "(None, 1024)",
        "(None, 10)",
    ):
        assert shape in out
    assert "325,418" in out


def test_models_lists_each_architecture(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "seed" in out and "325,418" in out and "expert" in out and "3,274,634" in out


@pytest.mark.slow
def test_data_info_on_the_real_data(real_mnist, capsys):
    assert main(["data", "info", "--json", "--data-dir", str(real_mnist.location.directory)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {name: split["size"] for name, split in info["splits"].items()} == {
        "train": 55_000,
        "validation": 5_000,
        "test": 10_000,
    }
    assert sum(info["splits"]["test"]["class_counts"]) == 10_000
    assert info["splits"]["test"]["class_counts"][1] == 1135  # the well-known count of ones


def test_models_lists_the_lean_network(capsys):
    assert main(["models"]) == 0
    assert "lean" in capsys.readouterr().out


def test_ensemble_members_get_the_recipe_and_its_overrides():
    from digitnet.commands.jobs import _train_flags
    from digitnet.commands.training import config_from_args

    args = build_parser().parse_args(
        [
            "ensemble",
            "train",
            "--out",
            "x",
            "--recipe",
            "strong",
            "--epochs",
            "3",
            "--label-smoothing",
            "0.05",
        ]
    )
    assert _train_flags(args) == ["--recipe", "strong", "--epochs", "3", "--label-smoothing", "0.05"]
    args.arch = None
    config = config_from_args(args)
    assert (config.arch, config.epochs, config.label_smoothing, config.schedule) == (
        "lean",
        3,
        0.05,
        "one-cycle",
    )


def test_train_with_an_unknown_recipe_or_bad_smoothing_is_one_line():
    _assert_one_line_error(_run("train", "--recipe", "turbo"), "invalid choice", "strong")
    _assert_one_line_error(
        _run("train", "--label-smoothing", "2", "--data-dir", "/nonexistent"), "label smoothing"
    )


def test_python_m_digitnet_serve_is_digitnet_serve():
    result = subprocess.run(
        [sys.executable, "-m", "digitnet.serve", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert "usage: digitnet serve" in result.stdout
    for flag in ("--rule", "--detector", "--engine", "--collect", "--max-body-bytes"):
        assert flag in result.stdout
