"""Networks, built by pure functions from an architecture name and a config.

Written with Keras 3 layers only, so the same models run on the JAX backend too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import layers

from digitnet.errors import DigitnetError
from digitnet.shapes import INPUT_SHAPE, NUM_CLASSES
from digitnet.training.catalog import DESCRIPTIONS


class UnknownArchError(DigitnetError, KeyError):
    def __str__(self) -> str:
        return (
            f"unknown architecture {self.args[0]!r}; "
            f"choose one of: {', '.join(sorted(ARCHITECTURES))} (see `digitnet models`)"
        )


def _tutorial_filters(seed: int | None) -> keras.initializers.Initializer:
    # tf.truncated_normal(stddev=0.1), as the tutorial initialises its filters.
    return keras.initializers.TruncatedNormal(stddev=0.1, seed=seed)


def _glorot(seed: int | None, offset: int) -> keras.initializers.Initializer:
    return keras.initializers.GlorotUniform(seed=None if seed is None else seed + offset)


def build_seed(dropout: float = 0.5, seed: int | None = None) -> keras.Model:
    """The tutorial's network, exactly: strided convolutions with no bias and no activation."""
    inputs = keras.Input(INPUT_SHAPE, name="images")
    x = layers.Conv2D(
        32,
        5,
        strides=2,
        padding="same",
        use_bias=False,
        kernel_initializer=_tutorial_filters(seed),
        name="convolution",
    )(inputs)
    x = layers.MaxPooling2D(2, strides=2, padding="valid", name="max_pool")(x)
    x = layers.Conv2D(
        64,
        5,
        strides=2,
        padding="same",
        use_bias=False,
        kernel_initializer=_tutorial_filters(None if seed is None else seed + 1),
        name="convolution_2",
    )(x)
    x = layers.MaxPooling2D(2, strides=2, padding="valid", name="max_pool_2")(x)
    x = layers.Flatten(name="flatten")(x)
    # tf.contrib.layers.fully_connected: Glorot-uniform weights, zero bias.
    x = layers.Dense(1024, activation="relu", kernel_initializer=_glorot(seed, 2), name="predict")(x)
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    logits = layers.Dense(NUM_CLASSES, kernel_initializer=_glorot(seed, 3), name="logits")(x)
    return keras.Model(inputs, logits, name="seed")


def build_expert(dropout: float = 0.5, seed: int | None = None) -> keras.Model:
    """TensorFlow's "Deep MNIST for experts": stride-1 ReLU convolutions, where 99.2% comes from."""
    bias = keras.initializers.Constant(0.1)  # the expert tutorial's bias_variable
    inputs = keras.Input(INPUT_SHAPE, name="images")
    x = layers.Conv2D(
        32,
        5,
        padding="same",
        activation="relu",
        bias_initializer=bias,
        kernel_initializer=_tutorial_filters(seed),
        name="convolution",
    )(inputs)
    x = layers.MaxPooling2D(2, padding="same", name="max_pool")(x)
    x = layers.Conv2D(
        64,
        5,
        padding="same",
        activation="relu",
        bias_initializer=bias,
        kernel_initializer=_tutorial_filters(None if seed is None else seed + 1),
        name="convolution_2",
    )(x)
    x = layers.MaxPooling2D(2, padding="same", name="max_pool_2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(
        1024,
        activation="relu",
        bias_initializer=bias,
        kernel_initializer=_tutorial_filters(None if seed is None else seed + 2),
        name="predict",
    )(x)
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    logits = layers.Dense(
        NUM_CLASSES,
        bias_initializer=bias,
        kernel_initializer=_tutorial_filters(None if seed is None else seed + 3),
        name="logits",
    )(x)
    return keras.Model(inputs, logits, name="expert")


def _conv_bn_relu(x, filters: int, size: int, seed: int | None, offset: int, name: str):
    # No bias: batch normalisation's shift does its job.
    x = layers.Conv2D(
        filters,
        size,
        padding="same",
        use_bias=False,
        kernel_initializer=keras.initializers.HeNormal(seed=None if seed is None else seed + offset),
        name=name,
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _lean_stack(widths: tuple[int, int, int], dropout: float, seed: int | None, name: str) -> keras.Model:
    inputs = keras.Input(INPUT_SHAPE, name="images")
    x = _conv_bn_relu(inputs, widths[0], 5, seed, 0, "convolution")
    x = layers.MaxPooling2D(2, name="max_pool")(x)
    x = _conv_bn_relu(x, widths[1], 3, seed, 1, "convolution_2")
    x = layers.MaxPooling2D(2, name="max_pool_2")(x)
    x = _conv_bn_relu(x, widths[2], 3, seed, 2, "convolution_3")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    logits = layers.Dense(NUM_CLASSES, kernel_initializer=_glorot(seed, 3), name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def build_lean(dropout: float = 0.25, seed: int | None = None) -> keras.Model:
    """A small conv-BN-ReLU stack sized for 2 CPU cores: about 4.5 M multiply-adds an image.

    Stride-1 convolutions (as the strongest published MNIST networks use) but only three of them,
    each followed by batch normalisation; two 2x2 pools bring 28x28 down to 7x7 before the logits.
    """
    return _lean_stack((24, 48, 96), dropout, seed, "lean")


def build_wide(dropout: float = 0.25, seed: int | None = None) -> keras.Model:
    """lean with a third more channels (32-64-128): about 7.9 M multiply-adds an image.

    For the read recipe: heavy style augmentation leaves lean short of capacity (its training
    accuracy on augmented batches stays below its validation accuracy).
    """
    return _lean_stack((32, 64, 128), dropout, seed, "wide")


def build_wider(dropout: float = 0.25, seed: int | None = None) -> keras.Model:
    """lean with twice its channels (48-96-192): about 17 M multiply-adds an image, 2.2x wide's.

    Tried for the read recipe with 15% even-form writer digits, in case wide lacked room for them
    (it lost MNIST validation: 99.24 -> 99.06%): wider lost it too (99.10%), so no recipe uses it yet.
    """
    return _lean_stack((48, 96, 192), dropout, seed, "wider")


def build_fast(dropout: float = 0.0, seed: int | None = None) -> keras.Model:
    """A small ReLU CNN for time-to-accuracy: about 2.2 M multiply-adds an image, a third of lean's.

    conv 5x5x24 -> pool -> conv 3x3x32 -> pool -> dense 256 -> 10, the small network the speed
    issue measured in PyTorch (99.0% after one epoch there).
    """
    inputs = keras.Input(INPUT_SHAPE, name="images")
    x = layers.Conv2D(
        24, 5, padding="same", activation="relu", kernel_initializer=_glorot(seed, 0), name="convolution"
    )(inputs)
    x = layers.MaxPooling2D(2, name="max_pool")(x)
    x = layers.Conv2D(
        32, 3, padding="same", activation="relu", kernel_initializer=_glorot(seed, 1), name="convolution_2"
    )(x)
    x = layers.MaxPooling2D(2, name="max_pool_2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, activation="relu", kernel_initializer=_glorot(seed, 2), name="predict")(x)
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    logits = layers.Dense(NUM_CLASSES, kernel_initializer=_glorot(seed, 3), name="logits")(x)
    return keras.Model(inputs, logits, name="fast")


@dataclass(frozen=True)
class Architecture:
    build: Callable[..., keras.Model]
    description: str


# Open for more: a later network registers here (and in training.catalog) and every command can use it.
ARCHITECTURES: dict[str, Architecture] = {
    name: Architecture(build, DESCRIPTIONS[name])
    for name, build in {
        "seed": build_seed,
        "expert": build_expert,
        "lean": build_lean,
        "wide": build_wide,
        "wider": build_wider,
        "fast": build_fast,
    }.items()
}


def check_arch(arch: str) -> None:
    """UnknownArchError, naming the choices, unless `arch` is a registered network."""
    if arch not in ARCHITECTURES:
        raise UnknownArchError(arch)


def build_model(arch: str, dropout: float | None = None, seed: int | None = None) -> keras.Model:
    """A fresh, untrained network; `seed` fixes its initial weights and its dropout masks.

    dropout: the fraction dropped; None keeps the architecture's own default (its builder's).
    Training always passes the run's TrainConfig.dropout.
    """
    try:
        architecture = ARCHITECTURES[arch]
    except KeyError:
        raise UnknownArchError(arch) from None
    if dropout is None:
        return architecture.build(seed=seed)
    return architecture.build(dropout=dropout, seed=seed)


@dataclass(frozen=True)
class LayerSummary:
    name: str
    kind: str
    output_shape: tuple
    parameters: int


def summarize(model: keras.Model) -> list[LayerSummary]:
    """Each layer's output shape and parameter count, as the tutorial's print statements show."""
    return [
        LayerSummary(layer.name, type(layer).__name__, tuple(layer.output.shape), layer.count_params())
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
