"""Models and runs with NaN or infinite numbers: refused in one line, never a traceback or a silent file."""

import numpy as np
import pytest

from conftest import synthetic_mnist
from digitnet import cli, layout
from digitnet.reading.predict import NonFiniteModelError, Predictor, load_model
from digitnet.training import loop, runs
from digitnet.training.config import ConfigError, TrainConfig

TINY = dict(batch_size=50, learning_rate=1e-3, train_eval_size=200, steps_per_call=4)


@pytest.fixture(scope="module")
def nan_model(tiny_model_dir, tmp_path_factory):
    """The tiny trained network with one weight set to NaN, saved as a .keras file."""
    model = load_model(tiny_model_dir)
    weights = model.get_weights()
    weights[0].flat[0] = np.nan
    model.set_weights(weights)
    path = tmp_path_factory.mktemp("nan") / "nan.keras"
    model.save(path)
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("digitnet: error:") and "Traceback" not in err
    return lines[0]


def test_predictor_refuses_a_model_with_nan_weights(nan_model):
    with pytest.raises(NonFiniteModelError, match="NaN or infinite"):
        Predictor(nan_model, use_detector=False, engine="keras")


def test_predict_evaluate_and_export_of_a_nan_model_are_one_line(nan_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("digitnet.commands.training.load_data", lambda args: synthetic_mnist())
    assert cli.main(["predict", str(nan_model), str(tmp_path / "digit.png")]) == 2
    assert "NaN" in _one_error_line(capsys)
    assert cli.main(["evaluate", str(nan_model)]) == 2
    assert "NaN" in _one_error_line(capsys)
    out = tmp_path / "exported"
    assert cli.main(["export", str(nan_model), "--format", "saved_model", "--out", str(out)]) == 2
    assert "NaN" in _one_error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("rate", ["inf", "nan", "1e308", "11"])
def test_train_refuses_an_infinite_or_absurd_learning_rate(rate, capsys):
    assert cli.main(["train", "--lr", rate, "--data-dir", "/nonexistent"]) == 2
    assert "learning" in _one_error_line(capsys)


def test_config_refuses_non_finite_floats():
    with pytest.raises(ConfigError, match="finite"):
        TrainConfig(label_smoothing=float("nan"), learning_rate=1e-3).validate()
    with pytest.raises(ConfigError, match="rotate"):
        TrainConfig(augment=True, rotate_degrees=float("inf")).validate()
    with pytest.raises(ConfigError, match="adam_epsilon"):
        TrainConfig(adam_epsilon=0.0).validate()


def test_a_diverging_run_stops_and_keeps_its_last_finite_checkpoint(tmp_path, monkeypatch):
    real_call = loop.CompiledSteps.__call__

    def poison_in_epoch_two(self, order, start, count):
        if int(self.optimizer.iterations.numpy()) >= 12:  # epoch 2 of the tiny set's 12-step epochs
            kernel = self.model.trainable_variables[-1]  # the logits bias
            kernel.assign(np.full(kernel.shape, np.nan, np.float32))
        return real_call(self, order, start, count)

    monkeypatch.setattr(loop.CompiledSteps, "__call__", poison_in_epoch_two)
    run_dir = tmp_path / "run"
    with pytest.raises(loop.NonFiniteLossError, match="lower --lr"):
        loop.train(TrainConfig(epochs=3, seed=1, **TINY), run_dir, synthetic_mnist())
    checkpoint, notes = runs.latest_checkpoint(run_dir)
    assert not notes and checkpoint.iteration == 12
    assert all(np.all(np.isfinite(array)) for array in checkpoint.arrays.values())
    assert not (run_dir / layout.MODEL_FILE).exists()
