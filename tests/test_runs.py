import numpy as np
import pytest

from digitnet.training import runs
from digitnet.training.config import TrainConfig

HISTORY = [{**{key: 1.0 for key in runs.HISTORY_KEYS}, "validation_accuracy": 0.5}]


def _checkpoint(iteration, value=1.0):
    return runs.Checkpoint(
        iteration=iteration,
        epoch=iteration // 10,
        arrays={"model:000:w": np.full((2, 3), value, np.float32)},
        history=HISTORY,
    )


def test_create_run_writes_config_and_never_reuses_a_run(tmp_path):
    run_dir = tmp_path / "run"
    runs.create_run(run_dir, TrainConfig(seed=3))
    assert runs.read_run_config(run_dir) == TrainConfig(seed=3)
    with pytest.raises(runs.RunError, match="--resume"):
        runs.create_run(run_dir, TrainConfig())


def test_create_run_refuses_a_folder_with_other_files(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(runs.RunError, match="not empty"):
        runs.create_run(tmp_path, TrainConfig())
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_a_folder_without_config_is_not_a_run(tmp_path):
    with pytest.raises(runs.RunError, match="not a digitnet run"):
        runs.read_run_config(tmp_path)
    with pytest.raises(runs.RunError, match="not a directory"):
        runs.read_run_config(tmp_path / "missing")


def test_latest_checkpoint_round_trips_and_prunes_old_ones(tmp_path):
    for iteration in (10, 20, 30):
        runs.save_checkpoint(tmp_path, _checkpoint(iteration, value=iteration))
    names = sorted(p.name for p in (tmp_path / runs.CHECKPOINT_DIR).iterdir())
    assert names == ["ckpt-00000020", "ckpt-00000030"]
    latest, notes = runs.latest_checkpoint(tmp_path)
    assert notes == [] and latest.iteration == 30 and latest.epoch == 3
    np.testing.assert_array_equal(latest.arrays["model:000:w"], np.full((2, 3), 30, np.float32))
    assert latest.history == HISTORY


def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path):
    runs.save_checkpoint(tmp_path, _checkpoint(10))
    newest = runs.save_checkpoint(tmp_path, _checkpoint(20))
    (newest / "state.npz").write_bytes(b"PK\x03\x04 truncated")
    latest, notes = runs.latest_checkpoint(tmp_path)
    assert latest.iteration == 10
    assert len(notes) == 1 and "ckpt-00000020" in notes[0] and "damaged" in notes[0]


def test_half_written_staging_folders_are_ignored_and_cleaned(tmp_path):
    runs.save_checkpoint(tmp_path, _checkpoint(10))
    partial = tmp_path / runs.CHECKPOINT_DIR / ".partial-abc"
    partial.mkdir()
    (partial / "state.npz").write_bytes(b"half")
    assert runs.latest_checkpoint(tmp_path)[0].iteration == 10
    runs.save_checkpoint(tmp_path, _checkpoint(20))
    assert not partial.exists()


def test_no_checkpoint_yet(tmp_path):
    assert runs.latest_checkpoint(tmp_path) == (None, [])


def test_metrics_round_trip(tmp_path):
    rows = [{"epoch": 1, "validation_accuracy": 0.9}, {"epoch": 2, "validation_accuracy": 0.95}]
    runs.write_metrics(tmp_path, rows)
    assert runs.read_metrics(tmp_path) == [
        {"epoch": 1.0, "validation_accuracy": 0.9},
        {"epoch": 2.0, "validation_accuracy": 0.95},
    ]
