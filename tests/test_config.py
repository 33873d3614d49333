import pytest

from digitnet.config import ConfigError, TrainConfig, config_to_json, load_config


def test_defaults_are_the_tutorial_recipe():
    config = TrainConfig()
    assert (config.arch, config.batch_size, config.learning_rate, config.dropout) == ("seed", 50, 1e-4, 0.5)
    assert config.adam_epsilon == 1e-8
    assert config.steps_per_epoch(55_000) == 1_100
    assert config.resolved_epochs(55_000) == 18  # 20,000 goal iterations -> 18 whole epochs


def test_epochs_win_over_goal_iterations():
    assert TrainConfig(epochs=3, goal_iterations=50_000).resolved_epochs(55_000) == 3
    assert TrainConfig(goal_iterations=10).resolved_epochs(55_000) == 1  # never zero epochs


@pytest.mark.parametrize("change", [{"batch_size": 0}, {"learning_rate": 0.0}, {"dropout": 1.0},
                                    {"dropout": -0.1}, {"epochs": 0}, {"goal_iterations": -5}])
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
    from digitnet.config import recipe_config

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


@pytest.mark.parametrize("change, words", [({"schedule": "cyclic"}, "schedule"),
                                           ({"label_smoothing": 1.0}, "label smoothing"),
                                           ({"label_smoothing": -0.1}, "label smoothing")])
def test_schedule_and_label_smoothing_are_validated(change, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(**change).validate()
