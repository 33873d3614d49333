"""Shared fixtures: a tiny seeded synthetic digit set, and the real MNIST data for slow tests."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from digitnet.data.mnist import DataLocation, Mnist, Split  # noqa: E402


def synthetic_split(size: int, seed: int) -> Split:
    """Each digit d is a bright bar at rows 2d..2d+5 over faint noise: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size).astype(np.int32)
    images = rng.random((size, 28, 28, 1), dtype=np.float32) * 0.2
    for index, label in enumerate(labels):
        images[index, 2 * label : 2 * label + 6, 4:24, 0] = 1.0
    return Split(images, labels)


def synthetic_mnist(train_size: int = 600, seed: int = 0) -> Mnist:
    return Mnist(
        synthetic_split(train_size, seed),
        synthetic_split(200, seed + 1),
        synthetic_split(200, seed + 2),
        DataLocation(Path("/synthetic"), "synthetic"),
    )


@pytest.fixture
def tiny_mnist() -> Mnist:
    return synthetic_mnist()


@pytest.fixture(scope="session")
def real_mnist() -> Mnist:
    """The real data, from DIGITNET_DATA_DIR or the cache that `make test` fills first."""
    from digitnet.data.mnist import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A run directory with a seed network trained briefly on the synthetic set (seconds)."""
    from digitnet.training.config import TrainConfig
    from digitnet.training.loop import train

    run_dir = tmp_path_factory.mktemp("tiny-model") / "run"
    train(TrainConfig(epochs=2, seed=0, learning_rate=1e-3, train_eval_size=200), run_dir, synthetic_mnist())
    return run_dir


@pytest.fixture(scope="session")
def real_model_dir(real_mnist, tmp_path_factory) -> Path:
    """A run directory with the seed network after 3 epochs on real MNIST (about 97.5%; ~40 s)."""
    from digitnet.training.config import TrainConfig
    from digitnet.training.loop import train

    run_dir = tmp_path_factory.mktemp("real-model") / "run"
    train(TrainConfig(epochs=3, seed=0), run_dir, real_mnist)
    return run_dir
