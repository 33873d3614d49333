import json

import pytest

from digitnet.training.config import ConfigError, TrainConfig, config_to_json, load_config


def test_defaults_are_the_tutorial_recipe():
    config = TrainConfig()
    assert (config.arch, config.batch_size, config.learning_rate, config.dropout) == ("seed", 50, 1e-4, 0.5)
    assert config.adam_epsilon == 1e-8
    assert config.steps_per_epoch(55_000) == 1_100
    assert config.resolved_epochs(55_000) == 18  # 20,000 goal iterations -> 18 whole epochs


def test_epochs_win_over_goal_iterations():
    assert TrainConfig(epochs=3, goal_iterations=50_000).resolved_epochs(55_000) == 3
    assert TrainConfig(goal_iterations=10).resolved_epochs(55_000) == 1  # never zero epochs


@pytest.mark.parametrize(
    "change",
    [
        {"batch_size": 0},
        {"learning_rate": 0.0},
        {"dropout": 1.0},
        {"dropout": -0.1},
        {"epochs": 0},
        {"goal_iterations": -5},
    ],
)
def test_invalid_values_are_rejected(change):
    with pytest.raises(ConfigError):
        TrainConfig(**change).validate()


def test_batch_larger_than_training_set_is_an_error():
    with pytest.raises(ConfigError, match="larger than"):
        TrainConfig(batch_size=100).steps_per_epoch(60)


def test_round_trip_through_json(tmp_path):
    config = TrainConfig(arch="expert", epochs=2, seed=7, learning_rate=3e-4)
    path = tmp_path / "config.json"
    path.write_bytes(config_to_json(config, {"epochs": 2}))
    assert load_config(path) == config


def test_unknown_keys_fail_loudly(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"config": {"arch": "seed", "warp_drive": 9}}')
    with pytest.raises(ConfigError, match="warp_drive"):
        load_config(path)


def test_augmentation_ranges_are_validated_only_when_augmenting():
    TrainConfig(rotate_degrees=-5).validate()  # off: the ranges are not used
    with pytest.raises(ConfigError, match="rotate"):
        TrainConfig(augment=True, rotate_degrees=-5).validate()
    assert TrainConfig().affine_ranges() is None
    assert TrainConfig(augment=True, zoom_fraction=0.2).affine_ranges().zoom_fraction == 0.2


def test_strong_recipe_and_flags_on_top():
    from digitnet.training.config import recipe_config

    strong = recipe_config("strong")
    assert (strong.arch, strong.schedule, strong.augment) == ("lean", "one-cycle", True)
    assert strong.label_smoothing > 0
    assert recipe_config("strong", batch_size=64, seed=3).batch_size == 64
    assert recipe_config("strong", dropout=None).dropout == strong.dropout  # None: not given
    assert recipe_config("tutorial") == TrainConfig()
    # --iterations given: it replaces the recipe's epochs rather than being silently ignored.
    assert recipe_config("strong", goal_iterations=1000).epochs is None
    with pytest.raises(ConfigError, match="unknown recipe 'turbo'"):
        recipe_config("turbo")


@pytest.mark.parametrize(
    "change, words",
    [
        ({"schedule": "cyclic"}, "schedule"),
        ({"label_smoothing": 1.0}, "label smoothing"),
        ({"label_smoothing": -0.1}, "label smoothing"),
    ],
)
def test_schedule_and_label_smoothing_are_validated(change, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(**change).validate()


STYLE_DEFAULTS = {
    "elastic_alpha": 0.0,
    "elastic_sigma": 4.0,
    "stroke_pixels": 0.0,
    "blur_sigma": 0.0,
    "low_res_probability": 0.0,
    "ink_fraction": 0.0,
    "occlusion_fraction": 0.0,
}


def test_style_augmentation_is_off_by_default_and_only_used_when_augmenting():
    config = TrainConfig()
    assert {name: getattr(config, name) for name in STYLE_DEFAULTS} == STYLE_DEFAULTS
    assert config.style_ranges() is None
    assert TrainConfig(augment=True).style_ranges().is_identity()
    style = TrainConfig(
        augment=True,
        elastic_alpha=1.5,
        elastic_sigma=5.0,
        stroke_pixels=1.0,
        blur_sigma=0.8,
        low_res_probability=0.2,
        ink_fraction=0.3,
        occlusion_fraction=0.25,
    ).style_ranges()
    assert (
        style.elastic_alpha,
        style.elastic_sigma,
        style.stroke_pixels,
        style.blur_sigma,
        style.low_res_probability,
        style.ink_fraction,
        style.occlusion_fraction,
    ) == (1.5, 5.0, 1.0, 0.8, 0.2, 0.3, 0.25)
    for recipe in ("tutorial", "strong", "fast"):  # no recipe changes behaviour by itself
        from digitnet.training.config import recipe_config

        ranges = recipe_config(recipe).style_ranges()
        assert ranges is None or ranges.is_identity()


@pytest.mark.parametrize(
    "change",
    [
        {"elastic_alpha": -1.0},
        {"elastic_alpha": float("nan")},
        {"elastic_sigma": 0.0},
        {"stroke_pixels": -0.5},
        {"stroke_pixels": 3.0},
        {"blur_sigma": float("inf")},
        {"low_res_probability": 1.5},
        {"ink_fraction": -0.1},
        {"occlusion_fraction": float("nan")},
    ],
)
def test_style_ranges_are_validated_when_augmenting(change):
    TrainConfig(**change).validate()  # off: the ranges are not used
    with pytest.raises(ConfigError, match=next(iter(change))):
        TrainConfig(augment=True, **change).validate()


def test_config_json_of_a_run_from_before_style_augmentation_still_loads(tmp_path):
    old = TrainConfig(augment=True, epochs=2).to_dict()
    for name in STYLE_DEFAULTS:
        del old[name]
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": old}))
    loaded = load_config(path)
    assert loaded == TrainConfig(augment=True, epochs=2)
    assert loaded.style_ranges().is_identity()
    styled = TrainConfig(augment=True, elastic_alpha=1.5, occlusion_fraction=0.3)
    path.write_bytes(config_to_json(styled))
    assert load_config(path) == styled


def test_config_json_with_the_retired_validation_size_still_loads(tmp_path):
    # validation_size was saved in every run but never read (the split is data.VALIDATION_SIZE).
    old = {**TrainConfig(epochs=2).to_dict(), "validation_size": 5000}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": old}))
    assert load_config(path) == TrainConfig(epochs=2)
    assert "validation_size" not in json.loads(config_to_json(TrainConfig()))["config"]
