"""Ensemble directories: a manifest, member runs, reload and evaluation, and clear errors."""

import json

import numpy as np
import pytest

from digitnet import ensemble_runs as er
from digitnet import train
from digitnet.config import TrainConfig
from digitnet.ensemble import UnknownRuleError
from digitnet.evaluate import accuracy, ensemble_accuracies
from digitnet.predict import ProbabilityModel

TINY = dict(batch_size=50, learning_rate=1e-3, train_eval_size=200, steps_per_call=4, epochs=1)


def _train_ensemble(directory, data, members=2):
    manifest = er.Manifest(er.plan_members(members, ["seed"], base_seed=10))
    er.create_ensemble(directory, manifest)
    for member in manifest.members:
        train.train(TrainConfig(arch=member.arch, seed=member.seed, **TINY),
                    directory / member.name, data)
    return manifest


def test_plan_gives_distinct_seeds_and_round_robin_archs():
    members = er.plan_members(3, ["seed", "expert"], base_seed=5)
    assert [(m.name, m.arch, m.seed) for m in members] == [
        ("member-00", "seed", 5), ("member-01", "expert", 6), ("member-02", "seed", 7)]
    with pytest.raises(er.EnsembleError):
        er.plan_members(0, ["seed"])


def test_member_commands_train_new_members_and_resume_started_ones(tmp_path):
    member = er.Member("member-00", "seed", 3)
    assert er.member_command(tmp_path, member, ("--epochs", "2")) == [
        "train", "--arch", "seed", "--seed", "3", "--out", str(tmp_path / "member-00"),
        "--epochs", "2"]
    (tmp_path / "member-00").mkdir()
    (tmp_path / "member-00" / "config.json").write_text("{}")
    assert er.member_state(tmp_path, member) == "started"
    assert er.member_command(tmp_path, member, ()) == [
        "train", "--resume", str(tmp_path / "member-00")]


def test_tiny_ensemble_trains_saves_reloads_and_evaluates(tmp_path, tiny_mnist):
    directory = tmp_path / "ensemble"
    manifest = _train_ensemble(directory, tiny_mnist)
    assert er.read_manifest(directory) == manifest
    assert all(er.member_state(directory, m) == "done" for m in manifest.members)

    model = ProbabilityModel(directory)
    probabilities = model.member_probabilities(tiny_mnist.test.images)
    assert probabilities.shape == (2, 200, 10)
    np.testing.assert_allclose(probabilities.sum(axis=2), 1.0, rtol=1e-5)
    report = ensemble_accuracies(probabilities, tiny_mnist.test.labels)
    single = ProbabilityModel(directory / "member-00")
    assert report["members"][0] == accuracy(single.predict(tiny_mnist.test.images)[0],
                                            tiny_mnist.test.labels)
    assert set(report["rules"]) == {"mean", "most_confident", "vote"}
    assert all(0.0 <= value <= 1.0 for value in report["rules"].values())


def test_missing_member_and_damaged_manifest_are_clear_errors(tmp_path, tiny_mnist):
    directory = tmp_path / "ensemble"
    _train_ensemble(directory, tiny_mnist)
    (directory / "member-01" / "model.keras").unlink()
    with pytest.raises(er.EnsembleError, match="member-01"):
        ProbabilityModel(directory)
    (directory / er.MANIFEST_FILE).write_text("{not json")
    with pytest.raises(er.EnsembleError, match="damaged"):
        er.read_manifest(directory)


def test_members_with_different_input_shapes_cannot_vote(tmp_path, tiny_mnist):
    import keras

    directory = tmp_path / "ensemble"
    _train_ensemble(directory, tiny_mnist)
    odd = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    odd.save(directory / "member-01" / "model.keras")
    with pytest.raises(er.EnsembleError, match="different input shapes"):
        ProbabilityModel(directory)


def test_unknown_rule_and_a_reused_folder_are_refused(tmp_path, tiny_mnist):
    directory = tmp_path / "ensemble"
    _train_ensemble(directory, tiny_mnist, members=1)
    with pytest.raises(UnknownRuleError, match="mean"):
        ProbabilityModel(directory, rule="median")
    with pytest.raises(er.EnsembleError, match="not empty"):
        er.create_ensemble(directory, er.Manifest(er.plan_members(1, ["seed"])))
    assert json.loads((directory / er.MANIFEST_FILE).read_text())["members"][0]["seed"] == 10
