"""--resume trusts nothing it reads back: a run's config.json is checked as a new run's flags are,
and a checkpoint's meta.json of the wrong structure counts as damage."""

import json

import numpy as np
import pytest

from digitnet import cli, layout
from digitnet.training import runs
from digitnet.training.config import TrainConfig


def _run_with_config(tmp_path, **changes):
    run_dir = tmp_path / "run"
    runs.create_run(run_dir, TrainConfig(epochs=2))
    path = run_dir / layout.CONFIG_FILE
    payload = json.loads(path.read_text())
    payload["config"].update(changes)
    path.write_text(json.dumps(payload))
    return run_dir


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"steps_per_call": 0}, "steps_per_call"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -5}, "batch_size"),
        ({"learning_rate": -1}, "learning rate"),
        ({"dropout": 1.5}, "dropout"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": "50"}, "batch_size must be a whole number"),
        ({"batch_size": 50.0}, "batch_size must be a whole number"),
        ({"epochs": 2.5}, "epochs must be a whole number"),
        ({"augment": 1}, "augment must be true or false"),
        ({"learning_rate": "fast"}, "learning_rate must be a number"),
        ({"seed": -1}, "seed"),
    ],
)
def test_resume_refuses_a_config_a_new_run_would_refuse(tmp_path, capsys, changes, words):
    run_dir = _run_with_config(tmp_path, **changes)
    with pytest.raises(runs.RunError, match=words):
        runs.read_run_config(run_dir)
    assert cli.main(["train", "--resume", str(run_dir), "--data-dir", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digitnet: error:") and "config.json" in lines[0], err


def _history(epochs):
    return [{key: float(epoch + 1) for key in runs.HISTORY_KEYS} for epoch in range(epochs)]


@pytest.mark.parametrize(
    "damage",
    [
        {"history": {"not": "a list"}},
        {"history": [{"epoch": 1}, {"epoch": 2}]},
        {"iteration": "24"},
        {"iteration": 24.5},
        {"epoch": None},
        {"variables": "model:000"},
    ],
)
def test_meta_json_of_the_wrong_structure_falls_back_to_an_older_checkpoint(tmp_path, damage):
    arrays = {"model:000": np.zeros(3, np.float32)}
    runs.save_checkpoint(tmp_path, runs.Checkpoint(12, 1, arrays, _history(1)))
    newest = runs.save_checkpoint(tmp_path, runs.Checkpoint(24, 2, arrays, _history(2)))
    meta = json.loads((newest / "meta.json").read_text())
    (newest / "meta.json").write_text(json.dumps({**meta, **damage}))
    checkpoint, notes = runs.latest_checkpoint(tmp_path)
    assert checkpoint.iteration == 12 and checkpoint.history == _history(1)
    assert len(notes) == 1 and "damaged" in notes[0] and "older" in notes[0]


def test_meta_json_that_is_not_an_object_is_damage(tmp_path):
    arrays = {"model:000": np.zeros(3, np.float32)}
    newest = runs.save_checkpoint(tmp_path, runs.Checkpoint(12, 1, arrays, _history(1)))
    (newest / "meta.json").write_text("[1, 2, 3]")
    checkpoint, notes = runs.latest_checkpoint(tmp_path)
    assert checkpoint is None and len(notes) == 1
