"""Real behaviour on the real MNIST data: a short run of the tutorial's recipe, end to end."""

import json

import pytest

from digitnet.cli import main

pytestmark = pytest.mark.slow

# Measured here: the seed network with its recipe (batch 50, Adam 1e-4) reaches about 95%
# validation accuracy after 1 epoch and 97.5% after 3 (98.7% test after all 18).
EPOCHS = 3
MIN_VALIDATION_ACCURACY = 0.97


def test_three_epochs_of_the_tutorial_recipe_then_evaluate(real_mnist, tmp_path, capsys):
    data_dir = str(real_mnist.location.directory)
    run_dir = tmp_path / "run"
    assert (
        main(["train", "--epochs", str(EPOCHS), "--seed", "0", "--out", str(run_dir), "--data-dir", data_dir])
        == 0
    )
    printed = capsys.readouterr().out
    validation = float(printed.split("validation accuracy:")[1].split()[0])
    test_from_train = float(printed.split("test accuracy:")[1].split()[0])
    assert validation >= MIN_VALIDATION_ACCURACY

    plots = tmp_path / "plots"
    assert main(["evaluate", str(run_dir), "--json", "--plots", str(plots), "--data-dir", data_dir]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in plots.iterdir()) == [
        "confusion_matrix.png",
        "learning_curves.png",
        "misclassified.png",
    ]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots.iterdir())
    assert report["test"]["count"] == 10_000 and report["train"]["count"] == 55_000
    assert report["test"]["accuracy"] == pytest.approx(test_from_train, abs=1e-4)
    assert sum(map(sum, report["test"]["confusion_matrix"])) == 10_000
    assert min(report["test"]["per_class_accuracy"]) > 0.9


def test_ensemble_of_two_trains_in_parallel_and_evaluates(real_mnist, tmp_path, capsys):
    data_dir = str(real_mnist.location.directory)
    out = tmp_path / "ensemble"
    assert (
        main(
            [
                "ensemble",
                "train",
                "--members",
                "2",
                "--epochs",
                "1",
                "--jobs",
                "2",
                "--out",
                str(out),
                "--data-dir",
                data_dir,
            ]
        )
        == 0
    )
    assert "ensemble ready" in capsys.readouterr().out
    assert main(["ensemble", "evaluate", str(out), "--json", "--data-dir", data_dir]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [m["seed"] for m in report["members"]] == [0, 1]
    assert all(m["test_accuracy"] > 0.93 for m in report["members"])  # about 95% after 1 epoch
    assert set(report["rules"]) == {"mean", "most_confident", "vote"}
    # Rerunning finds every member trained and trains nothing again.
    assert main(["ensemble", "train", "--out", str(out), "--data-dir", data_dir]) == 0
    assert "member-00: already trained" in capsys.readouterr().err
