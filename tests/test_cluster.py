"""Ensemble members trained as Ray tasks: the weights of local (--jobs) members, an ordinary
ensemble directory, reruns that skip finished members, and one-line failures that leave nothing
behind.

One local Ray cluster (the machine's CPUs, no dashboard) serves the whole module; data is the tiny
synthetic set, also for the local members (`digitnet train` processes of tests/synthetic_cli.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from conftest import synthetic_mnist  # noqa: E402
from digitnet.errors import DigitnetError  # noqa: E402
from digitnet.jobs import cluster  # noqa: E402
from digitnet.jobs import ensemble as er  # noqa: E402
from digitnet.jobs.members import local_member_cpus, member_train_config, with_configs  # noqa: E402
from digitnet.reading import ensemble_dir as ed  # noqa: E402
from digitnet.training.config import TrainConfig, recipe_config  # noqa: E402

SOURCE_ROOT = str(Path(cluster.__file__).resolve().parents[2])
SYNTHETIC_CLI = [sys.executable, str(Path(__file__).with_name("synthetic_cli.py"))]
ONE_EPOCH = TrainConfig(epochs=1, learning_rate=1e-3)
TWO_EPOCHS = TrainConfig(epochs=2, learning_rate=1e-3)


@pytest.fixture(scope="module")
def kill_dir(tmp_path_factory) -> Path:
    """Where a test arms a member to be killed mid-run (cluster.KILL_HOOK_ENV)."""
    return tmp_path_factory.mktemp("kill")


@pytest.fixture(scope="module")
def ray_session(kill_dir):
    env = {"PYTHONPATH": SOURCE_ROOT, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env[cluster.KILL_HOOK_ENV] = str(kill_dir)
    ray.init(
        num_cpus=max(2, os.cpu_count() or 1),  # room for a member with all the cores (--jobs 1)
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data():
    return synthetic_mnist()


def _new_ensemble(directory: Path, members: int = 2, config: TrainConfig = ONE_EPOCH) -> ed.Manifest:
    manifest = ed.Manifest(ed.plan_members(members, ["seed"], 0, config.to_dict()))
    ed.create_ensemble(directory, manifest)
    return manifest


def _train_locally(directory: Path, jobs: int) -> None:
    """Train the ensemble's members as `digitnet train` processes (on the synthetic digits)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(er, "DIGITNET", SYNTHETIC_CLI)
        assert er.train_members(directory, ed.read_manifest(directory), jobs=jobs) == []


@pytest.fixture(scope="module")
def local_ensemble(tmp_path_factory) -> Path:
    """Two members trained as local processes, two at a time (--jobs 2)."""
    directory = tmp_path_factory.mktemp("local") / "ensemble"
    _new_ensemble(directory)
    _train_locally(directory, jobs=2)
    return directory


@pytest.fixture(scope="module")
def local_two_epochs(tmp_path_factory) -> Path:
    """One member of two epochs trained as a local process (--jobs 1: all the cores)."""
    directory = tmp_path_factory.mktemp("local2") / "ensemble"
    _new_ensemble(directory, members=1, config=TWO_EPOCHS)
    _train_locally(directory, jobs=1)
    return directory


@pytest.fixture(scope="module")
def ray_ensemble(ray_session, data, tmp_path_factory) -> Path:
    """local_ensemble's members as Ray tasks, each with the cores a --jobs 2 member gets."""
    directory = tmp_path_factory.mktemp("ray") / "ensemble"
    manifest = _new_ensemble(directory)
    lines = []
    lost = cluster.train_members_on_ray(
        directory, manifest, cpus_per_member=local_member_cpus(2), data=data, report=lines.append
    )
    assert lost == []
    assert "member-00: done" in lines and "member-01: done" in lines
    return directory


def test_an_old_manifests_train_flags_become_what_digitnet_train_builds():
    old = ed.Manifest(ed.plan_members(2, ["seed"], 0), ("--epochs", "1", "--lr", "1e-3"))
    members = with_configs(old).members
    assert member_train_config(members[1]) == recipe_config(
        "tutorial", arch="seed", seed=1, epochs=1, learning_rate=1e-3
    )


def test_an_old_manifests_bad_flags_fail_in_one_line():
    old = ed.Manifest(ed.plan_members(1, ["seed"], 0), ("--no-such-flag",))
    with pytest.raises(DigitnetError, match="member-00: the manifest's train flags") as caught:
        with_configs(old)
    assert "\n" not in str(caught.value)


def test_ray_members_have_the_weights_of_local_members(ray_ensemble, local_ensemble):
    for member in ("member-00", "member-01"):
        _assert_same_weights(ray_ensemble / member / "model.keras", local_ensemble / member / "model.keras")


def test_ray_ensemble_is_an_ordinary_ensemble(ray_ensemble, data):
    from digitnet.jobs.keras_models import keras_probability_model
    from digitnet.reading.model_source import ModelSource

    source = ModelSource.from_path(ray_ensemble)
    assert source.kind == "ensemble" and len(source.model_files) == 2
    for member in ("member-00", "member-01"):
        run = ray_ensemble / member
        assert (run / "config.json").is_file() and not (run / "checkpoints").exists()
    network = keras_probability_model(source)
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
        cluster.train_members_on_ray(ray_ensemble, ed.read_manifest(ray_ensemble), report=lines.append) == []
    )
    assert lines == ["member-00: already trained", "member-01: already trained"]


def test_bad_config_fails_in_one_line_before_anything_is_written(ray_session, data, tmp_path):
    directory = tmp_path / "ensemble"
    manifest = _new_ensemble(directory, config=TrainConfig(learning_rate=-1.0))
    with pytest.raises(DigitnetError) as caught:
        cluster.train_members_on_ray(directory, manifest, data=data)
    assert "learning rate" in str(caught.value) and "\n" not in str(caught.value)
    assert sorted(os.listdir(directory)) == ["manifest.json"]


def test_a_member_failing_on_the_worker_fails_in_one_line(ray_session, tmp_path):
    directory = tmp_path / "ensemble"
    manifest = _new_ensemble(directory, members=1)
    missing = tmp_path / "no-mnist-here"
    with pytest.raises(cluster.ClusterError, match="member-00 failed") as caught:
        cluster.train_members_on_ray(directory, manifest, data_dir=missing)
    assert "\n" not in str(caught.value)
    assert sorted(os.listdir(directory)) == ["manifest.json"]


def test_cli_ray_flag_trains_the_members_on_ray(tmp_path, monkeypatch, capsys):
    from digitnet import cli

    calls = []

    def fake_train(directory, manifest, address, cpus, gpus, *, data_dir, shared_dir, report):
        calls.append((address, cpus, gpus, shared_dir))
        return []

    monkeypatch.setattr(cluster, "train_members_on_ray", fake_train)
    monkeypatch.setattr(er, "train_members", lambda *a, **k: pytest.fail("trained locally"))
    out = tmp_path / "ensemble"
    argv = ["ensemble", "train", "--members", "2", "--epochs", "1", "--out", str(out), "--ray"]
    assert cli.main([*argv, "--gpus-per-member", "0.5"]) == 0
    assert calls == [("local", 1, 0.5, None)]
    assert cli.main([*argv[:-1], "--ray", "ray://head:10001", "--cpus-per-member", "2"]) == 0
    assert calls[-1][:3] == ("ray://head:10001", 2, 0)
    assert cli.main([*argv, "--shared-dir", str(tmp_path / "shared")]) == 0
    assert calls[-1][3] == tmp_path / "shared"
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
    specs = [parse_search("lr=1e-3,3e-3")]
    best = run_sweep(tmp_path / "sweep", base, specs, samples=2, load_data=lambda: data)
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
    again = run_sweep(tmp_path / "sweep", base, specs, samples=2, load_data=lambda: data)
    assert sorted(path.name for path in experiment.iterdir() if path.is_dir()) == trial_dirs
    assert again["validation_accuracy"] == best["validation_accuracy"]
    assert again["params"] == best["params"]


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


def test_a_worker_killed_mid_member_is_retried_to_the_same_weights(
    ray_session, kill_dir, data, local_two_epochs, tmp_path
):
    import threading

    directory = tmp_path / "ensemble"
    manifest = _new_ensemble(directory, members=1, config=TWO_EPOCHS)
    (kill_dir / "member-00.armed").touch()  # its first task stops after epoch 1 and waits
    killed = []
    killer = threading.Thread(target=lambda: killed.append(_kill_when_paused(kill_dir / "member-00.pid")))
    killer.start()
    lines = []
    lost = cluster.train_members_on_ray(
        directory, manifest, cpus_per_member=local_member_cpus(1), data=data, report=lines.append
    )
    killer.join()
    assert lost == [] and "member-00: done" in lines and len(killed) == 1
    local = local_two_epochs / "member-00" / "model.keras"
    _assert_same_weights(directory / "member-00" / "model.keras", local)


def test_a_member_started_on_shared_storage_is_resumed_not_restarted(
    ray_session, data, local_two_epochs, tmp_path
):
    from digitnet.training import loop

    directory, shared = tmp_path / "ensemble", tmp_path / "shared"
    manifest = _new_ensemble(directory, members=1, config=TWO_EPOCHS)
    config = member_train_config(manifest.members[0])
    partial = shared / "ensemble" / "member-00"

    def stop_after_first_epoch(_row):
        raise KeyboardInterrupt  # as Ctrl+C: a checkpoint is saved

    with pytest.raises(loop.TrainingInterrupted):
        loop.train(config, partial, data, on_epoch=stop_after_first_epoch)
    lines = []
    lost = cluster.train_members_on_ray(
        directory,
        manifest,
        cpus_per_member=local_member_cpus(1),
        data=data,
        shared_dir=shared,
        report=lines.append,
    )
    assert lost == [] and "member-00: done" in lines
    assert any(line.startswith("member-00: resuming from") and "iteration 12 of 24" in line for line in lines)
    assert not partial.exists()  # published, so the shared copy is gone
    local = local_two_epochs / "member-00" / "model.keras"
    _assert_same_weights(directory / "member-00" / "model.keras", local)
