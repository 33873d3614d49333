"""Every TrainConfig field, one source: settable from the command line (its flag comes from the
field's metadata), recorded in config.json, and the same in an ensemble member (a local process
and a Ray task) and in a sweep trial. A field added to TrainConfig fails here until it is listed."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest

from digitnet import cli
from digitnet.jobs import ensemble as er
from digitnet.jobs.members import member_train_config
from digitnet.jobs.sweep import parse_search, trial_config
from digitnet.reading import ensemble_dir as ed
from digitnet.training import runs
from digitnet.training.config import TrainConfig
from digitnet.training.flags import config_fields, config_from_args, field_named, flag_of

# A valid value for every field, none of them its default.
VALUES = {
    "arch": "lean",
    "goal_iterations": 1_234,
    "epochs": 3,
    "batch_size": 64,
    "learning_rate": 2e-3,
    "schedule": "one-cycle",
    "label_smoothing": 0.05,
    "adam_epsilon": 1e-7,
    "adam_beta_1": 0.8,
    "adam_beta_2": 0.99,
    "dropout": 0.3,
    "seed": 7,
    "train_eval_size": 500,
    "eval_batch_size": 250,
    "steps_per_call": 10,
    "augment": True,
    "rotate_degrees": 8.0,
    "shift_fraction": 0.05,
    "zoom_fraction": 0.05,
    "shear_degrees": 5.0,
    "elastic_alpha": 1.0,
    "elastic_sigma": 3.0,
    "stroke_pixels": 0.5,
    "blur_sigma": 0.5,
    "low_res_probability": 0.1,
    "ink_fraction": 0.2,
    "occlusion_fraction": 0.1,
    "synthetic_fraction": 0.2,
    "writer_fraction": 0.1,
    "writer_forms": "even",
    "look_alike_share": 0.5,
    "synthetic_draws": 2,
}
# --iterations and --epochs exclude each other on a command line: each is set in one case.
LENGTH = {"epochs": "goal_iterations", "iterations": "epochs"}


def test_every_field_is_listed_with_a_value_that_is_not_its_default():
    fields = {item.name: item.default for item in dataclasses.fields(TrainConfig)}
    assert set(VALUES) == set(fields)
    assert [name for name, value in VALUES.items() if value == fields[name]] == []
    TrainConfig(**VALUES).validate()


def _case(length: str, skip: tuple[str, ...] = ()) -> tuple[TrainConfig, list[str]]:
    """(the config asked for, the command-line flags that ask for it) with one length field left out."""
    left_out = LENGTH[length]
    values = {**VALUES, left_out: getattr(TrainConfig(), left_out)}
    flags = []
    for item in config_fields():
        value = values[item.name]
        if item.name == left_out or item.name in skip:
            continue
        flags += [flag_of(item)] if value is True else [flag_of(item), str(value)]
    return TrainConfig(**values), flags


@pytest.fixture(params=sorted(LENGTH))
def length(request) -> str:
    return request.param


def test_every_field_is_settable_from_the_command_line_and_recorded_in_config_json(length, tmp_path):
    expected, flags = _case(length)
    config = config_from_args(cli.build_parser().parse_args(["train", *flags]))
    assert config == expected
    runs.create_run(tmp_path / "run", config)  # what `digitnet train` writes before training
    assert runs.read_run_config(tmp_path / "run") == expected
    again = cli.build_parser().parse_args(["train", "--config", str(tmp_path / "run" / "config.json")])
    assert config_from_args(again) == expected  # a run's config.json starts another run


def _ensemble(length: str, tmp_path) -> tuple[TrainConfig, ed.Manifest]:
    expected, flags = _case(length, skip=("arch", "seed"))
    argv = ["ensemble", "train", "--out", str(tmp_path / "e"), "--arch", "lean", "--seed", "7", *flags]
    args = cli.build_parser().parse_args(argv)
    manifest, _ = er.open_ensemble(
        args.out,
        members=2,
        archs=args.arch,
        base_seed=args.seed,
        config=config_from_args(args, arch=None, seed=None),
    )
    assert ed.read_manifest(args.out) == manifest  # the configs are in manifest.json
    return expected, manifest


def test_every_field_reaches_a_local_ensemble_member(length, tmp_path, monkeypatch):
    expected, manifest = _ensemble(length, tmp_path)
    for index, member in enumerate(manifest.members):
        command, stdin = er.member_command(tmp_path / "e", member)  # the member's `digitnet train`
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin.decode()))
        config = config_from_args(cli.build_parser().parse_args(command))
        assert config == dataclasses.replace(expected, seed=7 + index)


def test_every_field_reaches_a_ray_member(length, tmp_path):
    expected, manifest = _ensemble(length, tmp_path)
    for index, member in enumerate(manifest.members):  # what cluster.train_members_on_ray sends
        assert member_train_config(member) == dataclasses.replace(expected, seed=7 + index)


def test_every_field_reaches_a_sweep_trial(length, tmp_path):
    expected, flags = _case(length)
    argv = ["sweep", "--out", str(tmp_path / "s"), "--search", "dropout=0.1,0.2", *flags]
    args = cli.build_parser().parse_args(argv)
    base = config_from_args(args)
    spec = parse_search(args.search[0])
    assert trial_config(base, {spec.field: 0.1}) == dataclasses.replace(expected, dropout=0.1)


def test_a_field_is_named_by_its_name_or_its_flag():
    assert field_named("lr") == field_named("learning_rate") == field_named("--lr") == "learning_rate"
    assert field_named("batch-size") == "batch_size" and field_named("colour") is None
    assert json.dumps([flag_of(item) for item in config_fields("length")]) == '["--iterations", "--epochs"]'
