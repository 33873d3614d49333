"""Ensemble members trained as Ray tasks: same weights as local training, an ordinary ensemble
directory, reruns that skip finished members, and one-line failures that leave nothing behind.

One local Ray cluster (2 CPUs, no dashboard) serves the whole module; data is the tiny synthetic set.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from conftest import synthetic_mnist  # noqa: E402
from digitnet.commands.jobs import member_config  # noqa: E402
from digitnet.errors import DigitnetError  # noqa: E402
from digitnet.jobs import cluster  # noqa: E402
from digitnet.jobs import ensemble as er  # noqa: E402
from digitnet.reading import ensemble_dir as ed  # noqa: E402
from digitnet.training.config import recipe_config  # noqa: E402

SOURCE_ROOT = str(Path(cluster.__file__).resolve().parents[2])
TRAIN_ARGS = ("--epochs", "1", "--lr", "1e-3")


@pytest.fixture(scope="module")
def kill_dir(tmp_path_factory) -> Path:
    """Where a test arms a member to be killed mid-run (cluster.KILL_HOOK_ENV)."""
    return tmp_path_factory.mktemp("kill")


@pytest.fixture(scope="module")
def ray_session(kill_dir):
    env = {"PYTHONPATH": SOURCE_ROOT, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env[cluster.KILL_HOOK_ENV] = str(kill_dir)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data():
    return synthetic_mnist()


def _new_ensemble(directory: Path, members: int = 2, train_args=TRAIN_ARGS) -> ed.Manifest:
    manifest = ed.Manifest(ed.plan_members(members, ["seed"], 0), tuple(train_args))
    ed.create_ensemble(directory, manifest)
    return manifest


@pytest.fixture(scope="module")
def ray_ensemble(ray_session, data, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("ray") / "ensemble"
    manifest = _new_ensemble(directory)
    lines = []
    lost = cluster.train_members_on_ray(
        directory, manifest, member_config=member_config, data=data, report=lines.append
    )
    assert lost == []
    assert "member-00: done" in lines and "member-01: done" in lines
    return directory


def test_member_config_is_what_digitnet_train_builds():
    member = ed.Member("member-01", "seed", 1)
    assert member_config(member, TRAIN_ARGS) == recipe_config(
        "tutorial", arch="seed", seed=1, epochs=1, learning_rate=1e-3
    )


def test_member_config_rejects_bad_flags_in_one_line():
    with pytest.raises(DigitnetError, match="not valid `digitnet train` flags") as caught:
        member_config(ed.Member("member-00", "seed", 0), ("--no-such-flag",))
    assert "\n" not in str(caught.value)


def test_ray_members_have_the_weights_of_local_training(ray_ensemble, data, tmp_path):
    from digitnet.training import loop

    for index in range(2):
        member = ed.Member(f"member-{index:02d}", "seed", index)
        local = tmp_path / member.name
        loop.train(member_config(member, TRAIN_ARGS), local, data)
        _assert_same_weights(ray_ensemble / member.name / "model.keras", local / "model.keras")


def test_ray_ensemble_is_an_ordinary_ensemble(ray_ensemble, data):
    from digitnet.reading.model_source import ModelSource
    from digitnet.reading.predict import ProbabilityModel

    source = ModelSource.from_path(ray_ensemble)
    assert source.kind == "ensemble" and len(source.model_files) == 2
    for member in ("member-00", "member-01"):
        run = ray_ensemble / member
        assert (run / "config.json").is_file() and not (run / "checkpoints").exists()
    network = ProbabilityModel(source, engine="keras")
    assert network.is_ensemble and len(network.logits_fns) == 2
    predicted, probabilities = network.predict(data.test.images[:8])
    assert predicted.shape == (8,) and probabilities.shape == (8, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)
    assert not [p for p in os.listdir(ray_ensemble) if p.startswith(".")]  # no staging left


def test_rerun_skips_finished_members(ray_ensemble, monkeypatch):
    def must_not_run(*_args, **_kwargs):
        raise AssertionError("a finished member was trained again")

    monkeypatch.setattr(cluster, "train_member_task", must_not_run)
    lines = []
    assert (
        cluster.train_members_on_ray(
            ray_ensemble, ed.read_manifest(ray_ensemble), member_config=member_config, report=lines.append
        )
        == []
    )
    assert lines == ["member-00: already trained", "member-01: already trained"]


def test_bad_config_fails_in_one_line_before_anything_is_written(ray_session, data, tmp_path):
    directory = tmp_path / "ensemble"
    manifest = _new_ensemble(directory, train_args=("--lr", "-1"))
    with pytest.raises(DigitnetError) as caught:
        cluster.train_members_on_ray(directory, manifest, member_config=member_config, data=data)
    assert "learning rate" in str(caught.value) and "\n" not in str(caught.value)
    assert sorted(os.listdir(directory)) == ["manifest.json"]


def test_a_member_failing_on_the_worker_fails_in_one_line(ray_session, tmp_path):
    directory = tmp_path / "ensemble"
    manifest = _new_ensemble(directory, members=1)
    missing = tmp_path / "no-mnist-here"
    with pytest.raises(cluster.ClusterError, match="member-00 failed") as caught:
        cluster.train_members_on_ray(directory, manifest, member_config=member_config, data_dir=missing)
    assert "\n" not in str(caught.value)
    assert sorted(os.listdir(directory)) == ["manifest.json"]


def test_cli_ray_flag_trains_the_members_on_ray(tmp_path, monkeypatch, capsys):
    from digitnet import cli

    calls = []

    def fake_train(directory, manifest, address, cpus, gpus, *, member_config, data_dir, shared_dir, report):
        calls.append((address, cpus, gpus, member_config, shared_dir))
        return []

    monkeypatch.setattr(cluster, "train_members_on_ray", fake_train)
    monkeypatch.setattr(er, "train_members", lambda *a, **k: pytest.fail("trained locally"))
    out = tmp_path / "ensemble"
    argv = ["ensemble", "train", "--members", "2", "--epochs", "1", "--out", str(out), "--ray"]
    assert cli.main([*argv, "--gpus-per-member", "0.5"]) == 0
    assert calls == [("local", 1, 0.5, member_config, None)]
    assert cli.main([*argv[:-1], "--ray", "ray://head:10001", "--cpus-per-member", "2"]) == 0
    assert calls[-1][:3] == ("ray://head:10001", 2, 0)
    assert cli.main([*argv, "--shared-dir", str(tmp_path / "shared")]) == 0
    assert calls[-1][4] == tmp_path / "shared"
    assert "ensemble ready" in capsys.readouterr().out


def test_cli_refuses_shared_dir_without_ray(tmp_path, capsys):
    from digitnet import cli

    argv = ["ensemble", "train", "--out", str(tmp_path / "e"), "--shared-dir", str(tmp_path / "s")]
    assert cli.main(argv) == 2
    assert "--shared-dir is for Ray members" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_cli_refuses_negative_resources(tmp_path, capsys):
    from digitnet import cli

    argv = ["ensemble", "train", "--out", str(tmp_path / "e"), "--ray", "--cpus-per-member", "-1"]
    assert cli.main(argv) == 2
    assert "--cpus-per-member must be 0 or more" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_tiny_sweep_selects_by_validation_and_tests_the_winner_once(ray_session, data, tmp_path):
    import csv
    import json

    from digitnet.jobs.sweep import parse_search, run_sweep
    from digitnet.training.config import TrainConfig

    base = TrainConfig(epochs=1, train_eval_size=200)
    best = run_sweep(tmp_path / "sweep", base, [parse_search("lr=1e-3,3e-3")], trials=2, data=data)
    rows = list(csv.DictReader((tmp_path / "sweep" / "trials.csv").open()))
    assert len(rows) == 2 and {row["status"] for row in rows} == {"done"}
    assert best["validation_accuracy"] == max(float(row["validation_accuracy"]) for row in rows)
    assert json.loads((tmp_path / "sweep" / "best.json").read_text()) == best
    assert 0.0 <= best["test_accuracy"] <= 1.0
    assert (tmp_path / "sweep" / "best-run" / "model.keras").is_file()
    assert all(float(row["seconds"]) > 0 for row in rows)

    # Rerun on the same folder, as after an interruption: Tune's record is restored, the finished
    # trials are kept (no new trial folders), and the same choice is written again.
    experiment = tmp_path / "sweep" / "tune" / "sweep"
    trial_dirs = sorted(path.name for path in experiment.iterdir() if path.is_dir())
    (tmp_path / "sweep" / "best.json").unlink()
    again = run_sweep(tmp_path / "sweep", base, [parse_search("lr=1e-3,3e-3")], trials=2, data=data)
    assert sorted(path.name for path in experiment.iterdir() if path.is_dir()) == trial_dirs
    assert again["validation_accuracy"] == best["validation_accuracy"]
    assert again["params"] == best["params"]


def test_a_folder_without_a_sweep_is_refused(ray_session, data, tmp_path):
    from digitnet.jobs.sweep import SweepError, parse_search, run_sweep
    from digitnet.training.config import TrainConfig

    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "mine.txt").write_text("keep")
    with pytest.raises(SweepError, match="holds no sweep to continue"):
        run_sweep(tmp_path / "sweep", TrainConfig(epochs=1), [parse_search("lr=1e-3")], trials=1, data=data)


def _kill_when_paused(pid_file: Path, timeout: float = 120) -> int:
    """SIGKILL the worker that wrote pid_file (waiting for it to appear); its PID."""
    import signal
    import time

    deadline = time.monotonic() + timeout
    while not pid_file.is_file():
        assert time.monotonic() < deadline, f"no task wrote {pid_file}"
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGKILL)
    return pid


def _assert_same_weights(path_a: Path, path_b: Path) -> None:
    import keras

    mine = keras.saving.load_model(path_a, compile=False)
    theirs = keras.saving.load_model(path_b, compile=False)
    assert len(mine.weights) == len(theirs.weights) > 0
    for a, b in zip(mine.weights, theirs.weights):
        assert np.array_equal(np.asarray(a), np.asarray(b)), a.path


def test_a_worker_killed_mid_member_is_retried_to_the_same_weights(ray_session, kill_dir, data, tmp_path):
    import threading

    from digitnet.training import loop

    train_args = ("--epochs", "2", "--lr", "1e-3")
    directory = tmp_path / "ensemble"
    manifest = _new_ensemble(directory, members=1, train_args=train_args)
    (kill_dir / "member-00.armed").touch()  # its first task stops after epoch 1 and waits
    killed = []
    killer = threading.Thread(target=lambda: killed.append(_kill_when_paused(kill_dir / "member-00.pid")))
    killer.start()
    lines = []
    lost = cluster.train_members_on_ray(
        directory, manifest, member_config=member_config, data=data, report=lines.append
    )
    killer.join()
    assert lost == [] and "member-00: done" in lines and len(killed) == 1
    local = tmp_path / "local"
    loop.train(member_config(manifest.members[0], train_args), local, data)
    _assert_same_weights(directory / "member-00" / "model.keras", local / "model.keras")


def test_a_member_started_on_shared_storage_is_resumed_not_restarted(ray_session, data, tmp_path):
    from digitnet.training import loop

    train_args = ("--epochs", "2", "--lr", "1e-3")
    directory, shared = tmp_path / "ensemble", tmp_path / "shared"
    manifest = _new_ensemble(directory, members=1, train_args=train_args)
    config = member_config(manifest.members[0], train_args)
    partial = shared / "ensemble" / "member-00"

    def stop_after_first_epoch(_row):
        raise KeyboardInterrupt  # as Ctrl+C: a checkpoint is saved

    with pytest.raises(loop.TrainingInterrupted):
        loop.train(config, partial, data, on_epoch=stop_after_first_epoch)
    lines = []
    lost = cluster.train_members_on_ray(
        directory, manifest, member_config=member_config, data=data, shared_dir=shared, report=lines.append
    )
    assert lost == [] and "member-00: done" in lines
    assert any(line.startswith("member-00: resuming from") and "iteration 12 of 24" in line for line in lines)
    assert not partial.exists()  # published, so the shared copy is gone
    loop.train(config, tmp_path / "local", data)
    _assert_same_weights(directory / "member-00" / "model.keras", tmp_path / "local" / "model.keras")
