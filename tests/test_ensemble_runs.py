"""Ensemble directories: a manifest, member runs, reload and evaluation, and clear errors."""

import json

import numpy as np
import pytest

from digitnet import layout
from digitnet.jobs import ensemble as er
from digitnet.jobs.evaluate import ensemble_accuracies
from digitnet.reading import ensemble_dir as ed
from digitnet.reading.ensemble_rules import UnknownRuleError
from digitnet.reading.predict import ProbabilityModel
from digitnet.training import loop
from digitnet.training.config import TrainConfig
from digitnet.training.metrics import accuracy

TINY = dict(batch_size=50, learning_rate=1e-3, train_eval_size=200, steps_per_call=4, epochs=1)


def _train_ensemble(directory, data, members=2):
    manifest = ed.Manifest(ed.plan_members(members, ["seed"], base_seed=10))
    ed.create_ensemble(directory, manifest)
    for member in manifest.members:
        loop.train(TrainConfig(arch=member.arch, seed=member.seed, **TINY), directory / member.name, data)
    return manifest


def test_plan_gives_distinct_seeds_and_round_robin_archs():
    members = ed.plan_members(3, ["seed", "expert"], base_seed=5)
    assert [(m.name, m.arch, m.seed) for m in members] == [
        ("member-00", "seed", 5),
        ("member-01", "expert", 6),
        ("member-02", "seed", 7),
    ]
    with pytest.raises(ed.EnsembleError):
        ed.plan_members(0, ["seed"])


def test_member_commands_train_new_members_and_resume_started_ones(tmp_path):
    member = ed.Member("member-00", "seed", 3)
    assert er.member_command(tmp_path, member, ("--epochs", "2")) == [
        "train",
        "--arch",
        "seed",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "member-00"),
        "--epochs",
        "2",
    ]
    (tmp_path / "member-00").mkdir()
    (tmp_path / "member-00" / "config.json").write_text("{}")
    assert ed.member_state(tmp_path, member) == "started"
    assert er.member_command(tmp_path, member, ()) == ["train", "--resume", str(tmp_path / "member-00")]


def test_tiny_ensemble_trains_saves_reloads_and_evaluates(tmp_path, tiny_mnist):
    directory = tmp_path / "ensemble"
    manifest = _train_ensemble(directory, tiny_mnist)
    assert ed.read_manifest(directory) == manifest
    assert all(ed.member_state(directory, m) == "done" for m in manifest.members)

    model = ProbabilityModel(directory)
    probabilities = model.member_probabilities(tiny_mnist.test.images)
    assert probabilities.shape == (2, 200, 10)
    np.testing.assert_allclose(probabilities.sum(axis=2), 1.0, rtol=1e-5)
    report = ensemble_accuracies(probabilities, tiny_mnist.test.labels)
    single = ProbabilityModel(directory / "member-00")
    assert report["members"][0] == accuracy(single.predict(tiny_mnist.test.images)[0], tiny_mnist.test.labels)
    assert set(report["rules"]) == {"mean", "most_confident", "vote"}
    assert all(0.0 <= value <= 1.0 for value in report["rules"].values())


def test_missing_member_and_damaged_manifest_are_clear_errors(tmp_path, tiny_mnist):
    directory = tmp_path / "ensemble"
    _train_ensemble(directory, tiny_mnist)
    (directory / "member-01" / "model.keras").unlink()
    with pytest.raises(ed.EnsembleError, match="member-01"):
        ProbabilityModel(directory)
    (directory / layout.MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ed.EnsembleError, match="damaged"):
        ed.read_manifest(directory)


def test_members_with_different_input_shapes_cannot_vote(tmp_path, tiny_mnist):
    import keras

    directory = tmp_path / "ensemble"
    _train_ensemble(directory, tiny_mnist)
    odd = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    odd.save(directory / "member-01" / "model.keras")
    with pytest.raises(ed.EnsembleError, match="different input shapes"):
        ProbabilityModel(directory)


def test_unknown_rule_and_a_reused_folder_are_refused(tmp_path, tiny_mnist):
    directory = tmp_path / "ensemble"
    _train_ensemble(directory, tiny_mnist, members=1)
    with pytest.raises(UnknownRuleError, match="mean"):
        ProbabilityModel(directory, rule="median")
    with pytest.raises(ed.EnsembleError, match="not empty"):
        ed.create_ensemble(directory, ed.Manifest(ed.plan_members(1, ["seed"])))
    assert json.loads((directory / layout.MANIFEST_FILE).read_text())["members"][0]["seed"] == 10


def test_open_ensemble_plans_a_new_one_and_continues_an_existing_one(tmp_path):
    config = TrainConfig(arch="seed")
    manifest, continued = er.open_ensemble(
        tmp_path / "e",
        members=3,
        archs="seed, lean",
        base_seed=4,
        config=config,
        train_args=["--epochs", "1"],
    )
    assert not continued
    assert [(m.arch, m.seed) for m in manifest.members] == [("seed", 4), ("lean", 5), ("seed", 6)]
    assert ed.read_manifest(tmp_path / "e") == manifest
    again, continued = er.open_ensemble(
        tmp_path / "e", members=1, archs=None, base_seed=0, config=TrainConfig(dropout=2.0), train_args=[]
    )
    assert continued and again == manifest  # its own manifest; today's flags are not even checked
    first, _ = er.open_ensemble(
        tmp_path / "f", members=1, archs=None, base_seed=0, config=TrainConfig(arch="lean"), train_args=[]
    )
    assert first.members[0].arch == "lean"  # no --arch: the config's network


def test_open_ensemble_checks_flags_and_networks_before_creating_anything(tmp_path):
    from digitnet.training.config import ConfigError
    from digitnet.training.networks import UnknownArchError

    with pytest.raises(ConfigError):
        er.open_ensemble(
            tmp_path / "e", members=2, archs=None, base_seed=0, config=TrainConfig(dropout=2.0), train_args=[]
        )
    with pytest.raises(UnknownArchError):
        er.open_ensemble(
            tmp_path / "e",
            members=2,
            archs="seed,resnet9000",
            base_seed=0,
            config=TrainConfig(),
            train_args=[],
        )
    assert not (tmp_path / "e").exists()


def test_train_members_runs_the_pending_ones_as_processes_and_names_the_failures(tmp_path, monkeypatch):
    manifest = ed.Manifest(ed.plan_members(3, ["seed"]))
    ed.create_ensemble(tmp_path, manifest)
    (tmp_path / "member-00").mkdir()
    (tmp_path / "member-00" / "model.keras").write_bytes(b"done")  # already trained
    # Each member's process: `digitnet --help` (succeeds at once) or an unknown command (exit 2).
    monkeypatch.setattr(
        er,
        "member_command",
        lambda directory, member, train_args: (
            ["--help"] if member.name == "member-01" else ["no-such-command"]
        ),
    )
    lines = []
    failed = er.train_members(tmp_path, manifest, jobs=2, report=lines.append)
    assert failed == ["member-02"]
    assert lines[0] == "member-00: already trained"
    assert "member-01: done" in lines and "member-02: failed (exit 2)" in lines
    assert b"usage: digitnet" in (tmp_path / "member-01.log").read_bytes()
    assert not (tmp_path / "member-00.log").exists()
