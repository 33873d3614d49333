"""User mistakes and a full disk: one line on stderr, exit 2, never a traceback."""

import errno
import os

import numpy as np
import pytest

from conftest import synthetic_mnist
from digitnet import cli
from digitnet.training import runs


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("digitnet: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.fixture
def tiny_data(monkeypatch):
    monkeypatch.setattr("digitnet.commands.training.load_data", lambda args: synthetic_mnist())


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a-file.txt"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("size", ["0", "-1"])
def test_evaluate_with_a_batch_size_below_one(size, tiny_model_dir, capsys):
    assert cli.main(["evaluate", str(tiny_model_dir), "--batch-size", size]) == 2
    assert "--batch-size" in _error_line(capsys)


@pytest.mark.parametrize("seed", ["-1", str(2**64 + 1)])
def test_train_with_a_seed_out_of_range(seed, capsys):
    assert cli.main(["train", "--seed", seed, "--data-dir", "/nonexistent"]) == 2
    assert "seed" in _error_line(capsys)


def test_train_out_an_existing_file_or_a_path_under_one(a_file, capsys):
    assert cli.main(["train", "--out", str(a_file), "--data-dir", "/nonexistent"]) == 2
    assert "is a file" in _error_line(capsys)
    assert cli.main(["train", "--out", str(a_file / "run"), "--data-dir", "/nonexistent"]) == 2
    assert "which is a file" in _error_line(capsys)
    assert a_file.read_text() == "not a folder"


def test_predict_show_input_a_file_or_unwritable(tiny_model_dir, a_file, tmp_path, capsys):
    for place in (a_file, a_file / "inputs"):
        assert (
            cli.main(["predict", str(tiny_model_dir), str(tmp_path / "x.png"), "--show-input", str(place)])
            == 2
        )
        assert "--show-input" in _error_line(capsys)


def test_evaluate_plots_and_augment_preview_to_an_unwritable_place(tiny_model_dir, a_file, tiny_data, capsys):
    assert cli.main(["evaluate", str(tiny_model_dir), "--plots", str(a_file / "plots")]) == 2
    assert "--plots" in _error_line(capsys)
    assert cli.main(["augment-preview", "--out", str(a_file / "preview.png")]) == 2
    assert "--out" in _error_line(capsys)


def test_a_full_disk_during_a_checkpoint_is_one_line_and_keeps_the_last_checkpoint(
    tmp_path, tiny_data, capsys, monkeypatch
):
    real_savez = np.savez
    calls = []

    def disk_full_on_second_checkpoint(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_savez(*args, **kwargs)

    monkeypatch.setattr(np, "savez", disk_full_on_second_checkpoint)
    run_dir = tmp_path / "run"
    args = ["train", "--epochs", "3", "--lr", "1e-3", "--out", str(run_dir)]
    assert cli.main(args) == 2
    assert "No space left on device" in _error_line(capsys)
    checkpoint, notes = runs.latest_checkpoint(run_dir)
    assert not notes and checkpoint.epoch == 1
    assert not list((run_dir / runs.CHECKPOINT_DIR).glob(".partial-*"))
